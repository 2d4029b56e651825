package jobs

import (
	"context"
	"io"
	"path/filepath"
	"testing"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"go.uber.org/zap/zaptest"

	"github.com/folio-ocr/folio/filecache"
	"github.com/folio-ocr/folio/pipeline"
)

// fakeOpener opens any content as a three-page document whose page 2
// panics when read, or panics itself on content "%PDF-open".
type fakeOpener struct{}

func (fakeOpener) Open(_ context.Context, r io.ReadSeeker, _ int64) (pipeline.Document, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	if string(data) == "%PDF-open" {
		panic("test: opening")
	}
	return fakeDoc{}, nil
}

type fakeDoc struct{}

func (fakeDoc) PageCount() int { return 3 }
func (fakeDoc) Close() error   { return nil }

func (fakeDoc) Page(_ context.Context, n int) (*pipeline.Page, error) {
	if n == 2 {
		panic("test: reading page 2")
	}
	p := &pipeline.Page{Number: n, Width: 612, Height: 792}
	for i, r := range "a text layer long enough to be trusted" {
		x := float64(72 + 6*i)
		p.Chars = append(p.Chars, pipeline.Char{Rune: r, Box: pipeline.Rect{Left: x, Bottom: 700, Right: x + 5, Top: 710}})
	}
	return p, nil
}

func (fakeDoc) Raster(context.Context, int, pipeline.RasterOptions) (*pipeline.Raster, error) {
	panic("test: not reached: the handlers have no OCR")
}

// Synchronous calls: a panic in a page's work is that page's INTERNAL
// entry; one outside it (opening the file) is the file's or the image's
// INTERNAL error; either way the call is answered.
func TestSyncPanics(t *testing.T) {
	files, err := filecache.New(filepath.Join(t.TempDir(), "files"), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	h := &Handlers{Files: files, Logger: zaptest.NewLogger(t), Openers: map[string]pipeline.Opener{pipeline.MIMEPDF: fakeOpener{}}}
	ctx := context.Background()
	features := []*visionpb.Feature{{Type: visionpb.Feature_DOCUMENT_TEXT_DETECTION}}
	file := func(content string) *visionpb.AnnotateFileRequest {
		return &visionpb.AnnotateFileRequest{Features: features, Pages: []int32{1, 2, 3},
			InputConfig: &visionpb.InputConfig{Content: []byte(content), MimeType: pipeline.MIMEPDF}}
	}

	fr, err := h.syncFile(ctx, file("%PDF-pages"), h.Logger)
	if err != nil || fr.GetError() != nil || len(fr.GetResponses()) != 3 {
		t.Fatalf("syncFile = %v, %v; want three page responses", fr, err)
	}
	for i, r := range fr.GetResponses() {
		if i == 1 {
			want := "page 2 of the inline content: internal error while extracting text"
			if r.GetError().GetCode() != 13 || r.GetError().GetMessage() != want {
				t.Errorf("page 2: error %v; want 13 %q", r.GetError(), want)
			}
		} else if r.GetError() != nil || r.GetFullTextAnnotation().GetText() == "" {
			t.Errorf("page %d: error %v, text %q", i+1, r.GetError(), r.GetFullTextAnnotation().GetText())
		}
	}

	fr, err = h.syncFile(ctx, file("%PDF-open"), h.Logger)
	if want := "internal error while reading the inline content"; err != nil || fr.GetError().GetCode() != 13 || fr.GetError().GetMessage() != want {
		t.Errorf("syncFile of a file that panics when opened = %v, %v; want error 13 %q", fr, err, want)
	}

	img := func(content string) *visionpb.AnnotateImageRequest {
		return &visionpb.AnnotateImageRequest{Features: features, Image: &visionpb.Image{Content: []byte(content)}}
	}
	ir, err := h.syncImage(ctx, 0, img("%PDF-open"), h.Logger)
	if want := "internal error while reading requests[0].image.content"; err != nil || ir.GetError().GetCode() != 13 || ir.GetError().GetMessage() != want {
		t.Errorf("syncImage of an image that panics when opened = %v, %v; want error 13 %q", ir, err, want)
	}
	ir, err = h.syncImage(ctx, 1, img("%PDF-pages"), h.Logger)
	if err != nil || ir.GetError() != nil || ir.GetFullTextAnnotation().GetText() == "" {
		t.Errorf("syncImage after the panics = %v, %v; want text", ir, err)
	}
}
