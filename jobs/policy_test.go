package jobs_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"

	"github.com/folio-ocr/folio/auth"
	"github.com/folio-ocr/folio/internal/pdfgen"
	"github.com/folio-ocr/folio/jobs"
	"github.com/folio-ocr/folio/store"
	"github.com/folio-ocr/folio/store/storetest"
)

// submitOwned creates and enqueues an operation of API key owner ("" for
// none), as the api does.
func (b *bundle) submitOwned(t *testing.T, owner string, reqs ...*visionpb.AsyncAnnotateFileRequest) string {
	t.Helper()
	op := &store.Operation{ID: storetest.UniqueID(), APIVersion: "v1", CreateTime: time.Now(), Owner: owner,
		Request: &visionpb.AsyncBatchAnnotateFilesRequest{Requests: reqs}}
	op.Name = "operations/" + op.ID
	if err := b.ops.Create(context.Background(), op); err != nil {
		t.Fatal(err)
	}
	if err := b.client.EnqueueOperation(context.Background(), op); err != nil {
		t.Fatal(err)
	}
	return op.ID
}

// With API keys, the worker checks every task against its key's policy
// again: a file outside the key's buckets (the api refused such files at
// submit, but the policy may have changed since, or the task not come
// through the api), a key that no longer exists and an operation without
// a key fail with PERMISSION_DENIED naming the reason; files inside run.
func TestWorkerChecksKeyPolicy(t *testing.T) {
	kr, err := auth.Parse([]byte(`{"keys":[{"name":"a","key":"a-0123456789abcdef",
		"inputs":["gs://` + bucket + `/in/"],"outputs":["gs://` + bucket + `/out/"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	b := setup(t, 0, func(h *jobs.Handlers) { h.Keys = auth.Static(kr) })
	in := b.upload(t, "in/doc.pdf", pdfgen.Document(2))
	other := b.upload(t, "other/doc.pdf", pdfgen.Document(2))
	out := "gs://" + bucket + "/out/"

	op := b.wait(t, b.submitOwned(t, "a", fileRequest(in, out+"ok/", 2)))
	if op.ErrorCode != 0 {
		t.Fatalf("allowed file: error %d %q", op.ErrorCode, op.ErrorMessage)
	}
	checkPages(t, "allowed", b.outputs(t, "out/ok/"), 2, true)

	for _, tc := range []struct {
		name, owner string
		req         *visionpb.AsyncAnnotateFileRequest
		wantMsg     string
	}{
		{"input outside", "a", fileRequest(other, out+"x/", 2), `API key "a" may not read ` + other},
		{"output outside", "a", fileRequest(in, "gs://"+bucket+"/elsewhere/", 2), "may not write to gs://" + bucket + "/elsewhere/"},
		{"unknown key", "ghost", fileRequest(in, out+"y/", 2), `API key "ghost" that created the operation no longer exists`},
		{"no key", "", fileRequest(in, out+"z/", 2), "created without an API key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			op := b.wait(t, b.submitOwned(t, tc.owner, tc.req))
			if op.ErrorCode != 7 || !strings.Contains(op.ErrorMessage, tc.wantMsg) {
				t.Errorf("operation error %d %q; want 7 (PERMISSION_DENIED) containing %q", op.ErrorCode, op.ErrorMessage, tc.wantMsg)
			}
		})
	}
	if outs := b.outputs(t, "out/x/"); len(outs) != 0 {
		t.Errorf("a refused file has outputs: %d", len(outs))
	}
}
