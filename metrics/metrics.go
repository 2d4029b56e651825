package metrics

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

// Path is where [Serve] serves the metrics.
const Path = "/metrics"

// NewRegistry returns a registry holding the Go runtime and process
// collectors, for one process's metrics.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Handler serves the metrics of reg in Prometheus' text format. A
// collector that fails leaves its metrics out of the scrape and the rest
// are served.
func Handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Serve listens on addr and serves reg at [Path], and the given extra
// routes (http.ServeMux patterns, "GET /readyz" say), in the background;
// the caller closes the returned server. Only the error of listening is
// returned; a later one is logged.
func Serve(addr string, reg *prometheus.Registry, logger *zap.Logger, extra map[string]http.Handler) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("METRICS_ADDR %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+Path, Handler(reg))
	for pattern, h := range extra {
		mux.Handle(pattern, h)
	}
	s := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := s.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("metrics server stopped", zap.Error(err))
		}
	}()
	logger.Info("serving metrics", zap.String("addr", ln.Addr().String()), zap.String("path", Path))
	return s, nil
}

// durationBuckets are the bounds of the work latency histograms: 10 ms to
// 10 min, each about twice the last (a text-layer page takes milliseconds,
// an OCR'd page seconds, a range of OCR'd pages minutes).
var durationBuckets = prometheus.ExponentialBucketsRange(0.01, 600, 17)

// requestBuckets are the bounds of the api's latency histogram: 1 ms to
// 5 min (a synchronous call waits for its pages).
var requestBuckets = prometheus.ExponentialBucketsRange(0.001, 300, 19)
