package jobs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/folio-ocr/folio/internal/pdfgen"
	"github.com/folio-ocr/folio/jobs"
	"github.com/folio-ocr/folio/metrics"
	"github.com/folio-ocr/folio/pipeline"
	"github.com/folio-ocr/folio/rpcerr"
	"github.com/folio-ocr/folio/store"
	"github.com/folio-ocr/folio/store/storetest"
)

// withMetrics returns a setup option that records into a fresh registry,
// and the registry.
func withMetrics() (func(*jobs.Handlers), *prometheus.Registry) {
	reg := prometheus.NewRegistry()
	return func(h *jobs.Handlers) {
		h.Metrics = metrics.NewWorker(reg, metrics.WorkerGauges{CacheBytes: h.Files.Size})
	}, reg
}

// metricValue returns the value of the series of reg named name with the
// given label pairs: a counter's or gauge's value, a histogram's count. It
// fails t if there is no such series.
func metricValue(t *testing.T, reg prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				if !hasLabel(m, labels[i], labels[i+1]) {
					continue series
				}
			}
			switch {
			case m.Counter != nil:
				return m.GetCounter().GetValue()
			case m.Gauge != nil:
				return m.GetGauge().GetValue()
			case m.Histogram != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return 0
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue() == value
		}
	}
	return false
}

// wantMetrics checks series of reg: name, label pairs, value. The
// operation is done when its last range is recorded, a moment before that
// range's task records its duration, so the series are read again for up
// to 5 s until they all match.
func wantMetrics(t *testing.T, reg prometheus.Gatherer, want []metricWant) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var wrong []string
		for _, w := range want {
			if got := metricValue(t, reg, w.name, w.labels...); got != w.value {
				wrong = append(wrong, fmt.Sprintf("%s%v = %v, want %v", w.name, w.labels, got, w.value))
			}
		}
		if len(wrong) == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, w := range wrong {
				t.Error(w)
			}
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type metricWant struct {
	name   string
	labels []string
	value  float64
}

// firstFails fails its first recognition as a page failure (deadline
// exceeded) and recognizes the others.
type firstFails struct{ calls atomic.Int32 }

func (o *firstFails) Recognize(context.Context, *pipeline.Raster, pipeline.OCROptions) (*visionpb.TextAnnotation, error) {
	if o.calls.Add(1) == 1 {
		return nil, &rpcerr.Error{Code: codes.DeadlineExceeded, Message: "OCR took too long"}
	}
	return &visionpb.TextAnnotation{Text: "recognized"}, nil
}

// Annotating records pages by route, failed pages, page and range
// latencies, and the input cache: one download per file, hits after.
func TestWorkerMetrics(t *testing.T) {
	t.Run("text layer", func(t *testing.T) {
		opt, reg := withMetrics()
		b := setup(t, 0, opt)
		pdf := pdfgen.Document(5)
		uri := b.upload(t, "in/text.pdf", pdf)
		b.wait(t, b.submit(t, fileRequest(uri, "gs://"+bucket+"/out/", 2)))
		wantMetrics(t, reg, []metricWant{
			{"folio_pages_processed_total", []string{"route", "text"}, 5},
			{"folio_pages_processed_total", []string{"route", "ocr"}, 0},
			{"folio_pages_failed_total", []string{"route", "none"}, 0},
			{"folio_page_duration_seconds", []string{"route", "text"}, 5},
			{"folio_range_duration_seconds", []string{"task", "range"}, 3},
			// The plan task downloads the file; its three ranges find it.
			{"folio_input_cache_requests_total", []string{"result", "miss"}, 1},
			{"folio_input_cache_requests_total", []string{"result", "hit"}, 3},
			{"folio_input_cache_fetched_bytes_total", nil, float64(len(pdf))},
			{"folio_input_cache_bytes", nil, float64(len(pdf))},
			{"folio_task_failures_total", []string{"task_type", jobs.TypeAnnotateRange}, 0},
		})
	})
	t.Run("ocr", func(t *testing.T) {
		opt, reg := withMetrics()
		b := setup(t, 0, opt, func(h *jobs.Handlers) {
			h.OCR, h.OCRParallel, h.UnitPages = &firstFails{}, 1, 2
			h.Router = pipeline.Router{Policy: pipeline.TextLayerNever}
		})
		uri := b.upload(t, "in/ocr.pdf", pdfgen.Document(3))
		b.wait(t, b.submit(t, fileRequest(uri, "gs://"+bucket+"/out/", 3)))
		wantMetrics(t, reg, []metricWant{
			{"folio_pages_processed_total", []string{"route", "ocr"}, 3},
			{"folio_pages_failed_total", []string{"route", "ocr"}, 1},
			{"folio_page_duration_seconds", []string{"route", "ocr"}, 3},
			// One range of two units (pages 1-2, 3), merged once.
			{"folio_range_duration_seconds", []string{"task", "unit"}, 2},
			{"folio_range_duration_seconds", []string{"task", "merge"}, 1},
		})
	})
	t.Run("failure", func(t *testing.T) {
		opt, reg := withMetrics()
		b := setup(t, 0, opt)
		op := b.wait(t, b.submit(t, fileRequest("gs://"+bucket+"/in/missing.pdf", "gs://"+bucket+"/out/", 2)))
		if op.ErrorCode != int32(codes.NotFound) {
			t.Fatalf("operation ended with code %d, want NOT_FOUND", op.ErrorCode)
		}
		wantMetrics(t, reg, []metricWant{
			{"folio_task_failures_total", []string{"task_type", jobs.TypePlanFile}, 1},
			{"folio_task_retries_total", []string{"task_type", jobs.TypePlanFile}, 0},
		})
	})
}

// The janitor counts the archived tasks it reaps, the operations it fails
// for them and the operations it resubmits.
func TestJanitorMetrics(t *testing.T) {
	opt, reg := withMetrics()
	var h *jobs.Handlers
	b := setup(t, 0, opt, func(x *jobs.Handlers) { h = x })
	ctx := context.Background()
	newOp := func(created time.Time) *store.Operation {
		op := &store.Operation{ID: storetest.UniqueID(), APIVersion: "v1", CreateTime: created,
			Request: &visionpb.AsyncBatchAnnotateFilesRequest{Requests: []*visionpb.AsyncAnnotateFileRequest{
				fileRequest("gs://"+bucket+"/in/none.pdf", "gs://"+bucket+"/out/", 2)}}}
		op.Name = "operations/" + op.ID
		if err := b.ops.Create(ctx, op); err != nil {
			t.Fatal(err)
		}
		return op
	}

	// An archived range of an operation: reaped, and the operation failed.
	archived := newOp(time.Now())
	reqJSON, _ := protojson.Marshal(archived.Request.GetRequests()[0])
	payload, _ := json.Marshal(jobs.AnnotateRangePayload{
		FileTask: jobs.FileTask{Operation: archived.ID, Request: reqJSON}, First: 1, Last: 2})
	c := asynq.NewClientFromRedisClient(b.rdb)
	defer func() { _ = c.Close() }()
	insp := asynq.NewInspectorFromRedisClient(b.rdb)
	defer func() { _ = insp.Close() }()
	const archive = "archive" // a queue no server serves
	t.Cleanup(func() { cleanQueue(t, b.rdb, archive+b.queue) })
	info, err := c.EnqueueContext(ctx, asynq.NewTask(jobs.TypeAnnotateRange, payload), asynq.Queue(archive+b.queue))
	if err != nil {
		t.Fatal(err)
	}
	if err := insp.ArchiveTask(archive+b.queue, info.ID); err != nil {
		t.Fatal(err)
	}
	if n, err := h.ReapArchived(ctx, insp, archive+b.queue); err != nil || n != 1 {
		t.Fatalf("ReapArchived = %d, %v; want 1", n, err)
	}

	// An operation stuck in CREATED: resubmitted (it then fails: no input).
	stuck := newOp(time.Now().Add(-5 * time.Minute))
	if n, err := h.ResubmitStuck(ctx, time.Now()); err != nil || n != 1 {
		t.Fatalf("ResubmitStuck = %d, %v; want 1", n, err)
	}
	b.wait(t, stuck.ID)

	wantMetrics(t, reg, []metricWant{
		{"folio_janitor_actions_total", []string{"action", metrics.JanitorReapedTask}, 1},
		{"folio_janitor_actions_total", []string{"action", metrics.JanitorFailedOperation}, 1},
		{"folio_janitor_actions_total", []string{"action", metrics.JanitorResubmittedOperation}, 1},
	})
}
