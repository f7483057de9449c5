package web

import (
	"bytes"
	"net/http"
	"strings"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/idsync/idsync/templates/layout"
)

// isFragment reports whether the request wants only the page body: an htmx
// request that is not a boosted navigation or a history restore.
func isFragment(c echo.Context) bool {
	h := c.Request().Header
	return h.Get("HX-Request") == "true" && h.Get("HX-Boosted") == "" && h.Get("HX-History-Restore-Request") == ""
}

// render writes page with status: inside the full layout, or alone when
// the request comes from htmx. The title and highlighted nav item follow
// from the request path (/users/7 → "Users"); use renderPage to choose.
func (s *Server) render(c echo.Context, status int, page templ.Component) error {
	return s.renderPage(c, status, s.pageData(c, "", ""), page)
}

// renderTitled is render with an explicit page title.
func (s *Server) renderTitled(c echo.Context, status int, title string, page templ.Component) error {
	return s.renderPage(c, status, s.pageData(c, title, ""), page)
}

// renderPage writes page with status inside the layout filled from p
// (or alone for htmx). The output is buffered so that a failed render
// becomes a proper error page rather than half a page.
func (s *Server) renderPage(c echo.Context, status int, p layout.PageData, page templ.Component) error {
	if isFragment(c) {
		return s.renderFragment(c, status, page)
	}
	var buf bytes.Buffer
	if err := layout.Page(p, page).Render(c.Request().Context(), &buf); err != nil {
		return err
	}
	return c.HTMLBlob(status, buf.Bytes())
}

// renderFragment writes comp alone (no layout) for htmx: polled cards,
// in-place results. Buffered so that a failed render becomes an error
// rather than half a card; it never touches the session's flash message.
func (s *Server) renderFragment(c echo.Context, status int, comp templ.Component) error {
	var buf bytes.Buffer
	if err := comp.Render(c.Request().Context(), &buf); err != nil {
		return err
	}
	return c.HTMLBlob(status, buf.Bytes())
}

// pageData fills the layout's data for the current request. An empty
// active is taken from the first path segment, an empty title from the
// active nav item's label. It pops the session's flash message, except for
// an htmx fragment request, which shows no layout: a polled fragment must
// not swallow the message meant for the next full page.
func (s *Server) pageData(c echo.Context, title, active string) layout.PageData {
	if active == "" {
		active = navKey(c.Request().URL.Path)
	}
	if title == "" {
		title = layout.NavLabel(active)
	}
	var flash string
	var flashErr bool
	if !isFragment(c) {
		flash, flashErr = s.popFlash(c)
	}
	return layout.PageData{
		Title:      title,
		Admin:      currentAdmin(c),
		CSRF:       s.csrfToken(c),
		Flash:      flash,
		FlashError: flashErr,
		Active:     active,
		Demo:       s.cfg.Demo,
	}
}

// navKey maps a request path to its nav key: "/" → "dashboard",
// "/service-groups/3/edit" → "service-groups".
func navKey(path string) string {
	p := strings.Trim(path, "/")
	if p == "" {
		return "dashboard"
	}
	if i := strings.IndexByte(p, '/'); i >= 0 {
		p = p[:i]
	}
	return p
}

// redirect sends the browser to url after a form post: a 303 for plain
// requests, HX-Redirect for htmx ones (htmx does not follow redirects
// into a full page).
func redirect(c echo.Context, url string) error {
	if c.Request().Header.Get("HX-Request") == "true" {
		c.Response().Header().Set("HX-Redirect", url)
		return c.NoContent(http.StatusNoContent)
	}
	return c.Redirect(http.StatusSeeOther, url)
}
