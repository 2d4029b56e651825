package metrics

import (
	"context"
	"slices"
	"time"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/folio-ocr/folio/store"
)

// DefaultBacklogTimeout bounds the backlog read of one scrape when
// NewBacklogCollector is given no timeout.
const DefaultBacklogTimeout = time.Second

// BacklogReader reads the backlog of the unfinished operations;
// *store.RedisOperations is one.
type BacklogReader interface {
	Backlog(ctx context.Context) (store.Backlog, error)
}

// backlogCollector exports a BacklogReader's backlog, read at each scrape.
type backlogCollector struct {
	r       BacklogReader
	timeout time.Duration
	logger  *zap.Logger

	pages, ops *prometheus.Desc
	errors     prometheus.Counter
}

// NewBacklogCollector returns a collector of folio_pages_pending and
// folio_operations{state}, read from r at each scrape within timeout
// (DefaultBacklogTimeout if zero), and of folio_backlog_read_errors_total.
// A read that fails leaves the two gauges out of that scrape, is counted
// and logged at warn level.
func NewBacklogCollector(r BacklogReader, timeout time.Duration, logger *zap.Logger) prometheus.Collector {
	if timeout <= 0 {
		timeout = DefaultBacklogTimeout
	}
	return &backlogCollector{
		r: r, timeout: timeout, logger: logger,
		pages: prometheus.NewDesc("folio_pages_pending",
			"Pages planned but not yet completed, plus one per file not yet planned of a running operation, over all unfinished operations (the autoscaling signal).", nil, nil),
		ops: prometheus.NewDesc("folio_operations",
			"Unfinished operations by state: CREATED (waiting for a worker to plan it) and RUNNING.", []string{"state"}, nil),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "folio_backlog_read_errors_total",
			Help: "Scrapes that could not read folio_pages_pending and folio_operations from Redis.",
		}),
	}
}

// Describe implements prometheus.Collector.
func (c *backlogCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.pages
	ch <- c.ops
	c.errors.Describe(ch)
}

// unfinished are the states folio_operations always reports, at zero too.
var unfinished = []store.State{visionpb.OperationMetadata_CREATED, visionpb.OperationMetadata_RUNNING}

// Collect implements prometheus.Collector.
func (c *backlogCollector) Collect(ch chan<- prometheus.Metric) {
	defer c.errors.Collect(ch)
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	b, err := c.r.Backlog(ctx)
	if err != nil {
		c.errors.Inc()
		c.logger.Warn("cannot read the backlog for metrics", zap.Error(err))
		return
	}
	ch <- prometheus.MustNewConstMetric(c.pages, prometheus.GaugeValue, float64(b.PagesPending))
	states := slices.Clone(unfinished)
	for st := range b.Operations {
		if !slices.Contains(states, st) {
			states = append(states, st)
		}
	}
	for _, st := range states {
		ch <- prometheus.MustNewConstMetric(c.ops, prometheus.GaugeValue, float64(b.Operations[st]), st.String())
	}
}
