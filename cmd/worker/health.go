package main

import (
	"net/http"
	"net/http/pprof"
	"sync/atomic"
)

// health answers the worker's probes on METRICS_ADDR, beside /metrics:
// /healthz is 200 while the process serves, /readyz is 200 until SIGTERM
// starts the drain and 503 from then on, so that an orchestrator sees the
// worker leaving before it stops taking work. Neither asks Redis: a Redis
// outage must not restart workers or take them out of a rollout (asynq
// and go-redis reconnect by themselves).
type health struct {
	draining atomic.Bool
	// pprof (DEBUG_PPROF) adds Go's profiling endpoints under
	// /debug/pprof/ (net/http/pprof): CPU, heap, allocations, goroutines,
	// execution trace. Off by default: a profile costs CPU while it runs,
	// and the endpoints show the process's command line.
	pprof bool
}

// drain turns readiness off for good.
func (h *health) drain() { h.draining.Store(true) }

// routes are the probe endpoints, and the profiling endpoints when pprof
// is set, as http.ServeMux patterns.
func (h *health) routes() map[string]http.Handler {
	r := map[string]http.Handler{
		"GET /healthz": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte("ok\n"))
		}),
		"GET /readyz": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			if h.draining.Load() {
				http.Error(w, "draining", http.StatusServiceUnavailable)
				return
			}
			_, _ = w.Write([]byte("ok\n"))
		}),
	}
	if h.pprof {
		// Index also serves the named profiles: /debug/pprof/heap,
		// /debug/pprof/allocs, /debug/pprof/goroutine, ...
		r["GET /debug/pprof/"] = http.HandlerFunc(pprof.Index)
		r["GET /debug/pprof/cmdline"] = http.HandlerFunc(pprof.Cmdline)
		r["GET /debug/pprof/profile"] = http.HandlerFunc(pprof.Profile)
		r["GET /debug/pprof/symbol"] = http.HandlerFunc(pprof.Symbol)
		r["POST /debug/pprof/symbol"] = http.HandlerFunc(pprof.Symbol)
		r["GET /debug/pprof/trace"] = http.HandlerFunc(pprof.Trace)
	}
	return r
}
