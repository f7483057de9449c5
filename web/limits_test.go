package web

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/idsync/idsync/internal/model"
)

// heapInUse is the live heap after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// zeroReader yields n bytes of 'a' without holding them in memory.
type zeroReader struct{ n int64 }

func (z *zeroReader) Read(p []byte) (int, error) {
	if z.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > z.n {
		p = p[:z.n]
	}
	for i := range p {
		p[i] = 'a'
	}
	z.n -= int64(len(p))
	return len(p), nil
}

// multipartBody returns a multipart form with the CSRF field and one file of size bytes.
func multipartBody(t *testing.T, csrf string, size int) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	_ = w.WriteField("_csrf", csrf)
	_ = w.WriteField("username", "ada")
	fw, err := w.CreateFormFile("file", "big.bin")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(fw, &zeroReader{n: int64(size)}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return w.FormDataContentType(), buf.Bytes()
}

// rawDo sends one request and returns the status (0 when the server hung
// up before answering, which it may do while a refused body is still
// being sent) and the body.
func (c *platClient) rawDo(method, path, ctype string, body io.Reader, length int64, hdr map[string]string) (int, string) {
	req, err := http.NewRequest(method, c.e.ts.URL+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	req.ContentLength = length
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func TestRequestLimits(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // multipart parsing spills files to os.TempDir()
	e := newPlatEnv(t, nil)
	e.createAdmin("ada", model.RoleAdmin)
	anon := e.client()
	anonCSRF := anon.csrf()
	admin := e.client()
	admin.login("ada")
	adminCSRF := admin.csrf()
	ctx := context.Background()
	attrsBefore, err := e.st.ListAttributes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	idle := heapInUse()

	t.Run("declared length over the limit", func(t *testing.T) {
		form := url.Values{"_csrf": {adminCSRF}, "key": {"floor"}, "name": {strings.Repeat("x", 2<<20)}}.Encode()
		code, body := admin.rawDo(http.MethodPost, "/attributes", echo.MIMEApplicationForm, strings.NewReader(form), int64(len(form)), nil)
		if code != http.StatusRequestEntityTooLarge || !strings.Contains(body, "at most 1 MiB") {
			t.Fatalf("status %d, want 413 naming the limit; body %.200s", code, body)
		}
	})
	t.Run("streamed body over the limit", func(t *testing.T) {
		// 400 MB without a Content-Length: the server stops reading at 1 MiB.
		var wg sync.WaitGroup
		codes := make([]int, 4)
		for i := range codes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				body := io.MultiReader(strings.NewReader("_csrf="+url.QueryEscape(adminCSRF)+"&key=floor&name="), &zeroReader{n: 400 << 20})
				codes[i], _ = admin.rawDo(http.MethodPost, "/attributes", echo.MIMEApplicationForm, body, -1, nil)
			}()
		}
		wg.Wait()
		for i, code := range codes {
			if code != http.StatusRequestEntityTooLarge && code != 0 {
				t.Errorf("upload %d: status %d, want 413", i, code)
			}
		}
	})
	t.Run("multipart where no file is expected", func(t *testing.T) {
		ctype, body := multipartBody(t, anonCSRF, 8<<20)
		var wg sync.WaitGroup
		codes := make([]int, 8)
		msgs := make([]string, 8)
		for i := range codes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				codes[i], msgs[i] = anon.rawDo(http.MethodPost, "/login", ctype, bytes.NewReader(body), int64(len(body)), nil)
			}()
		}
		wg.Wait()
		for i := range codes {
			// 8 MiB is over the limit, so 413 is as right as 415; a small one must be 415.
			if codes[i] != http.StatusUnsupportedMediaType && codes[i] != http.StatusRequestEntityTooLarge && codes[i] != 0 {
				t.Errorf("upload %d: status %d, want 413 or 415", i, codes[i])
			}
		}
		ctype, small := multipartBody(t, anonCSRF, 1000)
		code, msg := anon.rawDo(http.MethodPost, "/login", ctype, bytes.NewReader(small), int64(len(small)), nil)
		if code != http.StatusUnsupportedMediaType || !strings.Contains(msg, "does not accept file uploads") {
			t.Errorf("small multipart sign-in: status %d, want 415 with a message; body %.200s", code, msg)
		}
		// Chunked, so no length to refuse up front: still refused by type.
		code, _ = anon.rawDo(http.MethodPost, "/login", ctype, io.MultiReader(bytes.NewReader(small)), -1, nil)
		if code != http.StatusUnsupportedMediaType {
			t.Errorf("chunked multipart sign-in: status %d, want 415", code)
		}
		files, _ := os.ReadDir(tmp)
		if len(files) != 0 {
			t.Errorf("%d temporary files written by refused uploads", len(files))
		}
	})
	t.Run("made-up methods", func(t *testing.T) {
		for i := range 10000 {
			code, _ := anon.rawDo(fmt.Sprintf("X%dMETHOD", i), "/login", "", nil, 0, nil)
			if code == 0 || code == http.StatusOK {
				t.Fatalf("method %d: status %d, want a refusal", i, code)
			}
		}
		r := anon.get("/metrics")
		if r.status != http.StatusOK {
			t.Fatalf("/metrics: %d", r.status)
		}
		if len(r.body) > 64<<10 {
			t.Errorf("/metrics is %d bytes after 10,000 made-up methods, want < 64 KiB", len(r.body))
		}
		if strings.Contains(r.body, "X9999METHOD") || !strings.Contains(r.body, `method="other"`) {
			t.Error(`/metrics should count made-up methods as method="other" only`)
		}
	})
	t.Run("memory stays bounded", func(t *testing.T) {
		grew := int64(heapInUse()) - int64(idle)
		t.Logf("heap in use: %d MiB idle, %+d KiB after the bad requests", idle>>20, grew>>10)
		if grew > 8<<20 {
			t.Errorf("heap grew by %d MiB over the bad requests, want < 8 MiB", grew>>20)
		}
	})
	t.Run("nothing changed", func(t *testing.T) {
		after, err := e.st.ListAttributes(ctx)
		if err != nil || len(after) != len(attrsBefore) {
			t.Errorf("attributes %d → %d (%v): a refused body changed something", len(attrsBefore), len(after), err)
		}
		if r := admin.post("/attributes", url.Values{"_csrf": {adminCSRF}, "key": {"floor"}, "name": {"Floor"}}); r.status != http.StatusSeeOther {
			t.Errorf("a normal form after the refusals: status %d, want 303", r.status)
		}
	})
}

func TestAllowUpload(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	e := newPlatEnv(t, nil)
	e.createAdmin("ada", model.RoleAdmin)
	var got int64
	e.srv.AllowUpload(e.srv.Echo().POST("/test-upload", func(c echo.Context) error {
		fh, err := c.FormFile("file")
		if err != nil {
			return err
		}
		got = fh.Size
		return c.NoContent(http.StatusNoContent)
	}), 4<<20, true)
	c := e.client()
	c.login("ada")
	tok := c.csrf()

	ctype, body := multipartBody(t, tok, 3<<20)
	if code, msg := c.rawDo(http.MethodPost, "/test-upload", ctype, bytes.NewReader(body), int64(len(body)), nil); code != http.StatusNoContent || got != 3<<20 {
		t.Fatalf("3 MiB upload on a 4 MiB route: status %d, file %d bytes; %.200s", code, got, msg)
	}
	ctype, body = multipartBody(t, tok, 5<<20)
	code, msg := c.rawDo(http.MethodPost, "/test-upload", ctype, io.MultiReader(bytes.NewReader(body)), -1, nil)
	if code != http.StatusRequestEntityTooLarge || !strings.Contains(msg, "at most 4 MiB") {
		t.Errorf("5 MiB chunked upload on a 4 MiB route: status %d, want 413 naming 4 MiB; %.200s", code, msg)
	}
}

func TestByteSize(t *testing.T) {
	for n, want := range map[int64]string{1 << 20: "1 MiB", 32 << 20: "32 MiB", 512 << 10: "512 KiB", 100: "100 bytes"} {
		if got := byteSize(n); got != want {
			t.Errorf("byteSize(%d) = %q, want %q", n, got, want)
		}
	}
}
