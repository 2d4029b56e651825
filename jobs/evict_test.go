package jobs_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"

	"github.com/folio-ocr/folio/filecache"
	"github.com/folio-ocr/folio/jobs"
	"github.com/folio-ocr/folio/ocr"
	"github.com/folio-ocr/folio/pipeline"
)

// tiffOCR reads each TIFF page from its file by path, as the worker's
// recognizer does (any failure to read it is the page's fault), and
// "recognizes" it as its page number. Before the first page it runs
// first.
type tiffOCR struct {
	first func()
	once  sync.Once
}

func (o *tiffOCR) Recognize(ctx context.Context, r *pipeline.Raster, _ pipeline.OCROptions) (*visionpb.TextAnnotation, error) {
	o.once.Do(o.first)
	img, err := ocr.ReadTIFFPage(r.Path, r.Index, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", pipeline.ErrInvalidInput, err)
	}
	img.Close()
	return &visionpb.TextAnnotation{Text: fmt.Sprintf("tiff page %d\n", r.Index+1)}, nil
}

// A TIFF's pages are read from the input cache while they are OCR'd, after
// the document was opened. With a cache of one byte, another file cached
// meanwhile (here: before the first page is read) must not delete the TIFF
// from under the range: every page is OCR'd, none fails, and no message
// shows the worker's local paths.
func TestCacheEvictionDuringTIFFOCR(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tiny-cache")
	files, err := filecache.New(dir, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = files.Close() })
	evicted := make(chan error, 1)
	rec := &tiffOCR{first: func() {
		// Let the range read (and, before the fix, close) its document
		// first, then cache another file, which evicts every file not in use.
		time.Sleep(100 * time.Millisecond)
		f, err := files.Open(context.Background(), "gs://elsewhere/other.pdf", 1, func(_ context.Context, w io.Writer) error {
			_, err := io.WriteString(w, "another input file")
			return err
		})
		if err == nil {
			err = f.Close()
		}
		evicted <- err
	}}
	// Three OCR slots: the range reads all three pages before the first is
	// OCR'd, so its reading is done by the time the other file comes.
	b := setup(t, 0, func(h *jobs.Handlers) { h.Files, h.OCR, h.OCRParallel = files, rec, 3 })
	data, err := os.ReadFile(filepath.Join("..", "testdata", "scans", "g4.tiff"))
	if err != nil {
		t.Fatal(err)
	}
	uri := b.upload(t, "in/scan.tiff", data)
	req := fileRequest(uri, "gs://"+bucket+"/out/", 3)
	req.InputConfig.MimeType = "image/tiff"
	op := b.wait(t, b.submit(t, req))
	if err := <-evicted; err != nil {
		t.Fatalf("caching another file: %v", err)
	}
	if op.ErrorCode != 0 || strings.Contains(op.ErrorMessage, dir) {
		t.Errorf("operation error %d %q", op.ErrorCode, op.ErrorMessage)
	}
	resp := b.outputs(t, "out/")["output-1-to-3.json"]
	if n := len(resp.GetResponses()); n != 3 {
		t.Fatalf("%d responses, want 3", n)
	}
	for i, r := range resp.GetResponses() {
		if msg := r.GetError().GetMessage(); strings.Contains(msg, dir) {
			t.Errorf("page %d: the client's message shows the worker's cache path: %q", i+1, msg)
		}
		if r.GetError() != nil {
			t.Errorf("page %d failed: code %d %q", i+1, r.GetError().GetCode(), r.GetError().GetMessage())
			continue
		}
		if want := fmt.Sprintf("tiff page %d", i+1); !strings.Contains(r.GetFullTextAnnotation().GetText(), want) {
			t.Errorf("page %d: text %q, want %q", i+1, r.GetFullTextAnnotation().GetText(), want)
		}
	}
}
