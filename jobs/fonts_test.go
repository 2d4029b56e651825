package jobs_test

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"testing"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"

	"github.com/folio-ocr/folio/internal/pdfgen"
	"github.com/folio-ocr/folio/jobs"
	"github.com/folio-ocr/folio/pipeline"
)

// TestFontsSampledOnceAtPlan: a file's fonts are sampled once, when it is
// planned, and its ranges lay their pages out with that sample instead of
// sampling again; a file whose sample fails (a broken page among the
// sampled ones) still comes out whole, every page with its text.
func TestFontsSampledOnceAtPlan(t *testing.T) {
	for _, fail := range []bool{false, true} {
		t.Run(fmt.Sprintf("sample fails %v", fail), func(t *testing.T) {
			opener := &samplingOpener{Opener: sharedPDF, fail: fail}
			b := setup(t, 0, func(h *jobs.Handlers) { h.Openers[pipeline.MIMEPDF] = opener })
			uri := b.upload(t, "in/eleven.pdf", pdfgen.Document(11))
			op := b.wait(t, b.submit(t, fileRequest(uri, "gs://"+bucket+"/out/", 3)))
			if op.State != visionpb.OperationMetadata_DONE || op.PagesDone != 11 || op.ErrorCode != 0 {
				t.Fatalf("operation ended %v code %d %q, %d pages", op.State, op.ErrorCode, op.ErrorMessage, op.PagesDone)
			}
			if got := opener.samples.Load(); got != 1 {
				t.Errorf("fonts sampled %d times for 4 ranges, want once, at plan", got)
			}
			outs := b.outputs(t, "out/")
			if len(outs) != 4 {
				t.Fatalf("%d outputs, want 4", len(outs))
			}
			for name, o := range outs {
				for _, r := range o.GetResponses() {
					if r.GetError() != nil || r.GetFullTextAnnotation().GetText() == "" {
						t.Errorf("%s page %d: error %v, text %q", name, r.GetContext().GetPageNumber(), r.GetError(), r.GetFullTextAnnotation().GetText())
					}
				}
			}
		})
	}
}

// samplingOpener opens documents that count their font samples and, with
// fail set, fail them as a broken page would.
type samplingOpener struct {
	pipeline.Opener
	fail    bool
	samples atomic.Int32
}

func (o *samplingOpener) Open(ctx context.Context, r io.ReadSeeker, size int64) (pipeline.Document, error) {
	d, err := o.Opener.Open(ctx, r, size)
	if err != nil {
		return nil, err
	}
	return &samplingDoc{Document: d, o: o}, nil
}

type samplingDoc struct {
	pipeline.Document
	o *samplingOpener
}

func (d *samplingDoc) SampleFonts(ctx context.Context, pages []int) (*pipeline.Fonts, error) {
	d.o.samples.Add(1)
	if d.o.fail {
		return nil, fmt.Errorf("sample fonts of pdf page %d: %w", pages[0], pipeline.ErrInvalidInput)
	}
	return d.Document.(pipeline.FontSampler).SampleFonts(ctx, pages)
}
