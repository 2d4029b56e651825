package jobs_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"

	"github.com/folio-ocr/folio/internal/pdfgen"
	"github.com/folio-ocr/folio/jobs"
	"github.com/folio-ocr/folio/pipeline"
	"github.com/folio-ocr/folio/rpcerr"
	"github.com/folio-ocr/folio/store"
)

// A range's failed pages reach the store with its completion, counted once
// whether the range is annotated whole or in units that the last one
// merges (the merging worker counts the failed pages of every unit).
func TestFailedPagesRecorded(t *testing.T) {
	for _, unit := range []int{0, 1, 2} {
		t.Run(fmt.Sprintf("units of %d pages", unit), func(t *testing.T) {
			b := setup(t, 0, func(h *jobs.Handlers) { h.PageTimeout, h.UnitPages = time.Nanosecond, unit })
			uri := b.upload(t, "in/slow.pdf", pdfgen.Document(5))
			id := b.submit(t, fileRequest(uri, "gs://"+bucket+"/out/", 3))
			b.wait(t, id)
			p, err := b.ops.Progress(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			want := []store.RangeProgress{
				{Range: store.Range{File: 0, First: 1, Last: 3}, Done: true, FailedPages: 3},
				{Range: store.Range{File: 0, First: 4, Last: 5}, Done: true, FailedPages: 2},
			}
			if diff := cmp.Diff(want, p.Ranges); diff != "" {
				t.Errorf("ranges (-want +got):\n%s", diff)
			}
		})
	}
}

// failingOCR fails every page with DEADLINE_EXCEEDED, a page failure, once
// at least two calls are in flight (or after a second), so that pages fail
// on two goroutines at once.
type failingOCR struct{ inFlight, together atomic.Int32 }

func (o *failingOCR) Recognize(ctx context.Context, _ *pipeline.Raster, _ pipeline.OCROptions) (*visionpb.TextAnnotation, error) {
	defer o.inFlight.Add(-1)
	if n := o.inFlight.Add(1); n >= 2 {
		o.together.Store(n)
	}
	for deadline := time.Now().Add(time.Second); o.inFlight.Load() < 2 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	return nil, &rpcerr.Error{Code: codes.DeadlineExceeded, Message: "OCR took too long"}
}

// Pages OCR'd concurrently that fail together are each counted once (under
// -race, the count is shared by the OCR goroutines).
func TestConcurrentPageFailuresCounted(t *testing.T) {
	ocr := &failingOCR{}
	b := setup(t, 0, func(h *jobs.Handlers) {
		h.OCR, h.OCRParallel, h.UnitPages = ocr, 4, 0
		h.Router = pipeline.Router{Policy: pipeline.TextLayerNever}
	})
	uri := b.upload(t, "in/ocr.pdf", pdfgen.Document(4))
	id := b.submit(t, fileRequest(uri, "gs://"+bucket+"/out/", 4))
	b.wait(t, id)
	if ocr.together.Load() < 2 {
		t.Error("no two pages were OCR'd at once")
	}
	p, err := b.ops.Progress(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.RangeProgress{{Range: store.Range{File: 0, First: 1, Last: 4}, Done: true, FailedPages: 4}}
	if diff := cmp.Diff(want, p.Ranges); diff != "" {
		t.Errorf("ranges (-want +got):\n%s", diff)
	}
}
