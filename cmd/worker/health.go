package main

import (
	"net/http"
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
}

// drain turns readiness off for good.
func (h *health) drain() { h.draining.Store(true) }

// routes are the probe endpoints, as http.ServeMux patterns.
func (h *health) routes() map[string]http.Handler {
	return map[string]http.Handler{
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
}
