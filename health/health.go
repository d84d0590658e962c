package health

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// CheckFunc is one readiness (or liveness) check. It must return when ctx ends. detail, when
// not nil, is marshalled into the JSON body next to the check's status.
type CheckFunc func(ctx context.Context) (detail any, err error)

// Pinger is what the primary check needs: *sql.DB and *sql.Conn implement it.
type Pinger interface {
	PingContext(ctx context.Context) error
}

// The status values of a Report and of each Result.
const (
	statusOK   = "ok"
	statusFail = "fail"
)

// Result is the outcome of one check.
type Result struct {
	Name       string  `json:"name"`
	Status     string  `json:"status"` // "ok" or "fail"
	Critical   bool    `json:"critical"`
	DurationMS float64 `json:"duration_ms"`
	Error      string  `json:"error,omitempty"`
	Detail     any     `json:"detail,omitempty"`
}

// Report is the JSON body of a probe: the overall status and every check.
type Report struct {
	Status    string    `json:"status"` // "ok" or "fail" (see OK)
	Checks    []Result  `json:"checks"`
	CheckedAt time.Time `json:"checked_at"`
	// Cached reports an answer served from the cache (see [WithCacheTTL]).
	Cached bool `json:"cached"`
}

// OK reports whether every critical check passed.
func (r Report) OK() bool { return r.Status == statusOK }

type check struct {
	name     string
	fn       CheckFunc
	critical bool
}

// Handler evaluates readiness and liveness. Build it with [New]; it is safe for concurrent use.
type Handler struct {
	cfg    config
	checks []check

	mu       sync.Mutex
	last     *Report
	inflight chan struct{} // closed when the running evaluation has stored its report
}

// New returns a Handler whose readiness pings db (nil: no primary check) plus the checks the
// options add.
func New(db Pinger, opts ...Option) *Handler {
	cfg := config{timeout: 2 * time.Second, ttl: time.Second, now: time.Now}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	h := &Handler{cfg: cfg}
	if db != nil {
		pingCtx := cfg.pingCtx
		h.checks = append(h.checks, check{name: "primary", critical: true, fn: func(ctx context.Context) (any, error) {
			if pingCtx != nil {
				ctx = pingCtx(ctx)
			}
			return nil, db.PingContext(ctx)
		}})
	}
	if cfg.replicas != nil {
		h.checks = append(h.checks, check{name: "replicas", critical: cfg.minReplicas > 0, fn: cfg.replicaCheck})
	}
	if cfg.listener != nil {
		h.checks = append(h.checks, check{name: "listener", critical: true, fn: listenerCheck(cfg.listener)})
	}
	h.checks = append(h.checks, cfg.extra...)
	return h
}

// Readiness returns the readiness endpoint: 200 when every critical check passes, 503
// otherwise, with a JSON [Report].
func (h *Handler) Readiness() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		write(w, r, h.Check(r.Context()))
	})
}

// Liveness returns the liveness endpoint. It never touches the database: it answers 200
// unless a check added with [WithLivenessCheck] fails (503).
func (h *Handler) Liveness() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		write(w, r, h.run(r.Context(), h.cfg.live))
	})
}

// ServeHTTP serves readiness, so that a Handler can be mounted directly.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.Readiness().ServeHTTP(w, r) }

func write(w http.ResponseWriter, r *http.Request, rep Report) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	code := http.StatusOK
	if !rep.OK() {
		code = http.StatusServiceUnavailable
	}
	w.WriteHeader(code)
	if r.Method == http.MethodHead {
		return
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(rep)
}

// Check returns the readiness report, from the cache when the last evaluation is younger
// than the TTL. Concurrent callers share one evaluation; a caller whose ctx ends first gets a
// failed report at once, while the evaluation goes on for the others.
func (h *Handler) Check(ctx context.Context) Report {
	h.mu.Lock()
	if h.last != nil && h.cfg.now().Sub(h.last.CheckedAt) < h.cfg.ttl {
		rep := *h.last
		h.mu.Unlock()
		rep.Cached = true
		return rep
	}
	if h.inflight == nil {
		done := make(chan struct{})
		h.inflight = done
		go h.evaluate(done)
	}
	done := h.inflight
	h.mu.Unlock()
	select {
	case <-done:
		h.mu.Lock()
		rep := *h.last
		h.mu.Unlock()
		return rep
	case <-ctx.Done():
		return Report{Status: statusFail, CheckedAt: h.cfg.now(),
			Checks: []Result{{Name: "probe", Status: statusFail, Error: ctx.Err().Error()}}}
	}
}

// evaluate runs the readiness checks detached from any probe's context, so that one probe
// going away does not fail the answer the others wait for. It ends within the timeout.
func (h *Handler) evaluate(done chan struct{}) {
	rep := h.run(context.Background(), h.checks)
	h.mu.Lock()
	h.last = &rep
	h.inflight = nil
	h.mu.Unlock()
	close(done)
}

type indexed struct {
	i int
	r Result
}

// run runs checks concurrently under the timeout and returns when all have answered or the
// deadline passed. A check still running then is reported as timed out; its goroutine ends
// when the check returns (the results channel is buffered, so it never blocks).
func (h *Handler) run(parent context.Context, checks []check) Report {
	rep := Report{Status: statusOK, CheckedAt: h.cfg.now(), Checks: make([]Result, len(checks))}
	if len(checks) == 0 {
		rep.Checks = []Result{}
		return rep
	}
	ctx, cancel := context.WithTimeout(parent, h.cfg.timeout)
	defer cancel()
	results := make(chan indexed, len(checks))
	for i, c := range checks {
		rep.Checks[i] = Result{Name: c.name, Critical: c.critical, Status: statusFail}
		go func() {
			start := time.Now()
			detail, err := safe(ctx, c.fn)
			r := Result{Name: c.name, Critical: c.critical, Status: statusOK, Detail: detail,
				DurationMS: float64(time.Since(start).Microseconds()) / 1000}
			if err != nil {
				r.Status, r.Error = statusFail, err.Error()
			}
			results <- indexed{i, r}
		}()
	}
	answered := 0
	start := time.Now()
wait:
	for answered < len(checks) {
		select {
		case res := <-results:
			rep.Checks[res.i] = res.r
			answered++
		case <-ctx.Done():
			break wait
		}
	}
	for i := range rep.Checks {
		r := &rep.Checks[i]
		if r.Status == statusFail && r.Error == "" {
			r.Error = fmt.Sprintf("no answer within %v", h.cfg.timeout)
			r.DurationMS = float64(time.Since(start).Microseconds()) / 1000
		}
		if r.Status == statusFail && r.Critical {
			rep.Status = statusFail
		}
	}
	return rep
}

func safe(ctx context.Context, fn CheckFunc) (detail any, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("check panicked: %v", v)
		}
	}()
	detail, err = fn(ctx)
	if err == nil && ctx.Err() != nil {
		// The answer came after the deadline: it is not trusted.
		err = errors.New("check exceeded the timeout")
	}
	return detail, err
}
