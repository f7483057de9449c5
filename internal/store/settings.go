package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/idsync/idsync/internal/model"
)

type settingRow struct {
	Key   string `gorm:"primaryKey"`
	Value string
}

func (settingRow) TableName() string { return "settings" }

// settingsToMap lists s as the key/value rows stored (InstalledAt aside:
// it is written once, by the first migration).
func settingsToMap(s model.Settings) map[string]string {
	b := strconv.FormatBool
	i := strconv.Itoa
	return map[string]string{
		"sync_enterprise_groups_to_devices": b(s.SyncEnterpriseGroupsToDevices),
		"sync_devices_to_users":             b(s.SyncDevicesToUsers),
		"auto_profile_sync":                 b(s.AutoProfileSync),
		"refresh_interval_hours":            i(s.RefreshIntervalHours),
		"refresh_start_time":                s.RefreshStartTime,
		"time_zone":                         s.TimeZone,
		"provisioning_enabled":              b(s.ProvisioningEnabled),
		"deprovisioning_enabled":            b(s.DeprovisioningEnabled),
		"deprovision_action":                string(s.DeprovisionAction),
		"service_group_membership":          string(s.ServiceGroupMembership),
		"delete_threshold_count":            i(s.DeleteThresholdCount),
		"delete_threshold_percent":          i(s.DeleteThresholdPercent),
		"shrink_threshold_percent":          i(s.ShrinkThresholdPercent),
		"auto_product_sync":                 b(s.AutoProductSync),
		"run_retention_days":                i(s.RunRetentionDays),
	}
}

// settingsFromRows overlays stored rows on the defaults; a row that does
// not parse keeps the default (and is logged by the caller).
func settingsFromRows(rows []settingRow) (model.Settings, []string) {
	s := model.DefaultSettings()
	var bad []string
	for _, r := range rows {
		ok := true
		pb := func(dst *bool) {
			v, err := strconv.ParseBool(r.Value)
			if err != nil {
				ok = false
				return
			}
			*dst = v
		}
		pi := func(dst *int) {
			v, err := strconv.Atoi(r.Value)
			if err != nil {
				ok = false
				return
			}
			*dst = v
		}
		switch r.Key {
		case "sync_enterprise_groups_to_devices":
			pb(&s.SyncEnterpriseGroupsToDevices)
		case "sync_devices_to_users":
			pb(&s.SyncDevicesToUsers)
		case "auto_profile_sync":
			pb(&s.AutoProfileSync)
		case "refresh_interval_hours":
			pi(&s.RefreshIntervalHours)
		case "refresh_start_time":
			s.RefreshStartTime = r.Value
		case "time_zone":
			s.TimeZone = r.Value
		case "provisioning_enabled":
			pb(&s.ProvisioningEnabled)
		case "deprovisioning_enabled":
			pb(&s.DeprovisioningEnabled)
		case "deprovision_action":
			s.DeprovisionAction = model.DeprovisionAction(r.Value)
		case "service_group_membership":
			s.ServiceGroupMembership = model.MembershipMode(r.Value)
		case "delete_threshold_count":
			pi(&s.DeleteThresholdCount)
		case "delete_threshold_percent":
			pi(&s.DeleteThresholdPercent)
		case "shrink_threshold_percent":
			pi(&s.ShrinkThresholdPercent)
		case "auto_product_sync":
			pb(&s.AutoProductSync)
		case "run_retention_days":
			pi(&s.RunRetentionDays)
		case "installed_at":
			t, err := time.Parse(time.RFC3339, r.Value)
			if err != nil {
				ok = false
			} else {
				s.InstalledAt = t.UTC()
			}
		}
		if !ok {
			bad = append(bad, r.Key)
		}
	}
	return s, bad
}

func loadSettings(tx *gorm.DB) (model.Settings, error) {
	var rows []settingRow
	if err := tx.Find(&rows).Error; err != nil {
		return model.Settings{}, fmt.Errorf("store: load settings: %w", err)
	}
	s, _ := settingsFromRows(rows)
	return s, nil
}

// GetSettings returns the System settings, defaults filled in for any that
// were never stored.
func (s *Store) GetSettings(ctx context.Context) (model.Settings, error) {
	var rows []settingRow
	if err := s.db.WithContext(ctx).Find(&rows).Error; err != nil {
		return model.Settings{}, fmt.Errorf("store: get settings: %w", err)
	}
	st, bad := settingsFromRows(rows)
	if len(bad) > 0 {
		s.log.Warn("unreadable settings kept their defaults", "keys", bad)
	}
	return st, nil
}

// ValidateSettings returns EINVALID with per-field messages (field names are
// the stored keys) when st holds a value the System settings page does not
// allow; nil otherwise.
func ValidateSettings(st model.Settings) error {
	f := fields{}
	for k, msg := range model.ScheduleProblems(st.RefreshIntervalHours, st.RefreshStartTime, st.TimeZone) {
		f.add(k, "%s", msg)
	}
	oneOf(f, "deprovision_action", st.DeprovisionAction, model.DeprovisionDelete, model.DeprovisionDisable, model.DeprovisionReport)
	oneOf(f, "service_group_membership", st.ServiceGroupMembership, model.MembershipSingle, model.MembershipMultiple)
	if st.DeleteThresholdCount < 0 || st.DeleteThresholdCount > 10_000_000 {
		f.add("delete_threshold_count", "must be 0 or more")
	}
	if st.DeleteThresholdPercent < 0 || st.DeleteThresholdPercent > 100 {
		f.add("delete_threshold_percent", "must be between 0 and 100")
	}
	if st.ShrinkThresholdPercent < 0 || st.ShrinkThresholdPercent > 100 {
		f.add("shrink_threshold_percent", "must be between 0 and 100")
	}
	if st.RunRetentionDays < 1 || st.RunRetentionDays > 3650 {
		f.add("run_retention_days", "must be between 1 and 3650")
	}
	return f.err()
}

// UpdateSettings validates st and stores it whole; InstalledAt is ignored.
// The audit entry holds only the settings that changed.
func (s *Store) UpdateSettings(ctx context.Context, st model.Settings) error {
	if err := ValidateSettings(st); err != nil {
		return err
	}
	return s.tx(ctx, func(tx *gorm.DB) error {
		old, err := loadSettings(tx)
		if err != nil {
			return err
		}
		oldMap, newMap := settingsToMap(old), settingsToMap(st)
		before, after := map[string]string{}, map[string]string{}
		rows := make([]settingRow, 0, len(newMap))
		for k, v := range newMap {
			if oldMap[k] != v {
				before[k], after[k] = oldMap[k], v
				rows = append(rows, settingRow{Key: k, Value: v})
			}
		}
		if len(rows) == 0 {
			return nil
		}
		if err := tx.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "key"}}, DoUpdates: clause.AssignmentColumns([]string{"value"})}).
			Create(&rows).Error; err != nil {
			return fmt.Errorf("store: update settings: %w", err)
		}
		return audit(ctx, tx, "update", "settings", 0, fmt.Sprintf("changed %d setting(s)", len(rows)), before, after)
	})
}
