package scheduler

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/idsync/idsync/internal/model"
)

// Metrics are the scheduler's Prometheus collectors. A nil *Metrics
// records nothing.
type Metrics struct {
	lastRun   prometheus.Gauge
	lastDur   prometheus.Gauge
	nextRun   prometheus.Gauge
	leader    prometheus.Gauge
	actions   *prometheus.CounterVec
	failures  prometheus.Counter
	refreshes *prometheus.CounterVec
}

// NewMetrics creates the collectors and registers them with reg. It fails
// when reg already holds collectors of the same names.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		lastRun: prometheus.NewGauge(prometheus.GaugeOpts{Name: "idsync_refresh_last_run_timestamp_seconds",
			Help: "Unix time the last refresh started."}),
		lastDur: prometheus.NewGauge(prometheus.GaugeOpts{Name: "idsync_refresh_last_duration_seconds",
			Help: "How long the last refresh took."}),
		nextRun: prometheus.NewGauge(prometheus.GaugeOpts{Name: "idsync_refresh_next_run_timestamp_seconds",
			Help: "Unix time the next scheduled refresh is due (set by the leader)."}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{Name: "idsync_scheduler_leader",
			Help: "1 while this replica runs the schedule."}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "idsync_refresh_actions_total",
			Help: "Actions counted in refresh runs, by kind."}, []string{"kind"}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{Name: "idsync_refresh_failures_total",
			Help: "Refreshes that failed."}),
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "idsync_refresh_runs_total",
			Help: "Refreshes started, by trigger and final status."}, []string{"trigger", "status"}),
	}
	for _, c := range []prometheus.Collector{m.lastRun, m.lastDur, m.nextRun, m.leader, m.actions, m.failures, m.refreshes} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) setLeader(v bool) {
	if m == nil {
		return
	}
	if v {
		m.leader.Set(1)
	} else {
		m.leader.Set(0)
	}
}

func (m *Metrics) setNext(t time.Time) {
	if m == nil {
		return
	}
	m.nextRun.Set(float64(t.Unix()))
}

func (m *Metrics) observe(st model.ScheduleState, runs []*model.Run, d time.Duration) {
	if m == nil {
		return
	}
	m.lastRun.Set(float64(st.LastRunAt.Unix()))
	m.lastDur.Set(d.Seconds())
	m.refreshes.WithLabelValues(string(st.LastTrigger), string(st.LastStatus)).Inc()
	if st.LastStatus == model.RunFailed {
		m.failures.Inc()
	}
	for _, r := range runs {
		if r == nil {
			continue
		}
		for k, n := range r.Counts {
			if n > 0 {
				m.actions.WithLabelValues(k).Add(float64(n))
			}
		}
	}
}
