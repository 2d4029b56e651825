package jobs

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"sync/atomic"
	"testing"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"go.uber.org/zap/zaptest"

	"github.com/folio-ocr/folio/filecache"
	"github.com/folio-ocr/folio/pipeline"
)

// fontsOpener opens any content as a five-page text document whose font
// samples it counts; with fail set, every sample fails.
type fontsOpener struct {
	fail    bool
	samples atomic.Int32
}

func (o *fontsOpener) Open(_ context.Context, r io.ReadSeeker, _ int64) (pipeline.Document, error) {
	if _, err := io.ReadAll(r); err != nil {
		return nil, err
	}
	return &fontsDoc{o: o}, nil
}

type fontsDoc struct{ o *fontsOpener }

func (*fontsDoc) PageCount() int { return 5 }
func (*fontsDoc) Close() error   { return nil }

func (*fontsDoc) Page(ctx context.Context, n int) (*pipeline.Page, error) {
	p, err := fakeDoc{}.Page(ctx, 1) // its page 2 panics
	p.Number = n
	return p, err
}

func (*fontsDoc) Raster(context.Context, int, pipeline.RasterOptions) (*pipeline.Raster, error) {
	panic("test: not reached: the handlers have no OCR")
}

func (d *fontsDoc) SampleFonts(_ context.Context, pages []int) (*pipeline.Fonts, error) {
	d.o.samples.Add(1)
	if d.o.fail {
		return nil, errors.New("test: a broken page among the sampled")
	}
	return &pipeline.Fonts{Sizes: []float64{10}}, nil
}

// TestSyncSamplesFontsOnce: a synchronous call samples its file's fonts
// once, before its first text-layer page, whatever the number of pages it
// asks for; a sample that fails leaves every page its text.
func TestSyncSamplesFontsOnce(t *testing.T) {
	for _, fail := range []bool{false, true} {
		files, err := filecache.New(filepath.Join(t.TempDir(), "files"), 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		o := &fontsOpener{fail: fail}
		h := &Handlers{Files: files, Logger: zaptest.NewLogger(t), Openers: map[string]pipeline.Opener{pipeline.MIMEPDF: o}}
		req := &visionpb.AnnotateFileRequest{
			Features:    []*visionpb.Feature{{Type: visionpb.Feature_DOCUMENT_TEXT_DETECTION}},
			Pages:       []int32{1, 3, 4, 5},
			InputConfig: &visionpb.InputConfig{Content: []byte("%PDF-fonts"), MimeType: pipeline.MIMEPDF},
		}
		fr, err := h.syncFile(context.Background(), req, h.Logger)
		if err != nil || fr.GetError() != nil || len(fr.GetResponses()) != 4 {
			t.Fatalf("fail %v: syncFile = %v, %v; want four page responses", fail, fr, err)
		}
		for i, r := range fr.GetResponses() {
			if r.GetError() != nil || r.GetFullTextAnnotation().GetText() == "" {
				t.Errorf("fail %v: response %d: error %v, text %q", fail, i, r.GetError(), r.GetFullTextAnnotation().GetText())
			}
		}
		if got := o.samples.Load(); got != 1 {
			t.Errorf("fail %v: fonts sampled %d times for 4 pages, want once", fail, got)
		}
	}
}
