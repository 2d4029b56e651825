package e2e

import (
	"net/http"
	"testing"
	"time"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/folio-ocr/folio/internal/freeport"
	"github.com/folio-ocr/folio/internal/localrun"
	"github.com/folio-ocr/folio/internal/pdfgen"
)

// metricsAddr returns a loopback address with a port that was free just now
// (see freeport).
func metricsAddr(t *testing.T) string {
	t.Helper()
	addr, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// scrape reads http://addr/metrics as Prometheus would, by family name.
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s/metrics: %s", addr, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s/metrics: %v", addr, err)
	}
	return mfs
}

// sample returns the value of the series of family name whose labels
// include the given name, value pairs (a histogram's count), and whether
// there is one.
func sample(mfs map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
series:
	for _, m := range mfs[name].GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, l := range m.GetLabel() {
				found = found || l.GetName() == labels[i] && l.GetValue() == labels[i+1]
			}
			if !found {
				continue series
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		case m.Untyped != nil:
			return m.GetUntyped().GetValue(), true
		}
	}
	return 0, false
}

// want checks series of a scrape: family name, label pairs, value.
func want(t *testing.T, what string, mfs map[string]*dto.MetricFamily, name string, value float64, labels ...string) {
	t.Helper()
	got, ok := sample(mfs, name, labels...)
	if !ok {
		t.Errorf("%s: no series %s%v", what, name, labels)
	} else if got != value {
		t.Errorf("%s: %s%v = %v, want %v", what, name, labels, got, value)
	}
}

// The api's /metrics gives the fleet's backlog, the autoscaling signal:
// an operation waiting for a worker is CREATED, its pages pending once a
// worker plans it, and nothing is pending when it is done. The worker's
// /metrics counts its pages, ranges and input cache; both count the work
// of their own process exactly.
func TestMetricsEndpoints(t *testing.T) {
	apiMetrics, workerMetrics := metricsAddr(t), metricsAddr(t)
	f := start(t, 0, func(o *localrun.Options) { o.APIEnv = append(o.APIEnv, "METRICS_ADDR="+apiMetrics) })
	ctx := testContext(t, 2*time.Minute)
	const pages = 120
	uri := f.Upload("in/metrics.pdf", pdfgen.Document(pages))
	op, err := f.clientOver("grpc").AsyncBatchAnnotateFiles(ctx, &visionpb.AsyncBatchAnnotateFilesRequest{
		Requests: []*visionpb.AsyncAnnotateFileRequest{request(uri, "gs://"+bucket+"/out/metrics/", 1)}})
	if err != nil {
		t.Fatal(err)
	}

	// No worker yet: the operation waits, CREATED, with no pages known.
	m := scrape(t, apiMetrics)
	want(t, "before a worker", m, "folio_operations", 1, "state", "CREATED")
	want(t, "before a worker", m, "folio_operations", 0, "state", "RUNNING")
	want(t, "before a worker", m, "folio_pages_pending", 0)

	// One range at a time, so that the job lasts a while.
	if _, err := f.Cluster.StartWorker("WORKER_CONCURRENCY=1", "METRICS_ADDR="+workerMetrics); err != nil {
		t.Fatal(err)
	}
	maxPending, polls := 0.0, 0
	for done := false; !done; polls++ {
		m := scrape(t, apiMetrics)
		pending, ok := sample(m, "folio_pages_pending")
		if !ok || pending < 0 || pending > pages {
			t.Fatalf("poll %d: folio_pages_pending = %v (present %v), want 0..%d", polls, pending, ok, pages)
		}
		maxPending = max(maxPending, pending)
		if _, err := op.Poll(ctx); err != nil {
			t.Fatal(err)
		}
		done = op.Done()
		select {
		case <-ctx.Done():
			t.Fatalf("operation not done after %d polls", polls)
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Logf("%d polls; most pages pending seen: %v", polls, maxPending)
	if maxPending == 0 {
		t.Error("no scrape saw pages pending while the operation ran")
	}

	m = scrape(t, apiMetrics)
	want(t, "api after", m, "folio_pages_pending", 0)
	want(t, "api after", m, "folio_operations", 0, "state", "CREATED")
	want(t, "api after", m, "folio_operations", 0, "state", "RUNNING")
	want(t, "api after", m, "folio_backlog_read_errors_total", 0)
	want(t, "api after", m, "folio_api_requests_total", 1, "transport", "grpc", "method", "AsyncBatchAnnotateFiles", "code", "OK")
	want(t, "api after", m, "folio_api_request_duration_seconds", 1, "transport", "grpc", "method", "AsyncBatchAnnotateFiles")
	if n, _ := sample(m, "folio_api_requests_total", "transport", "grpc", "method", "GetOperation", "code", "OK"); n < float64(polls) {
		t.Errorf("api after: GetOperation calls counted %v, want at least the %d polls", n, polls)
	}
	if _, ok := sample(m, "go_goroutines"); !ok {
		t.Error("api: no go_goroutines")
	}

	// The worker counts a range and its last page just after the writes
	// that let the operation finish, so a scrape at Done may be early.
	waitFor(t, 10*time.Second, func() bool {
		m = scrape(t, workerMetrics)
		r, _ := sample(m, "folio_range_duration_seconds", "task", "range")
		p, _ := sample(m, "folio_pages_processed_total", "route", "text")
		return r == pages && p == pages
	})
	want(t, "worker after", m, "folio_pages_processed_total", pages, "route", "text")
	want(t, "worker after", m, "folio_pages_processed_total", 0, "route", "ocr")
	want(t, "worker after", m, "folio_pages_failed_total", 0, "route", "none")
	want(t, "worker after", m, "folio_page_duration_seconds", pages, "route", "text")
	want(t, "worker after", m, "folio_range_duration_seconds", pages, "task", "range")
	want(t, "worker after", m, "folio_input_cache_requests_total", 1, "result", "miss")
	want(t, "worker after", m, "folio_input_cache_requests_total", pages, "result", "hit")
	want(t, "worker after", m, "folio_ocr_engines_busy", 0)
	want(t, "worker after", m, "folio_janitor_actions_total", 0, "action", "operation_resubmitted")
	for _, name := range []string{"folio_ocr_engines", "folio_input_cache_bytes", "folio_input_cache_fetched_bytes_total",
		"folio_task_retries_total", "process_resident_memory_bytes"} {
		if _, ok := sample(m, name); !ok {
			t.Errorf("worker: no %s", name)
		}
	}
}
