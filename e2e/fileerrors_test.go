package e2e

import (
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"

	"github.com/folio-ocr/folio/internal/localrun"
	"github.com/folio-ocr/folio/internal/pdfgen"
)

// With FILE_ERRORS=continue, an operation of three files whose middle one
// is a truncated PDF succeeds for Google's Go client: Wait returns the
// response with every file's outputConfig, metadata DONE; the good files'
// outputs hold all their pages and the corrupt file's one output,
// output-1-to-1.json, is an AnnotateFileResponse with its inputConfig and
// its error (INVALID_ARGUMENT, naming it) and no responses, all read
// strictly with protojson.
func TestFileErrorsContinue(t *testing.T) {
	f := start(t, 1, func(o *localrun.Options) { o.Env = append(o.Env, "FILE_ERRORS=continue") })
	c := f.client()
	ctx := testContext(t, 2*time.Minute)
	good1 := f.Upload("in/fe-good1.pdf", pdfgen.Document(3))
	corrupt := f.Upload("in/fe-corrupt.pdf", pdfgen.Document(3)[:400])
	good2 := f.Upload("in/fe-good2.pdf", pdfgen.Document(2))
	out := "gs://" + bucket + "/out/fe/"
	op, err := c.AsyncBatchAnnotateFiles(ctx, &visionpb.AsyncBatchAnnotateFilesRequest{
		Requests: []*visionpb.AsyncAnnotateFileRequest{
			request(good1, out+"good1/", 2), request(corrupt, out+"corrupt/", 2), request(good2, out+"good2/", 2),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := wait(ctx, t, op)
	if err != nil {
		t.Fatalf("Wait: %v; want success", err)
	}
	if n := len(resp.GetResponses()); n != 3 {
		t.Errorf("response has %d files, want 3", n)
	}
	if meta, _ := op.Metadata(); meta.GetState() != visionpb.OperationMetadata_DONE {
		t.Errorf("state %v, want DONE", meta.GetState())
	}
	for name, pages := range map[string]int{"good1": 3, "good2": 2} {
		texts := f.PageTexts(f.Outputs("out/fe/" + name + "/"))
		if len(texts) != pages {
			t.Errorf("%s: %d pages in its outputs, want %d", name, len(texts), pages)
		}
	}
	outs := f.Outputs("out/fe/corrupt/")
	bad := outs["output-1-to-1.json"]
	if len(outs) != 1 || bad == nil {
		t.Fatalf("corrupt file's outputs %d, want output-1-to-1.json only", len(outs))
	}
	if bad.GetError().GetCode() != 3 || !strings.Contains(bad.GetError().GetMessage(), corrupt) ||
		bad.GetInputConfig().GetGcsSource().GetUri() != corrupt || len(bad.GetResponses()) != 0 {
		t.Errorf("corrupt file's output %v; want inputConfig, error 3 naming %s, no responses", bad, corrupt)
	}
}
