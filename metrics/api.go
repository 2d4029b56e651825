package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Transports, the transport label of the api's metrics.
const (
	TransportREST = "rest"
	TransportGRPC = "grpc"
)

// API holds the request metrics of an api process. Its methods are safe
// for concurrent use and do nothing on a nil *API.
type API struct {
	requests *prometheus.CounterVec
	seconds  *prometheus.HistogramVec
}

// NewAPI registers folio_api_requests_total and
// folio_api_request_duration_seconds on reg.
func NewAPI(reg prometheus.Registerer) *API {
	m := &API{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "folio_api_requests_total",
			Help: "Calls answered, by transport (rest, grpc), method (gRPC method name; unknown for a REST path that names none) and google.rpc code.",
		}, []string{"transport", "method", "code"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "folio_api_request_duration_seconds",
			Help:    "Time to answer a call, by transport and method.",
			Buckets: requestBuckets,
		}, []string{"transport", "method"}),
	}
	reg.MustRegister(m.requests, m.seconds)
	return m
}

// Observe records one call of method over transport, answered with the
// google.rpc code named code (OK, NOT_FOUND, ...) after d.
func (m *API) Observe(transport, method, code string, d time.Duration) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(transport, method, code).Inc()
	m.seconds.WithLabelValues(transport, method).Observe(d.Seconds())
}
