package api

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	vision "cloud.google.com/go/vision/v2/apiv1"
	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"github.com/google/go-cmp/cmp"
	"github.com/googleapis/gax-go/v2/apierror"
	"github.com/googleapis/gax-go/v2/callctx"
	"google.golang.org/grpc/codes"

	"github.com/folio-ocr/folio/store"
	"github.com/folio-ocr/folio/store/storetest"
)

// withKey returns ctx making Google's clients send key as the
// Idempotency-Key header (REST) or idempotency-key metadata (gRPC).
func withKey(ctx context.Context, key string) context.Context {
	return callctx.SetHeaders(ctx, "idempotency-key", key)
}

// wantCode fails t unless err is an API error with code whose message
// contains every one of parts.
func wantCode(t *testing.T, what string, err error, code codes.Code, parts ...string) {
	t.Helper()
	var ae *apierror.APIError
	if !errors.As(err, &ae) || ae.GRPCStatus().Code() != code {
		t.Errorf("%s: error %v, want %v", what, err, code)
		return
	}
	for _, p := range parts {
		if !strings.Contains(ae.GRPCStatus().Message(), p) {
			t.Errorf("%s: message %q does not contain %q", what, ae.GRPCStatus().Message(), p)
		}
	}
}

// TestIdempotencyKey drives idempotent submission with Google's clients,
// which send the key from the call's context: a repeat returns the first
// operation as it is now and queues nothing; a different request under
// the key is INVALID_ARGUMENT naming the key and the operation.
func TestIdempotencyKey(t *testing.T) { forEachTransport(t, testIdempotencyKey) }

func testIdempotencyKey(t *testing.T, transport string) {
	b := setupClients(t, transport)
	ctx := context.Background()
	submit := func(ctx context.Context, req *visionpb.AsyncBatchAnnotateFilesRequest) (*vision.AsyncBatchAnnotateFilesOperation, error) {
		t.Helper()
		return b.vision.AsyncBatchAnnotateFiles(ctx, req)
	}

	keyed := withKey(ctx, "batch-2026-03-01/a")
	first, err := submit(keyed, validRequest())
	if err != nil {
		t.Fatalf("first submission: %v", err)
	}
	const name = "operations/0000000000000001"
	for i := range 2 {
		again, err := submit(keyed, validRequest())
		if err != nil || again.Name() != name {
			t.Fatalf("repeat %d = %v, %v; want %s", i, again, err, name)
		}
		if md, _ := again.Metadata(); md.GetState() != visionpb.OperationMetadata_CREATED {
			t.Errorf("repeat %d: state %v, want CREATED", i, md.GetState())
		}
	}
	if diff := cmp.Diff([]string{"0000000000000001"}, b.queue.enqueued()); diff != "" {
		t.Errorf("enqueued (-want +got):\n%s", diff)
	}

	// A repeat after the operation finished returns it finished.
	stored := b.ops.get("0000000000000001")
	stored.State, stored.Done, stored.UpdateTime = visionpb.OperationMetadata_DONE, true, testNow.Add(time.Minute)
	b.ops.put(stored)
	again, err := submit(keyed, validRequest())
	if err != nil || again.Name() != first.Name() || !again.Done() {
		t.Fatalf("repeat after done = %v, %v; want %s, done", again, err, first.Name())
	}
	if resp, err := again.Poll(ctx); err != nil || len(resp.GetResponses()) != 2 {
		t.Errorf("repeat after done: response %v, %v; want 2 outputs", resp, err)
	}

	// The same key with another request, or another parent, is refused.
	other := validRequest()
	other.Requests = other.Requests[:1]
	_, err = submit(keyed, other)
	wantCode(t, "other request", err, codes.InvalidArgument, "Idempotency-Key", `"batch-2026-03-01/a"`, name, "different request")
	parented := validRequest()
	parented.Parent = "projects/p"
	_, err = submit(keyed, parented)
	wantCode(t, "other parent", err, codes.InvalidArgument, "Idempotency-Key", name)

	// An invalid request is refused for itself, key or not.
	bad := validRequest()
	bad.Requests[0].OutputConfig.BatchSize = 101
	_, err = submit(keyed, bad)
	wantCode(t, "invalid request", err, codes.InvalidArgument, "batchSize")

	// Another key, and no key, start new operations. (Each submission
	// draws an id, duplicates included, so the ids are not consecutive.)
	seen := map[string]bool{name: true}
	for _, ctx := range []context.Context{withKey(ctx, "batch-2026-03-01/b"), ctx, ctx} {
		op, err := submit(ctx, validRequest())
		if err != nil || seen[op.Name()] {
			t.Errorf("submission = %v, %v; want a new operation", op, err)
			continue
		}
		seen[op.Name()] = true
	}
	if n := b.ops.count(); n != 4 {
		t.Errorf("%d operations stored, want 4", n)
	}

	// A key that is too long is refused, naming the header.
	_, err = submit(withKey(ctx, strings.Repeat("k", MaxIdempotencyKeyLen+1)), validRequest())
	wantCode(t, "long key", err, codes.InvalidArgument, "Idempotency-Key", "1 to 256 characters")
	if n := b.ops.count(); n != 4 {
		t.Errorf("%d operations stored after a bad key, want 4", n)
	}
}

// TestIdempotencyKeyRejects checks the key's rules through the REST
// handler, which can send what Google's clients refuse to.
func TestIdempotencyKeyRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		values []string
		want   string // in the message
	}{
		{"empty", []string{""}, "1 to 256 characters long, got 0"},
		{"too long", []string{strings.Repeat("x", 257)}, "1 to 256 characters long, got 257"},
		{"not ASCII", []string{"clé"}, "printable ASCII characters, got byte 0xc3 at offset 2"},
		{"control", []string{"a\tb"}, "got byte 0x09 at offset 1"},
		{"twice", []string{"a", "b"}, "must be given once, got 2 values"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			req := httptest.NewRequest(http.MethodPost, "/v1/files:asyncBatchAnnotate", strings.NewReader(camelBody))
			for _, v := range tt.values {
				req.Header.Add("Idempotency-Key", v)
			}
			rec := httptest.NewRecorder()
			b.handler(t).ServeHTTP(rec, req)
			e := parseError(t, rec, http.StatusBadRequest, "INVALID_ARGUMENT")
			if !strings.Contains(e.Error.Message, "Idempotency-Key header") || !strings.Contains(e.Error.Message, tt.want) {
				t.Errorf("message %q, want it to name the header and say %q", e.Error.Message, tt.want)
			}
			if n := b.ops.count(); n != 0 {
				t.Errorf("%d operations stored, want 0", n)
			}
		})
	}
	// The longest key accepted, and every printable character.
	b := setup(t)
	for _, key := range []string{strings.Repeat("x", 256), " !~azAZ09{}\"'\\"} {
		req := httptest.NewRequest(http.MethodPost, "/v1/files:asyncBatchAnnotate", strings.NewReader(camelBody))
		req.Header.Set("Idempotency-Key", key)
		rec := httptest.NewRecorder()
		b.handler(t).ServeHTTP(rec, req)
		parseOperation(t, rec)
	}
}

// An operation whose work could not be queued is deleted when it has a
// key, so the retry the error asks for, with the same key, starts afresh.
func TestIdempotencyKeyEnqueueFailure(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.queue.err = errors.New("redis: connection refused")
	h := b.handler(t)
	post := func() *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/v1/files:asyncBatchAnnotate", strings.NewReader(camelBody))
		req.Header.Set("Idempotency-Key", "retry-me")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	parseError(t, post(), http.StatusServiceUnavailable, "UNAVAILABLE")
	if n := b.ops.count(); n != 0 {
		t.Errorf("%d operations stored after the queue failed, want 0", n)
	}
	b.queue.mu.Lock()
	b.queue.err = nil
	b.queue.mu.Unlock()
	op := parseOperation(t, post())
	if op.GetName() != "operations/0000000000000002" || op.GetDone() {
		t.Errorf("retry = %v, want operation 2, running", op)
	}
	if diff := cmp.Diff([]string{"0000000000000002"}, b.queue.enqueued()); diff != "" {
		t.Errorf("enqueued (-want +got):\n%s", diff)
	}
}

// TestIdempotencyKeyConcurrent sends 20 submissions with one key at once,
// through Google's clients, to the Redis store: exactly one operation is
// created and queued once, and every answer names it.
func TestIdempotencyKeyConcurrent(t *testing.T) { forEachTransport(t, testIdempotencyKeyConcurrent) }

func testIdempotencyKeyConcurrent(t *testing.T, transport string) {
	if testing.Short() {
		t.Skip("needs Redis")
	}
	rdb, prefix := storetest.Redis(t)
	ops := store.NewRedisOperations(rdb, &store.RedisOptions{Prefix: prefix})
	b := setupClients(t, transport, func(b *testBundle) { b.cfg.Ops = ops })
	const callers = 20
	ctx := withKey(context.Background(), "concurrent-"+storetest.UniqueID())
	names := make([]string, callers)
	errs := make([]error, callers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			<-start
			op, err := b.vision.AsyncBatchAnnotateFiles(ctx, validRequest())
			if err == nil {
				names[i] = op.Name()
			}
			errs[i] = err
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("caller %d: %v", i, err)
		}
		if names[i] != names[0] {
			t.Errorf("caller %d got %s, caller 0 %s", i, names[i], names[0])
		}
	}
	listed, _, err := ops.List(context.Background(), 100, "", store.ListFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(listed) != 1 || listed[0].Name != names[0] {
		t.Errorf("stored %d operations (%v), want only %s", len(listed), listed, names[0])
	}
	if q := b.queue.enqueued(); len(q) != 1 || "operations/"+q[0] != names[0] {
		t.Errorf("enqueued %v, want %s once", q, names[0])
	}
}
