package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// serve routes a GET of path through h's routes and returns the status.
func serve(h *health, path string) int {
	mux := http.NewServeMux()
	for pattern, handler := range h.routes() {
		mux.Handle(pattern, handler)
	}
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code
}

// Readiness is on until the drain begins and off after; liveness stays on.
func TestHealthProbes(t *testing.T) {
	h := &health{}
	tests := []struct {
		draining       bool
		healthz, ready int
	}{
		{false, http.StatusOK, http.StatusOK},
		{true, http.StatusOK, http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		if tt.draining {
			h.drain()
		}
		if got := serve(h, "/healthz"); got != tt.healthz {
			t.Errorf("draining %v: /healthz = %d, want %d", tt.draining, got, tt.healthz)
		}
		if got := serve(h, "/readyz"); got != tt.ready {
			t.Errorf("draining %v: /readyz = %d, want %d", tt.draining, got, tt.ready)
		}
	}
}

// The profiling endpoints answer only with DEBUG_PPROF on.
func TestPprofOnlyWhenEnabled(t *testing.T) {
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/allocs?debug=1", "/debug/pprof/cmdline"} {
		if got := serve(&health{}, path); got != http.StatusNotFound {
			t.Errorf("off: %s = %d, want 404", path, got)
		}
		if got := serve(&health{pprof: true}, path); got != http.StatusOK {
			t.Errorf("on: %s = %d, want 200", path, got)
		}
	}
}
