package web

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/labstack/echo/v4"

	"github.com/idsync/idsync/internal/directory"
	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/templates/pages"
)

// sourceTestTimeout caps "Test connection" whatever the source's timeout.
const sourceTestTimeout = 30 * time.Second

// showSourcesPage lists the directory sources.
func (s *Server) showSourcesPage(c echo.Context) error {
	srcs, err := s.store.ListSources(c.Request().Context())
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, pages.SourcesPage(pages.SourcesView{Sources: srcs, CSRF: s.csrfToken(c), CanEdit: isAdmin(c)}))
}

// showNewSourcePage shows the form filled with the defaults of ?kind=.
func (s *Server) showNewSourcePage(c echo.Context) error {
	kind := model.SourceKind(c.QueryParam("kind"))
	src := model.DefaultSource(kind)
	attrs, err := s.store.ListAttributes(c.Request().Context())
	if err != nil {
		return err
	}
	v := pages.SourceView{Form: pages.SourceForm{Source: src, Attrs: attrs}, IsNew: true, CSRF: s.csrfToken(c), CanEdit: true}
	return s.renderTitled(c, http.StatusOK, "New source", pages.SourcePage(v))
}

func (s *Server) showSourcePage(c echo.Context) error {
	ctx := c.Request().Context()
	id, err := objParseID(c, "id")
	if err != nil {
		return err
	}
	src, err := s.store.GetSource(ctx, id)
	if err != nil {
		return err
	}
	attrs, err := s.store.ListAttributes(ctx)
	if err != nil {
		return err
	}
	hasPW := src.BindPassword != ""
	src.BindPassword = ""
	v := pages.SourceView{Form: pages.SourceForm{Source: *src, HasPassword: hasPW, Attrs: attrs}, CSRF: s.csrfToken(c), CanEdit: isAdmin(c)}
	return s.renderTitled(c, http.StatusOK, "Source "+src.Name, pages.SourcePage(v))
}

// sourceFromForm reads the form over src (which holds the stored values
// when editing) and checks what the store cannot: URL schemes, that the
// filters parse and the DNs are DNs. It returns per-field messages.
func sourceFromForm(c echo.Context, src *model.Source, attrs []model.AttributeDef) map[string]string {
	f := map[string]string{}
	val := func(name string) string { return strings.TrimSpace(c.FormValue(name)) }
	src.Name = val("name")
	src.Kind = model.SourceKind(val("kind"))
	src.URLs = nil
	for _, line := range strings.Split(c.FormValue("urls"), "\n") {
		u := strings.TrimSpace(line)
		if u == "" {
			continue
		}
		if err := directory.ValidateURL(u); err != nil && f["urls"] == "" {
			f["urls"] = u + ": " + err.Error()
		}
		src.URLs = append(src.URLs, u)
	}
	if len(src.URLs) == 0 {
		f["urls"] = "at least one ldap:// or ldaps:// URL is required"
	}
	src.StartTLS = c.FormValue("start_tls") == "on"
	src.PrimaryGroups = c.FormValue("primary_groups") == "on"
	src.CACert = strings.TrimSpace(c.FormValue("ca_cert"))
	src.ServerName = val("server_name")
	src.BindDN = val("bind_dn")
	src.BindPassword = c.FormValue("bind_password") // "" keeps the stored one
	src.UserBaseDN = val("user_base_dn")
	src.UserFilter = val("user_filter")
	src.GroupBaseDN = val("group_base_dn")
	src.GroupFilter = val("group_filter")
	src.MemberAttr = val("member_attr")
	src.Enabled = c.FormValue("enabled") == "on"
	if err := directory.ValidateBindName(src.BindDN); err != nil {
		f["bind_dn"] = err.Error()
	}
	for _, name := range []string{"user_base_dn", "group_base_dn"} {
		if v := val(name); v != "" {
			if _, err := ldap.ParseDN(v); err != nil {
				f[name] = "is not a valid DN"
			}
		}
	}
	for _, name := range []string{"user_filter", "group_filter"} {
		if v := val(name); v != "" {
			if _, err := ldap.CompileFilter(v); err != nil {
				f[name] = "does not parse as an LDAP filter"
			}
		}
	}
	if n, err := strconv.Atoi(val("page_size")); err != nil || n < 1 || n > 10000 {
		f["page_size"] = "must be a whole number from 1 to 10000"
	} else {
		src.PageSize = n
	}
	if secs, err := strconv.ParseFloat(val("timeout"), 64); err != nil || secs < 1 || secs > 600 {
		f["timeout"] = "must be between 1 and 600 seconds"
	} else {
		src.Timeout = time.Duration(secs * float64(time.Second))
	}
	src.Attributes.ExternalID = val("attributes.external_id")
	src.Attributes.Username = val("attributes.username")
	src.Attributes.Email = val("attributes.email")
	src.Attributes.DisplayName = val("attributes.display_name")
	src.Attributes.Disabled = val("attributes.disabled")
	src.Attributes.Enterprise = map[string]string{}
	for _, a := range attrs {
		if v := val("attributes.enterprise." + a.Key); v != "" {
			src.Attributes.Enterprise[a.Key] = v
		}
	}
	for name, v := range map[string]string{"attributes.external_id": src.Attributes.ExternalID, "attributes.username": src.Attributes.Username,
		"attributes.email": src.Attributes.Email, "attributes.display_name": src.Attributes.DisplayName} {
		if strings.ContainsAny(v, "()=*,\\ ") {
			f[name] = "must be an attribute name"
		}
	}
	for _, a := range strings.Split(src.MemberAttr, ",") {
		if strings.ContainsAny(strings.TrimSpace(a), "()=*\\ ") {
			f["member_attr"] = "must be attribute names separated by commas (member, uniqueMember, memberUid)"
		}
	}
	if _, err := directory.ParseDisabled(src.Attributes.Disabled); err != nil {
		f["attributes.disabled"] = "does not parse: " + err.Error()
	}
	return f
}

func (s *Server) createSource(c echo.Context) error {
	ctx := c.Request().Context()
	attrs, err := s.store.ListAttributes(ctx)
	if err != nil {
		return err
	}
	src := model.DefaultSource(model.SourceKind(c.FormValue("kind")))
	err = model.Invalid(sourceFromForm(c, &src, attrs))
	if err == nil {
		err = s.store.CreateSource(ctx, &src)
	}
	if err != nil {
		return s.sourceFormFailed(c, err, src, attrs, true, false)
	}
	if err := s.flash(c, "Source "+src.Name+" created."); err != nil {
		return err
	}
	return redirect(c, "/sources")
}

func (s *Server) updateSource(c echo.Context) error {
	ctx := c.Request().Context()
	id, err := objParseID(c, "id")
	if err != nil {
		return err
	}
	old, err := s.store.GetSource(ctx, id)
	if err != nil {
		return err
	}
	attrs, err := s.store.ListAttributes(ctx)
	if err != nil {
		return err
	}
	src := *old
	hasPW := old.BindPassword != ""
	err = model.Invalid(sourceFromForm(c, &src, attrs))
	if err == nil {
		err = s.store.UpdateSource(ctx, &src)
	}
	if err != nil {
		return s.sourceFormFailed(c, err, src, attrs, false, hasPW)
	}
	if err := s.flash(c, "Source "+src.Name+" saved."); err != nil {
		return err
	}
	return redirect(c, "/sources")
}

// sourceFormFailed re-renders the form with the typed values (never the
// typed password) and the messages, or returns a non-form error as is.
func (s *Server) sourceFormFailed(c echo.Context, err error, src model.Source, attrs []model.AttributeDef, isNew, hasPW bool) error {
	fields, msg, err := objFormError(err)
	if err != nil {
		return err
	}
	src.BindPassword = ""
	v := pages.SourceView{Form: pages.SourceForm{Source: src, HasPassword: hasPW, Attrs: attrs, Errors: fields, Message: msg}, IsNew: isNew, CSRF: s.csrfToken(c), CanEdit: true}
	return s.renderTitled(c, http.StatusUnprocessableEntity, "Source", pages.SourcePage(v))
}

func (s *Server) deleteSource(c echo.Context) error {
	ctx := c.Request().Context()
	id, err := objParseID(c, "id")
	if err != nil {
		return err
	}
	src, err := s.store.GetSource(ctx, id)
	if err != nil {
		return err
	}
	if err := s.store.DeleteSource(ctx, id); err != nil {
		return err
	}
	if err := s.flash(c, "Source "+src.Name+" deleted."); err != nil {
		return err
	}
	return redirect(c, "/sources")
}

// testSavedSource tests a stored source and records the outcome.
func (s *Server) testSavedSource(c echo.Context) error {
	ctx := c.Request().Context()
	id, err := objParseID(c, "id")
	if err != nil {
		return err
	}
	src, err := s.store.GetSource(ctx, id)
	if err != nil {
		return err
	}
	res := s.testSource(ctx, src)
	msg := ""
	if !res.OK {
		msg = res.Message
	}
	if err := s.store.RecordSourceTest(ctx, id, s.now(), msg); err != nil {
		return err
	}
	return s.render(c, http.StatusOK, pages.SourceTestResult(res))
}

// testSourceForm tests the values typed in the form, before saving. When
// editing and the password field is empty, the stored password is used,
// but only towards the URLs and bind name it was stored for.
func (s *Server) testSourceForm(c echo.Context) error {
	ctx := c.Request().Context()
	attrs, err := s.store.ListAttributes(ctx)
	if err != nil {
		return err
	}
	src := model.DefaultSource(model.SourceKind(c.FormValue("kind")))
	if id, err := strconv.ParseInt(c.FormValue("id"), 10, 64); err == nil && id > 0 {
		old, err := s.store.GetSource(ctx, id)
		if err != nil {
			return err
		}
		src = *old
	}
	saved := src
	if fields := sourceFromForm(c, &src, attrs); len(fields) > 0 {
		return s.render(c, http.StatusOK, pages.SourceTestResult(pages.SourceTest{Message: "Fix the form first: " + firstFieldError(fields)}))
	}
	if src.BindPassword == "" && saved.BindPassword != "" {
		if !model.SourceSecretReusable(&saved, &src) {
			return s.render(c, http.StatusOK, pages.SourceTestResult(pages.SourceTest{Message: model.MsgBindPasswordAgain}))
		}
		src.BindPassword = saved.BindPassword
	}
	return s.render(c, http.StatusOK, pages.SourceTestResult(s.testSource(ctx, &src)))
}

func (s *Server) testSource(ctx context.Context, src *model.Source) pages.SourceTest {
	t := s.directory
	if t == nil {
		return pages.SourceTest{Message: "The directory client is not available in this server."}
	}
	ctx, cancel := context.WithTimeout(ctx, sourceTestTimeout)
	defer cancel()
	res, err := t.Test(ctx, src)
	if err != nil {
		s.log.Info("source test failed", "source", src.Name, "err", err)
		return pages.SourceTest{Users: res.Users, Groups: res.Groups, Message: model.ErrorMessage(err), Warnings: res.Warnings}
	}
	return pages.SourceTest{OK: true, Users: res.Users, Groups: res.Groups, Warnings: res.Warnings}
}

func firstFieldError(f map[string]string) string {
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	// Stable: the first field in form order wins.
	order := []string{"name", "urls", "bind_dn", "user_base_dn", "user_filter", "group_base_dn", "group_filter", "page_size", "timeout"}
	for _, k := range order {
		if m, ok := f[k]; ok {
			return k + " " + m
		}
	}
	return keys[0] + " " + f[keys[0]]
}
