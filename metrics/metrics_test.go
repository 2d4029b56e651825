package metrics_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap/zaptest"

	"github.com/folio-ocr/folio/metrics"
	"github.com/folio-ocr/folio/store"
)

// Every metric the worker registers is named folio_..., with a unit or
// _total, and is there (at zero) before anything happened.
func TestWorkerMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := metrics.NewWorker(reg, metrics.WorkerGauges{
		OCREngines: 4, OCRBusy: func() int { return 3 }, CacheBytes: func() int64 { return 1 << 20 },
	})
	m.Init([]string{"text", "ocr"}, []string{"vision:annotate_range"})
	m.PageRouted("ocr")
	m.PageRouted("ocr")
	m.PageFailed("ocr")
	m.PageTook("ocr", 1500*time.Millisecond)
	m.RangeTook("range", 3*time.Second)
	m.TaskRetry("vision:annotate_range")
	m.CacheMiss(300)
	m.CacheHit()
	m.CacheHit()
	m.JanitorAction(metrics.JanitorResubmittedOperation)

	want := `
# HELP folio_pages_processed_total Pages annotated, by route: text (the PDF's text layer) or ocr.
# TYPE folio_pages_processed_total counter
folio_pages_processed_total{route="ocr"} 2
folio_pages_processed_total{route="text"} 0
# HELP folio_pages_failed_total Pages written as an error entry, by route (none: the page could not be read).
# TYPE folio_pages_failed_total counter
folio_pages_failed_total{route="none"} 0
folio_pages_failed_total{route="ocr"} 1
folio_pages_failed_total{route="text"} 0
# HELP folio_input_cache_requests_total Opens of an input file, by result: hit (cached) or miss (downloaded).
# TYPE folio_input_cache_requests_total counter
folio_input_cache_requests_total{result="hit"} 2
folio_input_cache_requests_total{result="miss"} 1
# HELP folio_input_cache_fetched_bytes_total Bytes downloaded into the input cache.
# TYPE folio_input_cache_fetched_bytes_total counter
folio_input_cache_fetched_bytes_total 300
# HELP folio_input_cache_bytes Bytes the input file cache holds.
# TYPE folio_input_cache_bytes gauge
folio_input_cache_bytes 1.048576e+06
# HELP folio_ocr_engines Tesseract engines of the worker (OCR_ENGINES).
# TYPE folio_ocr_engines gauge
folio_ocr_engines 4
# HELP folio_ocr_engines_busy Tesseract engines recognizing a page now.
# TYPE folio_ocr_engines_busy gauge
folio_ocr_engines_busy 3
# HELP folio_janitor_actions_total What the janitor did: archived_task_reaped, operation_failed, operation_resubmitted, task_rescued, operation_deadline_exceeded.
# TYPE folio_janitor_actions_total counter
folio_janitor_actions_total{action="archived_task_reaped"} 0
folio_janitor_actions_total{action="operation_deadline_exceeded"} 0
folio_janitor_actions_total{action="operation_failed"} 0
folio_janitor_actions_total{action="operation_resubmitted"} 1
folio_janitor_actions_total{action="task_rescued"} 0
# HELP folio_task_retries_total Tasks that failed and will be retried, by task type.
# TYPE folio_task_retries_total counter
folio_task_retries_total{task_type="vision:annotate_range"} 1
`
	names := []string{"folio_pages_processed_total", "folio_pages_failed_total", "folio_input_cache_requests_total",
		"folio_input_cache_fetched_bytes_total", "folio_input_cache_bytes", "folio_ocr_engines", "folio_ocr_engines_busy",
		"folio_janitor_actions_total", "folio_task_retries_total"}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(reg, "folio_page_duration_seconds", "folio_range_duration_seconds"); n != 3 {
		t.Errorf("histogram series = %d, want 3: pages by text and ocr (Init), ranges by range", n)
	}
	checkNames(t, reg)
}

// checkNames fails t for a metric of reg that does not follow Folio's
// naming: folio_ prefix, snake case, and a unit or _total.
func checkNames(t *testing.T, reg prometheus.Gatherer) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %+v", err, problems)
	}
	for _, mf := range mfs {
		name := mf.GetName()
		if strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") {
			continue
		}
		if !strings.HasPrefix(name, "folio_") || strings.ToLower(name) != name {
			t.Errorf("%s: want folio_ and snake case", name)
		}
	}
}

// A nil metric set records nothing and does not panic.
func TestNilMetrics(t *testing.T) {
	var w *metrics.Worker
	w.Init([]string{"text"}, nil)
	w.PageRouted("text")
	w.PageFailed("text")
	w.PageTook("text", time.Second)
	w.RangeTook("range", time.Second)
	w.TaskRetry("x")
	w.TaskFailure("x")
	w.CacheHit()
	w.CacheMiss(1)
	w.JanitorAction(metrics.JanitorReapedTask)
	var a *metrics.API
	a.Observe(metrics.TransportREST, "GetOperation", "OK", time.Millisecond)
}

// backlogFunc adapts a function to metrics.BacklogReader.
type backlogFunc func(ctx context.Context) (store.Backlog, error)

func (f backlogFunc) Backlog(ctx context.Context) (store.Backlog, error) { return f(ctx) }

// The backlog collector reports what the store reads at each scrape, the
// unfinished states at zero too; a failed read leaves the gauges out and
// is counted; a read is bounded by the timeout.
func TestBacklogCollector(t *testing.T) {
	var next func(ctx context.Context) (store.Backlog, error)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(metrics.NewBacklogCollector(backlogFunc(func(ctx context.Context) (store.Backlog, error) { return next(ctx) }),
		50*time.Millisecond, zaptest.NewLogger(t)))
	names := []string{"folio_pages_pending", "folio_operations", "folio_backlog_read_errors_total"}
	head := `
# HELP folio_backlog_read_errors_total Scrapes that could not read folio_pages_pending and folio_operations from Redis.
# TYPE folio_backlog_read_errors_total counter
`
	gauges := `
# HELP folio_operations Unfinished operations by state: CREATED (waiting for a worker to plan it) and RUNNING.
# TYPE folio_operations gauge
# HELP folio_pages_pending Pages planned but not yet completed, plus one per file not yet planned of a running operation, over all unfinished operations (the autoscaling signal).
# TYPE folio_pages_pending gauge
`
	next = func(context.Context) (store.Backlog, error) {
		return store.Backlog{PagesPending: 42, Operations: map[store.State]int64{visionpb.OperationMetadata_RUNNING: 2}}, nil
	}
	want := head + "folio_backlog_read_errors_total 0\n" + gauges + `folio_operations{state="CREATED"} 0
folio_operations{state="RUNNING"} 2
folio_pages_pending 42
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}

	next = func(ctx context.Context) (store.Backlog, error) {
		<-ctx.Done() // Redis does not answer
		return store.Backlog{}, errors.Join(store.ErrUnavailable, ctx.Err())
	}
	start := time.Now()
	want = head + "folio_backlog_read_errors_total 1\n"
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("scrape took %s with a 50ms timeout", d)
	}
	checkNames(t, reg)
}

// The handler serves the text format, with the Go and process collectors
// of NewRegistry.
func TestHandler(t *testing.T) {
	reg := metrics.NewRegistry()
	metrics.NewAPI(reg).Observe(metrics.TransportGRPC, "GetOperation", "NOT_FOUND", 3*time.Millisecond)
	srv := httptest.NewServer(metrics.Handler(reg))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	for _, want := range []string{
		`folio_api_requests_total{code="NOT_FOUND",method="GetOperation",transport="grpc"} 1`,
		`folio_api_request_duration_seconds_count{method="GetOperation",transport="grpc"} 1`,
		"go_goroutines ", "process_cpu_seconds_total ",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	checkNames(t, reg)
}
