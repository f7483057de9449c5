package web

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/auth"
	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/store"
	"github.com/idsync/idsync/internal/store/storetest"
)

// peakRSS returns the process's peak resident set (VmHWM) in bytes.
func peakRSS(tb testing.TB) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		tb.Skipf("no /proc/self/status: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	tb.Fatal("no VmHWM in /proc/self/status")
	return 0
}

// resetPeakRSS makes VmHWM start again from the current resident set.
func resetPeakRSS(tb testing.TB) {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		tb.Skipf("cannot reset the peak RSS: %v", err)
	}
}

type burstClient struct {
	hc   *http.Client
	base string
}

func newBurstClient(base string) *burstClient {
	jar, _ := cookiejar.New(nil)
	return &burstClient{base: base, hc: &http.Client{Jar: jar, Timeout: 60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (c *burstClient) get(path string) (int, string, error) {
	res, err := c.hc.Get(c.base + path)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	var b strings.Builder
	_, err = bufio.NewReader(res.Body).WriteTo(&b)
	return res.StatusCode, b.String(), err
}

// loginForm fetches the sign-in page (for its session and CSRF token).
func (c *burstClient) loginForm(user string) (url.Values, error) {
	_, body, err := c.get("/login")
	if err != nil {
		return nil, err
	}
	m := platCSRFRE.FindStringSubmatch(body)
	if m == nil {
		return nil, fmt.Errorf("no CSRF token on /login")
	}
	return url.Values{"_csrf": {m[1]}, "username": {user}, "password": {platPassword}}, nil
}

func (c *burstClient) login(form url.Values) error {
	res, err := c.hc.PostForm(c.base+"/login", form)
	if err != nil {
		return err
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		return fmt.Errorf("sign-in of %s: status %d", form.Get("username"), res.StatusCode)
	}
	return nil
}

func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// BenchmarkSignInBurst is issue 16's hashing burst: 20 simultaneous
// sign-ins with the production argon2id parameters (64 MiB, t=3, p=2)
// while 4 signed-in admins keep loading the dashboard, on SQLite, over
// real loopback HTTP. It reports each sign-in's time, the dashboard's p95
// before and during the burst, and how much the burst raised the
// process's peak resident memory over the idle peak. Sub-benchmarks
// compare hashing slots: the default gate and 4 at once (the old bound).
//
//	go test -run '^$' -bench BenchmarkSignInBurst -benchtime 1x ./web/
func BenchmarkSignInBurst(b *testing.B) {
	hash, err := auth.HashPassword(platPassword) // the production parameters
	if err != nil {
		b.Fatal(err)
	}
	for _, slots := range []int{auth.DefaultHashConcurrency(), 4} {
		b.Run(fmt.Sprintf("slots=%d", slots), func(b *testing.B) {
			for b.Loop() {
				signInBurst(b, hash, slots)
			}
		})
	}
}

func signInBurst(b *testing.B, hash string, slots int) {
	const burst, watchers = 20, 4
	ctx := context.Background()
	st := storetest.Open(b, store.DialectSQLite)
	storetest.Seed(b, st, 500, 200) // a dashboard with something to count
	cfg := platConfig()
	cfg.LoginMaxFailures = 1000 // one client address sends every sign-in
	srv, err := New(Deps{Store: st, Config: cfg, PasswordHashing: auth.NewGate(slots, 0, 0)})
	if err != nil {
		b.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	for i := range burst + watchers {
		if err := st.CreateAdmin(ctx, &model.Admin{Username: fmt.Sprintf("admin%02d", i), PasswordHash: hash, Role: model.RoleAdmin}); err != nil {
			b.Fatal(err)
		}
	}
	watch := make([]*burstClient, watchers)
	for i := range watch {
		watch[i] = newBurstClient(ts.URL)
		form, err := watch[i].loginForm(fmt.Sprintf("admin%02d", burst+i))
		if err == nil {
			err = watch[i].login(form)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	// Load the dashboard from every watcher until stop closes.
	poll := func(stop <-chan struct{}) []time.Duration {
		var mu sync.Mutex
		var lat []time.Duration
		var wg sync.WaitGroup
		for _, c := range watch {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					t0 := time.Now()
					code, _, err := c.get("/")
					d := time.Since(t0)
					if err != nil || code != http.StatusOK {
						b.Errorf("dashboard: %d %v", code, err)
						return
					}
					mu.Lock()
					lat = append(lat, d)
					mu.Unlock()
					time.Sleep(20 * time.Millisecond)
				}
			}()
		}
		<-stop
		wg.Wait()
		return lat
	}
	forms := make([]url.Values, burst)
	clients := make([]*burstClient, burst)
	for i := range clients {
		clients[i] = newBurstClient(ts.URL)
		if forms[i], err = clients[i].loginForm(fmt.Sprintf("admin%02d", i)); err != nil {
			b.Fatal(err)
		}
	}

	// Idle: the watchers only, from a heap returned to the OS, so the
	// setup's hashes do not count as idle memory.
	debug.FreeOSMemory()
	resetPeakRSS(b)
	stop := make(chan struct{})
	time.AfterFunc(3*time.Second, func() { close(stop) })
	idleLat := poll(stop)
	idlePeak := peakRSS(b)

	// Burst: 20 sign-ins released at once, the watchers still polling.
	stop = make(chan struct{})
	var pageLat []time.Duration
	polled := make(chan struct{})
	go func() { pageLat = poll(stop); close(polled) }()
	time.Sleep(200 * time.Millisecond)
	start := make(chan struct{})
	signIn := make([]time.Duration, burst)
	var busy atomic.Int32
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			t0 := time.Now()
			if err := clients[i].login(forms[i]); err != nil {
				if !strings.Contains(err.Error(), "status 503") {
					b.Error(err)
				}
				busy.Add(1) // the gate's maximum wait ran out: "busy, try again"
			}
			signIn[i] = time.Since(t0)
		}()
	}
	close(start)
	wg.Wait()
	time.Sleep(200 * time.Millisecond)
	close(stop)
	<-polled
	burstPeak := peakRSS(b)

	b.ReportMetric(ms(pct(signIn, 0.5)), "signin_p50_ms")
	b.ReportMetric(ms(slices.Max(signIn)), "signin_max_ms")
	b.ReportMetric(ms(pct(idleLat, 0.95)), "page_idle_p95_ms")
	b.ReportMetric(ms(pct(pageLat, 0.95)), "page_burst_p95_ms")
	b.ReportMetric(float64(idlePeak>>20), "idle_peak_MB")
	b.ReportMetric(float64((burstPeak-idlePeak)>>20), "burst_added_MB")
	b.ReportMetric(float64(busy.Load()), "signin_busy_503")
	b.Logf("slots=%d: sign-ins p50 %.0f ms max %.0f ms, %d answered busy; dashboard p95 %.1f ms idle (%d loads), %.1f ms during the burst (%d loads); peak RSS %d MB idle, +%d MB in the burst",
		slots, ms(pct(signIn, 0.5)), ms(slices.Max(signIn)), busy.Load(), ms(pct(idleLat, 0.95)), len(idleLat), ms(pct(pageLat, 0.95)), len(pageLat),
		idlePeak>>20, (burstPeak-idlePeak)>>20)
}
