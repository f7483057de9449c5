package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/templates/pages"
)

// mappingsView loads everything the mappings page shows.
func (s *Server) mappingsView(c echo.Context) (pages.MappingsView, error) {
	ctx := c.Request().Context()
	v := pages.MappingsView{CSRF: s.csrfToken(c), CanEdit: isAdmin(c)}
	var err error
	if v.Sources, err = s.store.ListSources(ctx); err != nil {
		return v, err
	}
	if v.MissingGroups, err = s.missingGroupNotices(ctx); err != nil {
		return v, err
	}
	if v.ServiceGroups, _, err = s.store.ListServiceGroups(ctx, model.ListQuery{PerPage: 500}); err != nil {
		return v, err
	}
	if v.Groups, err = s.store.ListGroupMappings(ctx); err != nil {
		return v, err
	}
	if v.Provisioning, err = s.store.ListProvisioningMappings(ctx); err != nil {
		return v, err
	}
	v.GroupForm = pages.MappingForm{Nested: true, Priority: "100"}
	v.ProvForm = pages.MappingForm{Nested: true, Priority: "100", AccountType: string(model.AccountDeviceEnabled)}
	return v, nil
}

// showMappingsPage is GET /mappings.
func (s *Server) showMappingsPage(c echo.Context) error {
	v, err := s.mappingsView(c)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, pages.MappingsPage(v))
}

// readMappingForm parses the fields both mapping forms share and checks
// them; the store validates again (and checks uniqueness).
func readMappingForm(c echo.Context) pages.MappingForm {
	f := pages.MappingForm{Errors: map[string]string{}}
	f.SourceID, _ = strconv.ParseInt(c.FormValue("source_id"), 10, 64)
	if f.SourceID < 1 {
		f.Errors["source_id"] = "Choose a directory source."
	}
	f.GroupDN = strings.TrimSpace(c.FormValue("group_dn"))
	if f.GroupDN == "" {
		f.GroupDN = strings.TrimSpace(c.FormValue("group_dn_manual"))
	}
	if f.GroupDN == "" {
		f.Errors["group_dn"] = "Pick a directory group or enter its DN."
	} else if len(f.GroupDN) > 1000 || !strings.Contains(f.GroupDN, "=") {
		f.Errors["group_dn"] = "Enter a distinguished name such as cn=staff,ou=groups,dc=example,dc=org."
	}
	f.Nested = c.FormValue("nested") == "on"
	f.Force = c.FormValue("force") == "on"
	f.Priority = strings.TrimSpace(c.FormValue("priority"))
	if f.Priority == "" {
		f.Priority = "100"
	}
	if p, err := strconv.Atoi(f.Priority); err != nil || p < 0 || p > 100000 {
		f.Errors["priority"] = "Enter a whole number from 0 to 100000."
	}
	return f
}

// mappingFormFailed re-renders the page with the form's errors (422), or
// returns err when it is not a form error.
func (s *Server) mappingFormFailed(c echo.Context, f pages.MappingForm, err error, group bool) error {
	if err != nil {
		fields, msg, other := objFormError(err)
		if other != nil {
			return other
		}
		for k, m := range fields {
			f.Errors[k] = m
		}
		f.Message = msg
	}
	if f.Message == "" {
		f.Message = "Please correct the highlighted fields."
	}
	v, verr := s.mappingsView(c)
	if verr != nil {
		return verr
	}
	if group {
		v.GroupForm = f
	} else {
		v.ProvForm = f
	}
	return s.render(c, http.StatusUnprocessableEntity, pages.MappingsPage(v))
}

// createGroupMapping is POST /mappings/groups.
func (s *Server) createGroupMapping(c echo.Context) error {
	f := readMappingForm(c)
	f.ServiceGroupID, _ = strconv.ParseInt(c.FormValue("service_group_id"), 10, 64)
	if f.ServiceGroupID < 1 {
		f.Errors["service_group_id"] = "Choose the service group."
	}
	if len(f.Errors) > 0 {
		return s.mappingFormFailed(c, f, nil, true)
	}
	prio, _ := strconv.Atoi(f.Priority)
	m := &model.GroupMapping{SourceID: f.SourceID, GroupDN: f.GroupDN, ServiceGroupID: f.ServiceGroupID, Nested: f.Nested, Force: f.Force, Priority: prio}
	if err := s.store.CreateGroupMapping(c.Request().Context(), m); err != nil {
		return s.mappingFormFailed(c, f, err, true)
	}
	if err := s.flash(c, "Group mapping added. Preview a sync to see its effect."); err != nil {
		return err
	}
	return redirect(c, "/mappings")
}

// createProvisioningMapping is POST /mappings/provisioning.
func (s *Server) createProvisioningMapping(c echo.Context) error {
	f := readMappingForm(c)
	f.AccountType = c.FormValue("account_type")
	if f.AccountType != string(model.AccountDeviceEnabled) && f.AccountType != string(model.AccountAdministrator) {
		f.Errors["account_type"] = "Choose a provisioning group."
	}
	if len(f.Errors) > 0 {
		return s.mappingFormFailed(c, f, nil, false)
	}
	prio, _ := strconv.Atoi(f.Priority)
	m := &model.ProvisioningMapping{SourceID: f.SourceID, GroupDN: f.GroupDN, AccountType: model.AccountType(f.AccountType), Nested: f.Nested, Priority: prio}
	if err := s.store.CreateProvisioningMapping(c.Request().Context(), m); err != nil {
		return s.mappingFormFailed(c, f, err, false)
	}
	if err := s.flash(c, "Provisioning mapping added."); err != nil {
		return err
	}
	return redirect(c, "/mappings")
}

// deleteGroupMapping is POST /mappings/groups/:id/delete.
func (s *Server) deleteGroupMapping(c echo.Context) error {
	id, err := objParseID(c, "id")
	if err != nil {
		return err
	}
	if err := s.store.DeleteGroupMapping(c.Request().Context(), id); err != nil {
		return err
	}
	if err := s.flash(c, "Group mapping deleted."); err != nil {
		return err
	}
	return redirect(c, "/mappings")
}

// deleteProvisioningMapping is POST /mappings/provisioning/:id/delete.
func (s *Server) deleteProvisioningMapping(c echo.Context) error {
	id, err := objParseID(c, "id")
	if err != nil {
		return err
	}
	if err := s.store.DeleteProvisioningMapping(c.Request().Context(), id); err != nil {
		return err
	}
	if err := s.flash(c, "Provisioning mapping deleted."); err != nil {
		return err
	}
	return redirect(c, "/mappings")
}

// searchDirectoryGroups is GET /mappings/search-groups?source_id=&group_q=:
// the picker's results, read live from the source.
func (s *Server) searchDirectoryGroups(c echo.Context) error {
	q := strings.TrimSpace(c.QueryParam("group_q"))
	render := func(res []pages.PickerResult, msg string) error {
		return s.renderPage(c, http.StatusOK, s.pageData(c, "", ""), pages.GroupPickerResults(res, msg))
	}
	if len(q) < 2 {
		return render(nil, "Type at least two characters.")
	}
	if len(q) > 100 {
		q = q[:100]
	}
	dir := s.directory
	if dir == nil {
		return render(nil, "Searching the directory is not available; enter the DN below.")
	}
	id, _ := strconv.ParseInt(c.QueryParam("source_id"), 10, 64)
	src, err := s.store.GetSource(c.Request().Context(), id)
	if err != nil {
		return render(nil, "Choose a directory source first.")
	}
	refs, err := dir.SearchGroups(c.Request().Context(), src, q, 25)
	if err != nil {
		return render(nil, model.ErrorMessage(err))
	}
	res := make([]pages.PickerResult, len(refs))
	for i, r := range refs {
		res[i] = pages.PickerResult{DN: r.DN, Name: r.Name}
	}
	return render(res, "")
}
