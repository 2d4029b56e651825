package jobs_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"

	"github.com/folio-ocr/folio/internal/pdfgen"
	"github.com/folio-ocr/folio/jobs"
	"github.com/folio-ocr/folio/pipeline"
	"github.com/folio-ocr/folio/store"
)

// Markers in a test PDF's text that make panicOpener's documents, or
// markedOCR, panic.
const (
	markPage   = "PANIC-PAGE"   // Document.Page of the page panics
	markRaster = "PANIC-RASTER" // Document.Raster of the page panics
	markOCR    = "PANIC-OCR"    // the recognizer panics on the page
	markOpen   = "PANIC-OPEN"   // Opener.Open of the file panics (planning)
	markReopen = "PANIC-REOPEN" // Opener.Open panics from the file's second open (the range task)
	// ocrDPI marks the raster of a markOCR page for markedOCR.
	ocrDPI = 666
)

// panicOpener opens PDFs with pdfium, but its documents panic where the
// file's text says so (the marks above): the Opener and Document seams
// that the handlers use, with no hook in the code under test.
type panicOpener struct {
	pdf     pipeline.Opener
	reopens atomic.Int32
}

func (o *panicOpener) Open(ctx context.Context, r io.ReadSeeker, size int64) (pipeline.Document, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	if bytes.Contains(data, []byte(markOpen)) {
		panic("test: opening " + markOpen)
	}
	if bytes.Contains(data, []byte(markReopen)) && o.reopens.Add(1) > 1 {
		panic("test: opening " + markReopen + " again")
	}
	doc, err := o.pdf.Open(ctx, bytes.NewReader(data), size)
	if err != nil {
		return nil, err
	}
	return &panicDoc{Document: doc}, nil
}

type panicDoc struct {
	pipeline.Document
}

func pageText(p *pipeline.Page) string {
	var b strings.Builder
	for _, c := range p.Chars {
		b.WriteRune(c.Rune)
	}
	return b.String()
}

func (d *panicDoc) Page(ctx context.Context, n int) (*pipeline.Page, error) {
	p, err := d.Document.Page(ctx, n)
	if err == nil && strings.Contains(pageText(p), markPage) {
		var m map[string]int
		m["page"] = n // a nil map write: a runtime panic, as a bug would raise
	}
	return p, err
}

func (d *panicDoc) Raster(ctx context.Context, n int, opts pipeline.RasterOptions) (*pipeline.Raster, error) {
	p, err := d.Document.Page(ctx, n)
	if err != nil {
		return nil, err
	}
	r, err := d.Document.Raster(ctx, n, opts)
	switch text := pageText(p); {
	case strings.Contains(text, markRaster):
		panic(fmt.Sprintf("test: rasterizing page %d", n))
	case strings.Contains(text, markOCR) && err == nil:
		r.DPI = ocrDPI
	}
	return r, err
}

// markedOCR recognizes every raster as "recognized", and panics on those
// of markOCR pages.
type markedOCR struct{}

func (markedOCR) Recognize(_ context.Context, r *pipeline.Raster, _ pipeline.OCROptions) (*visionpb.TextAnnotation, error) {
	if r.DPI == ocrDPI {
		panic("test: recognizing " + markOCR)
	}
	return &visionpb.TextAnnotation{Text: "recognized"}, nil
}

// panicBlobs panics when an output under a panic-write/ folder is created.
type panicBlobs struct{ store.Blobs }

func (b panicBlobs) NewWriter(ctx context.Context, uri, contentType string) (io.WriteCloser, error) {
	if strings.Contains(uri, "/panic-write/") {
		panic("test: writing " + uri)
	}
	return b.Blobs.NewWriter(ctx, uri, contentType)
}

// A panic in one page's work (reading its text, rasterizing it, OCR) is
// that page's output entry, code 13 INTERNAL naming the page and what was
// being done, and the range's other pages are written; a panic outside a
// page's work (planning the file, reopening it in the range task, writing
// the output) fails the operation at once, INTERNAL naming the file,
// without retries. The same Handlers then annotate other files as ever,
// and the test process (the worker) is still alive.
func TestPanicsAreInternalErrors(t *testing.T) {
	opener := &panicOpener{pdf: sharedPDF}
	b := setup(t, 0, func(h *jobs.Handlers) {
		h.Openers = map[string]pipeline.Opener{"application/pdf": opener}
		h.Router = pipeline.Router{Policy: pipeline.TextLayerNever}
		h.OCR = markedOCR{}
		h.OCRParallel = 2
		h.Blobs = panicBlobs{h.Blobs}
	})
	page := func(text string) pdfgen.Page { return pdfgen.Lines(text, "Folio reads hostile input.") }
	pages := b.upload(t, "in/pages.pdf", pdfgen.PDF(page("one"), page(markPage), page(markRaster), page(markOCR), page("five")))
	id := b.submit(t, fileRequest(pages, "gs://"+bucket+"/out/pages/", 0))
	if op := b.wait(t, id); op.State != visionpb.OperationMetadata_DONE || op.ErrorCode != 0 {
		t.Fatalf("operation ended %v, code %d %q; want DONE", op.State, op.ErrorCode, op.ErrorMessage)
	}
	out := b.outputs(t, "out/pages/")["output-1-to-5.json"]
	if got := len(out.GetResponses()); got != 5 {
		t.Fatalf("output has %d pages, want 5", got)
	}
	wantErr := map[int]string{2: "extracting text", 3: "rasterizing", 4: "recognizing text"}
	for i, r := range out.GetResponses() {
		n := i + 1
		what, fails := wantErr[n]
		switch {
		case !fails && (r.GetError() != nil || r.GetFullTextAnnotation().GetText() != "recognized"):
			t.Errorf("page %d: error %v, text %q; want recognized", n, r.GetError(), r.GetFullTextAnnotation().GetText())
		case fails:
			want := fmt.Sprintf("page %d of %s: internal error while %s", n, pages, what)
			if r.GetError().GetCode() != 13 || r.GetError().GetMessage() != want {
				t.Errorf("page %d: error %v; want code 13 %q", n, r.GetError(), want)
			}
		}
	}

	// Outside the pages: each operation fails, code 13 naming its file.
	for _, tc := range []struct{ name, text, dest string }{
		{"open", markOpen, "out/open/"},
		{"reopen", markReopen, "out/reopen/"},
		{"write", "fine", "out/panic-write/"},
	} {
		uri := b.upload(t, "in/"+tc.name+".pdf", pdfgen.PDF(page(tc.text)))
		id := b.submit(t, fileRequest(uri, "gs://"+bucket+"/"+tc.dest, 0))
		op := b.wait(t, id) // an operation retried with asynq's backoff would not end in time
		want := "internal error while processing " + uri
		if !op.Done || op.ErrorCode != 13 || op.ErrorMessage != want {
			t.Errorf("%s: operation ended %v, code %d %q; want code 13 %q", tc.name, op.State, op.ErrorCode, op.ErrorMessage, want)
		}
		if n := len(b.outputs(t, tc.dest)); n != 0 {
			t.Errorf("%s: %d outputs, want none", tc.name, n)
		}
	}

	// The same Handlers go on serving.
	good := b.upload(t, "in/good.pdf", pdfgen.Document(3))
	id = b.submit(t, fileRequest(good, "gs://"+bucket+"/out/good/", 0))
	if op := b.wait(t, id); op.State != visionpb.OperationMetadata_DONE || op.ErrorCode != 0 {
		t.Fatalf("operation after the panics ended %v, code %d %q; want DONE", op.State, op.ErrorCode, op.ErrorMessage)
	}
	for _, r := range b.outputs(t, "out/good/")["output-1-to-3.json"].GetResponses() {
		if r.GetError() != nil || r.GetFullTextAnnotation().GetText() != "recognized" {
			t.Errorf("good file page %d: error %v, text %q", r.GetContext().GetPageNumber(), r.GetError(), r.GetFullTextAnnotation().GetText())
		}
	}
}
