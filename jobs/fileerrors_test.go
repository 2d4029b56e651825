package jobs_test

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"

	"github.com/folio-ocr/folio/internal/pdfgen"
	"github.com/folio-ocr/folio/jobs"
	"github.com/folio-ocr/folio/store"
)

// checkPages checks that outs, the outputs of a file of n pages made by
// pdfgen.Document, hold its pages in order, each with its text; with
// complete, that they hold all n.
func checkPages(t *testing.T, what string, outs map[string]*visionpb.AnnotateFileResponse, n int, complete bool) {
	t.Helper()
	seen := 0
	for _, name := range slices.Sorted(maps.Keys(outs)) {
		resp := outs[name]
		if resp.GetError() != nil {
			t.Errorf("%s %s: unexpected error %v", what, name, resp.GetError())
		}
		var first, last int
		if _, err := fmt.Sscanf(name, "output-%d-to-%d.json", &first, &last); err != nil {
			t.Fatalf("%s: output %s is not output-A-to-B.json", what, name)
		}
		if len(resp.GetResponses()) != last-first+1 {
			t.Errorf("%s %s: %d pages, want %d", what, name, len(resp.GetResponses()), last-first+1)
		}
		for i, r := range resp.GetResponses() {
			page := first + i
			if r.GetContext().GetPageNumber() != int32(page) || !strings.Contains(r.GetFullTextAnnotation().GetText(), fmt.Sprintf("Page %d of %d", page, n)) {
				t.Errorf("%s %s: page %d: context %v, text %q", what, name, page, r.GetContext(), r.GetFullTextAnnotation().GetText())
			}
			seen++
		}
	}
	if complete && seen != n {
		t.Errorf("%s: outputs hold %d pages, want %d", what, seen, n)
	}
}

// An operation of three files whose middle one is a truncated PDF. Under
// FILE_ERRORS=fail (the default) the operation ends with the corrupt
// file's error (INVALID_ARGUMENT, naming it); the corrupt file has no
// output, and the good files' outputs written before the failure stay (a
// subset, maybe none, each object complete). Under FILE_ERRORS=continue
// the operation ends DONE without an error, the good files' outputs are
// complete, and the corrupt file's one output, output-1-to-1.json, holds
// an AnnotateFileResponse with its inputConfig and its error.
func TestCorruptFileOfThree(t *testing.T) {
	for _, mode := range []jobs.FileErrors{jobs.FileErrorsFail, jobs.FileErrorsContinue} {
		t.Run(mode.String(), func(t *testing.T) {
			b := setup(t, 0, func(h *jobs.Handlers) { h.FileErrors = mode })
			good1 := b.upload(t, "in/good1.pdf", pdfgen.Document(3))
			corrupt := b.upload(t, "in/corrupt.pdf", pdfgen.Document(3)[:400])
			good2 := b.upload(t, "in/good2.pdf", pdfgen.Document(2))
			out := "gs://" + bucket + "/out/"
			op := b.wait(t, b.submit(t,
				fileRequest(good1, out+"good1/", 2),
				fileRequest(corrupt, out+"corrupt/", 2),
				fileRequest(good2, out+"good2/", 2)))
			if mode == jobs.FileErrorsFail {
				if op.ErrorCode != 3 || !strings.Contains(op.ErrorMessage, corrupt) {
					t.Fatalf("operation error %d %q; want 3 naming %s", op.ErrorCode, op.ErrorMessage, corrupt)
				}
				if outs := b.outputs(t, "out/corrupt/"); len(outs) != 0 {
					t.Errorf("the corrupt file has outputs %v", slices.Collect(maps.Keys(outs)))
				}
				checkPages(t, "good1", b.outputs(t, "out/good1/"), 3, false)
				checkPages(t, "good2", b.outputs(t, "out/good2/"), 2, false)
				return
			}
			if op.State != visionpb.OperationMetadata_DONE || op.ErrorCode != 0 || op.ErrorMessage != "" {
				t.Fatalf("operation ended %v with error %d %q; want DONE without an error", op.State, op.ErrorCode, op.ErrorMessage)
			}
			if op.PagesDone != 5 || op.PagesTotal != 5 {
				t.Errorf("pages %d/%d, want 5/5 (the corrupt file has none)", op.PagesDone, op.PagesTotal)
			}
			checkPages(t, "good1", b.outputs(t, "out/good1/"), 3, true)
			checkPages(t, "good2", b.outputs(t, "out/good2/"), 2, true)
			outs := b.outputs(t, "out/corrupt/")
			resp := outs["output-1-to-1.json"]
			if len(outs) != 1 || resp == nil {
				t.Fatalf("corrupt file outputs %v, want output-1-to-1.json only", slices.Collect(maps.Keys(outs)))
			}
			if resp.GetError().GetCode() != 3 || !strings.Contains(resp.GetError().GetMessage(), corrupt) {
				t.Errorf("corrupt file's error %v; want code 3 naming %s", resp.GetError(), corrupt)
			}
			if resp.GetInputConfig().GetGcsSource().GetUri() != corrupt || len(resp.GetResponses()) != 0 || resp.GetTotalPages() != 0 {
				t.Errorf("corrupt file's output: inputConfig %v, %d responses, totalPages %d; want its input, none, 0",
					resp.GetInputConfig(), len(resp.GetResponses()), resp.GetTotalPages())
			}
			pr, err := b.ops.Progress(context.Background(), op.ID)
			if err != nil {
				t.Fatal(err)
			}
			if e, ok := pr.FileErrors[1]; !ok || e.Code != 3 || !strings.Contains(e.Message, corrupt) || len(pr.FileErrors) != 1 {
				t.Errorf("progress file errors %v; want file 1's only", pr.FileErrors)
			}
		})
	}
}

// failOnceBlobs fails the first write of one object with PERMISSION_DENIED,
// a permanent error that fails its range for good.
type failOnceBlobs struct {
	store.Blobs
	uri  string
	once sync.Once
}

func (b *failOnceBlobs) NewWriter(ctx context.Context, uri, contentType string) (io.WriteCloser, error) {
	failed := false
	if uri == b.uri {
		b.once.Do(func() { failed = true })
	}
	if failed {
		return nil, fmt.Errorf("test: write %s: %w", uri, store.ErrPermissionDenied)
	}
	return b.Blobs.NewWriter(ctx, uri, contentType)
}

// Under FILE_ERRORS=continue a range that fails for good mid-file (its
// output cannot be written) gets an output object of its own name holding
// its error, the file's other ranges complete, and the operation ends DONE
// with the range's pages counted done and failed.
func TestRangeFailsForGoodContinue(t *testing.T) {
	const dest = "gs://" + bucket + "/out/six/"
	b := setup(t, 0, func(h *jobs.Handlers) {
		h.FileErrors = jobs.FileErrorsContinue
		h.Blobs = &failOnceBlobs{Blobs: h.Blobs, uri: dest + "output-3-to-4.json"}
	})
	six := b.upload(t, "in/six.pdf", pdfgen.Document(6))
	op := b.wait(t, b.submit(t, fileRequest(six, dest, 2)))
	if op.State != visionpb.OperationMetadata_DONE || op.ErrorCode != 0 || op.PagesDone != 6 || op.PagesTotal != 6 {
		t.Fatalf("operation ended %v with error %d %q, pages %d/%d; want DONE without an error, 6/6",
			op.State, op.ErrorCode, op.ErrorMessage, op.PagesDone, op.PagesTotal)
	}
	outs := b.outputs(t, "out/six/")
	if got := slices.Sorted(maps.Keys(outs)); !slices.Equal(got, []string{"output-1-to-2.json", "output-3-to-4.json", "output-5-to-6.json"}) {
		t.Fatalf("outputs %v", got)
	}
	failed := outs["output-3-to-4.json"]
	delete(outs, "output-3-to-4.json")
	checkPages(t, "six", outs, 6, false)
	if failed.GetError().GetCode() != 7 || !strings.Contains(failed.GetError().GetMessage(), "output-3-to-4.json") ||
		len(failed.GetResponses()) != 0 || failed.GetInputConfig().GetGcsSource().GetUri() != six {
		t.Errorf("failed range's output: %v", failed)
	}
	pr, err := b.ops.Progress(context.Background(), op.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range pr.Ranges {
		want := 0
		if r.First == 3 {
			want = 2
		}
		if !r.Done || r.FailedPages != want {
			t.Errorf("range %+v: done %v, %d failed pages; want done, %d", r.Range, r.Done, r.FailedPages, want)
		}
	}
	if e := pr.FileErrors[0]; e.Code != 7 {
		t.Errorf("progress file errors %v; want file 0's, code 7", pr.FileErrors)
	}
}
