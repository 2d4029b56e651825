package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Label values that the package owns.
const (
	// RouteNone is the route label of a page that failed before it was
	// routed (it could not be read).
	RouteNone = "none"

	// CacheResultHit and CacheResultMiss are the result label of
	// folio_input_cache_requests_total.
	CacheResultHit  = "hit"
	CacheResultMiss = "miss"

	// Janitor actions, the action label of folio_janitor_actions_total:
	// an archived task deleted after its operation was ended, an
	// operation failed because its task was archived, an operation still
	// CREATED whose work was enqueued again.
	JanitorReapedTask           = "archived_task_reaped"
	JanitorFailedOperation      = "operation_failed"
	JanitorResubmittedOperation = "operation_resubmitted"
	// JanitorRescuedTask is a task queued again because its worker stopped
	// beating (killed, frozen or cut off).
	JanitorRescuedTask = "task_rescued"
	// JanitorOverdueOperation is an operation ended DEADLINE_EXCEEDED
	// because it outlived the operation deadline.
	JanitorOverdueOperation = "operation_deadline_exceeded"
)

// Worker holds the metrics of a worker process. Its methods are safe for
// concurrent use, and do nothing on a nil *Worker, so that code built
// without metrics (tests) needs no checks.
type Worker struct {
	pages        *prometheus.CounterVec
	pagesFailed  *prometheus.CounterVec
	pageSeconds  *prometheus.HistogramVec
	rangeSeconds *prometheus.HistogramVec
	retries      *prometheus.CounterVec
	failures     *prometheus.CounterVec
	cache        *prometheus.CounterVec
	cacheFetched prometheus.Counter
	janitor      *prometheus.CounterVec
}

// WorkerGauges are the gauges a worker reads from its parts at scrape time.
// A nil function (or zero OCREngines) leaves its gauge out.
type WorkerGauges struct {
	OCREngines int          // folio_ocr_engines: the pool's size
	OCRBusy    func() int   // folio_ocr_engines_busy: engines recognizing now
	CacheBytes func() int64 // folio_input_cache_bytes: what the input cache holds
}

// NewWorker registers the worker's metrics, described in the package
// documentation, on reg.
func NewWorker(reg prometheus.Registerer, g WorkerGauges) *Worker {
	m := &Worker{
		pages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "folio_pages_processed_total",
			Help: "Pages annotated, by route: text (the PDF's text layer) or ocr.",
		}, []string{"route"}),
		pagesFailed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "folio_pages_failed_total",
			Help: "Pages written as an error entry, by route (none: the page could not be read).",
		}, []string{"route"}),
		pageSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "folio_page_duration_seconds",
			Help:    "Time to read and annotate one page, by route (ocr: read, render and recognize).",
			Buckets: durationBuckets,
		}, []string{"route"}),
		rangeSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "folio_range_duration_seconds",
			Help:    "Time of one task that did its work: a whole range (range), one unit of a split range (unit), the merge of its units (merge), a batch of images (images).",
			Buckets: durationBuckets,
		}, []string{"task"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "folio_task_retries_total",
			Help: "Tasks that failed and will be retried, by task type.",
		}, []string{"task_type"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "folio_task_failures_total",
			Help: "Tasks that failed for good (permanent error or retries exhausted), by task type.",
		}, []string{"task_type"}),
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "folio_input_cache_requests_total",
			Help: "Opens of an input file, by result: hit (cached) or miss (downloaded).",
		}, []string{"result"}),
		cacheFetched: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "folio_input_cache_fetched_bytes_total",
			Help: "Bytes downloaded into the input cache.",
		}),
		janitor: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "folio_janitor_actions_total",
			Help: "What the janitor did: archived_task_reaped, operation_failed, operation_resubmitted, task_rescued, operation_deadline_exceeded.",
		}, []string{"action"}),
	}
	reg.MustRegister(m.pages, m.pagesFailed, m.pageSeconds, m.rangeSeconds, m.retries, m.failures,
		m.cache, m.cacheFetched, m.janitor)
	m.pagesFailed.WithLabelValues(RouteNone)
	m.cache.WithLabelValues(CacheResultHit)
	m.cache.WithLabelValues(CacheResultMiss)
	for _, a := range []string{JanitorReapedTask, JanitorFailedOperation, JanitorResubmittedOperation, JanitorRescuedTask, JanitorOverdueOperation} {
		m.janitor.WithLabelValues(a)
	}
	if g.OCREngines > 0 {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "folio_ocr_engines",
			Help: "Tesseract engines of the worker (OCR_ENGINES).",
		}, func() float64 { return float64(g.OCREngines) }))
	}
	if g.OCRBusy != nil {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "folio_ocr_engines_busy",
			Help: "Tesseract engines recognizing a page now.",
		}, func() float64 { return float64(g.OCRBusy()) }))
	}
	if g.CacheBytes != nil {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "folio_input_cache_bytes",
			Help: "Bytes the input file cache holds.",
		}, func() float64 { return float64(g.CacheBytes()) }))
	}
	return m
}

// Init makes the series of the given routes and task types exist, at zero,
// before anything happens, so that rates and alerts see them from the
// start.
func (m *Worker) Init(routes, taskTypes []string) {
	if m == nil {
		return
	}
	for _, r := range routes {
		m.pages.WithLabelValues(r)
		m.pagesFailed.WithLabelValues(r)
		m.pageSeconds.WithLabelValues(r)
	}
	for _, t := range taskTypes {
		m.retries.WithLabelValues(t)
		m.failures.WithLabelValues(t)
	}
}

// PageRouted counts a page sent down route.
func (m *Worker) PageRouted(route string) {
	if m != nil {
		m.pages.WithLabelValues(route).Inc()
	}
}

// PageFailed counts a page written as an error entry.
func (m *Worker) PageFailed(route string) {
	if m != nil {
		m.pagesFailed.WithLabelValues(route).Inc()
	}
}

// PageTook records the time one page took on route.
func (m *Worker) PageTook(route string, d time.Duration) {
	if m != nil {
		m.pageSeconds.WithLabelValues(route).Observe(d.Seconds())
	}
}

// RangeTook records the time of a task that did its work: task is "range",
// "unit", "merge" or "images".
func (m *Worker) RangeTook(task string, d time.Duration) {
	if m != nil {
		m.rangeSeconds.WithLabelValues(task).Observe(d.Seconds())
	}
}

// TaskRetry counts a task that failed and will be retried.
func (m *Worker) TaskRetry(taskType string) {
	if m != nil {
		m.retries.WithLabelValues(taskType).Inc()
	}
}

// TaskFailure counts a task that failed for good.
func (m *Worker) TaskFailure(taskType string) {
	if m != nil {
		m.failures.WithLabelValues(taskType).Inc()
	}
}

// CacheHit counts an input file opened from the cache.
func (m *Worker) CacheHit() {
	if m != nil {
		m.cache.WithLabelValues(CacheResultHit).Inc()
	}
}

// CacheMiss counts an input file downloaded into the cache, of n bytes.
func (m *Worker) CacheMiss(n int64) {
	if m != nil {
		m.cache.WithLabelValues(CacheResultMiss).Inc()
		m.cacheFetched.Add(float64(n))
	}
}

// JanitorAction counts one thing the janitor did (JanitorReapedTask, ...).
func (m *Worker) JanitorAction(action string) {
	if m != nil {
		m.janitor.WithLabelValues(action).Inc()
	}
}
