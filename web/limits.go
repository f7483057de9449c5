package web

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/idsync/idsync/internal/model"
)

// DefaultBodyLimit is the most any request body may hold unless its route
// was given more with AllowUpload: every console form fits in it many
// times over.
const DefaultBodyLimit = 1 << 20

// uploadMemory is how much of a multipart body is kept in memory while it
// is parsed; the rest goes to a temporary file, bounded by the route's limit.
const uploadMemory = 1 << 20

// uploadRoute is what AllowUpload records for one route.
type uploadRoute struct {
	limit     int64
	multipart bool
}

// AllowUpload lets one route (the value e.GET/e.POST/… returned) take a
// body of up to limit bytes, sent as multipart/form-data when multipart is
// true. Every other route keeps DefaultBodyLimit and refuses multipart:
//
//	s.AllowUpload(a.POST("/users/import", s.importUsers), 32<<20, true)
//
// Call it from routes(), before the server serves.
func (s *Server) AllowUpload(r *echo.Route, limit int64, multipart bool) {
	if s.uploads == nil {
		s.uploads = map[string]uploadRoute{}
	}
	s.uploads[r.Method+" "+r.Path] = uploadRoute{limit: limit, multipart: multipart}
}

// limitBody runs before anything reads the body (the CSRF check parses
// forms): it refuses a declared length over the route's limit and any
// multipart body where no file is expected without reading a byte, caps
// what can be read at the limit, and parses form bodies up front so that
// a body cut short by the cap answers 413 instead of a misleading CSRF
// refusal.
func (s *Server) limitBody(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		up, ok := s.uploads[r.Method+" "+c.Path()]
		if !ok {
			up = uploadRoute{limit: DefaultBodyLimit}
		}
		if r.ContentLength > up.limit {
			return tooLarge(up.limit)
		}
		ct, _, _ := mime.ParseMediaType(r.Header.Get(echo.HeaderContentType))
		isMultipart := strings.HasPrefix(ct, "multipart/")
		if isMultipart && !up.multipart {
			return model.Errorf(model.EUNSUPPORTED, "This address does not accept file uploads.")
		}
		if r.Body == nil || r.Body == http.NoBody {
			return next(c)
		}
		r.Body = http.MaxBytesReader(c.Response(), r.Body, up.limit)
		var err error
		switch {
		case ct == echo.MIMEApplicationForm:
			err = r.ParseForm()
		case isMultipart:
			err = r.ParseMultipartForm(uploadMemory)
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return tooLarge(up.limit)
			}
			return model.Errorf(model.EBADREQUEST, "The form could not be read.")
		}
		return next(c)
	}
}

func tooLarge(limit int64) error {
	return model.Errorf(model.ETOOLARGE, "The request is too large: this address accepts at most %s.", byteSize(limit))
}

// byteSize writes n as a short size: 1 MiB, 32 MiB, 512 KiB, 100 bytes.
func byteSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// knownMethods are the methods that get their own metrics label; anything
// else a client sends is counted as "other", so made-up methods cannot
// create series without bound.
var knownMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true,
	http.MethodConnect: true, http.MethodTrace: true,
}

// methodLabel is the metrics (and log) label for method m.
func methodLabel(m string) string {
	if knownMethods[m] {
		return m
	}
	return "other"
}
