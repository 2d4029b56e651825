package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"github.com/googleapis/gax-go/v2/callctx"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/folio-ocr/folio/internal/pdfgen"
	"github.com/folio-ocr/folio/progresspb"
)

// progressOver returns a function that reads an operation's progress over
// transport: GET {name}:progress ("rest") or folio.v1.Progress ("grpc").
func (f *folio) progressOver(transport string) func(ctx context.Context, name string) (*progresspb.OperationProgress, error) {
	f.t.Helper()
	if transport == "grpc" {
		conn, err := grpc.NewClient(f.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			f.t.Fatal(err)
		}
		f.t.Cleanup(func() { _ = conn.Close() })
		c := progresspb.NewProgressClient(conn)
		return func(ctx context.Context, name string) (*progresspb.OperationProgress, error) {
			return c.GetProgress(ctx, &progresspb.GetProgressRequest{Name: name})
		}
	}
	return func(ctx context.Context, name string) (*progresspb.OperationProgress, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.API+"/v1/"+name+":progress", nil)
		if err != nil {
			return nil, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		defer func() { _ = resp.Body.Close() }()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("GET %s:progress: %d %s", name, resp.StatusCode, body)
		}
		p := &progresspb.OperationProgress{}
		if err := protojson.Unmarshal(body, p); err != nil { // strict: every field known
			return nil, fmt.Errorf("parse %s: %w", body, err)
		}
		return p, nil
	}
}

// Progress is consistent with the output objects at every poll, over REST
// and gRPC alike, while two workers run a multi-range operation of two
// files: every output listed exists, done never exceeds total nor
// decreases, and at the end every page is done and every output listed.
// A repeated submission with the same Idempotency-Key returns the same
// operation.
func TestProgressMatchesOutputs(t *testing.T) {
	f := start(t, 2)
	c := f.client()
	ctx := testContext(t, 4*time.Minute)
	const pagesA, pagesB, batch = 240, 37, 4
	a := f.Upload("in/progress-a.pdf", pdfgen.Document(pagesA))
	b := f.Upload("in/progress-b.pdf", pdfgen.Document(pagesB))
	req := &visionpb.AsyncBatchAnnotateFilesRequest{Requests: []*visionpb.AsyncAnnotateFileRequest{
		request(a, "gs://"+bucket+"/out/progress-a/", batch),
		request(b, "gs://"+bucket+"/out/progress-b-", batch),
	}}
	keyed := callctx.SetHeaders(ctx, "idempotency-key", "e2e-progress")
	op, err := c.AsyncBatchAnnotateFiles(keyed, req)
	if err != nil {
		t.Fatal(err)
	}
	again, err := f.clientOver("grpc").AsyncBatchAnnotateFiles(keyed, req)
	if err != nil || again.Name() != op.Name() {
		t.Fatalf("resubmission with the key = %v, %v; want %s", again, err, op.Name())
	}

	polls := map[string]func(context.Context, string) (*progresspb.OperationProgress, error){
		"rest": f.progressOver("rest"), "grpc": f.progressOver("grpc"),
	}
	var last *progresspb.OperationProgress
	mid := 0 // polls that saw the operation part done
	for n := 0; ; n++ {
		transport := []string{"rest", "grpc"}[n%2]
		p, err := polls[transport](ctx, op.Name())
		if err != nil {
			t.Fatalf("poll %d (%s): %v", n, transport, err)
		}
		existing := f.objects("out/progress-") // listed after the poll: outputs only appear
		checkProgress(t, fmt.Sprintf("poll %d (%s)", n, transport), p, last, existing)
		if p.GetPagesDone() > 0 && p.GetPagesDone() < pagesA+pagesB {
			mid++
		}
		last = p
		if p.GetDone() {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("operation not done after %d polls: %v", n, p)
		case <-time.After(25 * time.Millisecond):
		}
	}
	t.Logf("%d polls saw the operation part done", mid)
	if mid == 0 {
		t.Error("no poll saw the operation running with pages done; the test proved nothing")
	}

	p := last
	if p.GetState() != progresspb.OperationProgress_DONE || p.GetPagesDone() != pagesA+pagesB ||
		p.GetPagesTotal() != pagesA+pagesB || p.GetPagesFailed() != 0 || p.GetFilesPlanned() != 2 || p.GetEta() != nil {
		t.Errorf("final progress: state %v, %d of %d pages done, %d failed, %d files planned, eta %v",
			p.GetState(), p.GetPagesDone(), p.GetPagesTotal(), p.GetPagesFailed(), p.GetFilesPlanned(), p.GetEta())
	}
	existing := f.objects("out/progress-")
	listed := 0
	for i, want := range []int{pagesA, pagesB} {
		fp := p.GetFiles()[i]
		if fp.GetPagesTotal() != int32(want) || fp.GetPagesDone() != int32(want) ||
			fp.GetOutputsTotal() != int32((want+batch-1)/batch) || len(fp.GetOutputs()) != int(fp.GetOutputsTotal()) {
			t.Errorf("file %d: %d of %d pages, %d of %d outputs; want all %d pages, %d outputs", i,
				fp.GetPagesDone(), fp.GetPagesTotal(), len(fp.GetOutputs()), fp.GetOutputsTotal(), want, (want+batch-1)/batch)
		}
		listed += len(fp.GetOutputs())
	}
	if listed != len(existing) {
		t.Errorf("%d outputs listed, %d objects written", listed, len(existing))
	}
	if _, err := wait(ctx, t, op); err != nil {
		t.Errorf("Wait: %v", err)
	}
}

// checkProgress fails t unless p is consistent in itself, with the objects
// that exist, and with prev, the previous poll's answer (nil for none).
func checkProgress(t *testing.T, poll string, p, prev *progresspb.OperationProgress, existing map[string]bool) {
	t.Helper()
	if p.GetPagesDone() > p.GetPagesTotal() || p.GetPagesFailed() > p.GetPagesDone() {
		t.Errorf("%s: %d failed, %d done, %d total", poll, p.GetPagesFailed(), p.GetPagesDone(), p.GetPagesTotal())
	}
	var total, done int32
	for i, fp := range p.GetFiles() {
		total += fp.GetPagesTotal()
		done += fp.GetPagesDone()
		var covered int32
		for _, o := range fp.GetOutputs() {
			if !existing[o.GetUri()] {
				t.Errorf("%s: output %s is listed but does not exist", poll, o.GetUri())
			}
			if want := fmt.Sprintf("%soutput-%d-to-%d.json", fp.GetOutputUriPrefix(), o.GetFirstPage(), o.GetLastPage()); o.GetUri() != want {
				t.Errorf("%s: output %s, want %s", poll, o.GetUri(), want)
			}
			covered += o.GetLastPage() - o.GetFirstPage() + 1
		}
		if covered != fp.GetPagesDone() || fp.GetPagesDone() > fp.GetPagesTotal() {
			t.Errorf("%s: file %d: outputs cover %d pages, %d done of %d", poll, i, covered, fp.GetPagesDone(), fp.GetPagesTotal())
		}
		if prev != nil && fp.GetPagesDone() < prev.GetFiles()[i].GetPagesDone() {
			t.Errorf("%s: file %d went from %d pages done to %d", poll, i, prev.GetFiles()[i].GetPagesDone(), fp.GetPagesDone())
		}
	}
	if total != p.GetPagesTotal() || done != p.GetPagesDone() {
		t.Errorf("%s: files sum to %d of %d pages, the operation says %d of %d", poll, done, total, p.GetPagesDone(), p.GetPagesTotal())
	}
	if prev != nil && p.GetPagesDone() < prev.GetPagesDone() {
		t.Errorf("%s: pages done went from %d to %d", poll, prev.GetPagesDone(), p.GetPagesDone())
	}
}

// objects returns the gs:// URIs of the objects under prefix.
func (f *folio) objects(prefix string) map[string]bool {
	f.t.Helper()
	objs, _, err := f.GCS.ListObjects(bucket, prefix, "", false)
	if err != nil {
		f.t.Fatal(err)
	}
	out := make(map[string]bool, len(objs))
	for _, o := range objs {
		if !strings.HasSuffix(o.Name, "/") {
			out["gs://"+bucket+"/"+o.Name] = true
		}
	}
	return out
}
