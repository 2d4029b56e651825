package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// Readiness is on until the drain begins and off after; liveness stays on.
func TestHealthProbes(t *testing.T) {
	h := &health{}
	mux := http.NewServeMux()
	for pattern, handler := range h.routes() {
		mux.Handle(pattern, handler)
	}
	probe := func(path string) int {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code
	}
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
		if got := probe("/healthz"); got != tt.healthz {
			t.Errorf("draining %v: /healthz = %d, want %d", tt.draining, got, tt.healthz)
		}
		if got := probe("/readyz"); got != tt.ready {
			t.Errorf("draining %v: /readyz = %d, want %d", tt.draining, got, tt.ready)
		}
	}
}
