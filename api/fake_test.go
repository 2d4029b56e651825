package api

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"go.uber.org/zap/zaptest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/folio-ocr/folio/store"
	"github.com/folio-ocr/folio/store/storetest"
)

// fakeOps is an in-memory store.Operations with the store's documented
// semantics: ErrNotFound for unknown ids, ErrAlreadyExists on id clashes,
// newest first listing with offset tokens, Fail and Cancel ending an
// operation at most once. Set err to make every call fail.
type fakeOps struct {
	mu    sync.Mutex
	ops   map[string]*store.Operation
	order []string          // ids in creation order
	keys  map[string]string // idempotency key → id
	work  map[string]*fakeWork
	err   error
}

var _ store.Operations = (*fakeOps)(nil)

// newFakeOps returns an empty fakeOps.
func newFakeOps() *fakeOps {
	return &fakeOps{ops: map[string]*store.Operation{}, keys: map[string]string{}}
}

// clone returns a deep copy of op, as a real store returns fresh values.
func clone(op *store.Operation) *store.Operation {
	c := *op
	if op.Request != nil {
		c.Request = proto.Clone(op.Request).(*visionpb.AsyncBatchAnnotateFilesRequest)
	}
	if op.Images != nil {
		c.Images = proto.Clone(op.Images).(*visionpb.AsyncBatchAnnotateImagesRequest)
	}
	return &c
}

// put stores op as it is (for tests that need finished operations).
func (f *fakeOps) put(op *store.Operation) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.ops[op.ID]; !ok {
		f.order = append(f.order, op.ID)
	}
	f.ops[op.ID] = clone(op)
}

// get returns the stored copy of id, or nil.
func (f *fakeOps) get(id string) *store.Operation {
	f.mu.Lock()
	defer f.mu.Unlock()
	if op, ok := f.ops[id]; ok {
		return clone(op)
	}
	return nil
}

// count returns the number of stored operations.
func (f *fakeOps) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.ops)
}

// Create implements store.Operations.
func (f *fakeOps) Create(_ context.Context, op *store.Operation) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	if (op.Request == nil) == (op.Images == nil) {
		return fmt.Errorf("fake: create %s: one request, files or images, is required", op.ID)
	}
	if _, ok := f.ops[op.ID]; ok {
		return fmt.Errorf("fake: create %s: %w", op.ID, store.ErrAlreadyExists)
	}
	if k := op.IdempotencyKey; k != "" {
		if id, ok := f.keys[k]; ok && f.ops[id] != nil {
			return &store.DuplicateError{Key: k, ID: id}
		}
		f.keys[k] = op.ID
	}
	stored := clone(op)
	stored.State, stored.UpdateTime = visionpb.OperationMetadata_CREATED, op.CreateTime
	f.ops[op.ID] = stored
	// Newest first by creation time, then by id descending, as the store.
	i, _ := slices.BinarySearchFunc(f.order, op, func(id string, op *store.Operation) int {
		o := f.ops[id]
		if c := o.CreateTime.Compare(op.CreateTime); c != 0 {
			return c
		}
		return strings.Compare(o.ID, op.ID)
	})
	f.order = slices.Insert(f.order, i, op.ID)
	return nil
}

// Get implements store.Operations.
func (f *fakeOps) Get(_ context.Context, id string) (*store.Operation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	op, ok := f.ops[id]
	if !ok {
		return nil, fmt.Errorf("fake: operation %s: %w", id, store.ErrNotFound)
	}
	return clone(op), nil
}

// Finished implements store.Operations.
// Created returns operations in state CREATED created in [from, to].
func (f *fakeOps) Created(_ context.Context, from, to time.Time) ([]*store.Operation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	var out []*store.Operation
	for _, id := range f.order {
		op := f.ops[id]
		if op.State == visionpb.OperationMetadata_CREATED && !op.CreateTime.Before(from) && !op.CreateTime.After(to) {
			out = append(out, clone(op))
		}
	}
	return out, nil
}

// Unfinished implements store.Operations.
func (f *fakeOps) Unfinished(_ context.Context, from, to time.Time) ([]*store.Operation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*store.Operation
	for _, id := range f.order {
		op := f.ops[id]
		if !op.Done && !op.CreateTime.Before(from) && !op.CreateTime.After(to) {
			out = append(out, clone(op))
		}
	}
	return out, nil
}

func (f *fakeOps) Finished(ctx context.Context, id string) (bool, error) {
	op, err := f.Get(ctx, id)
	if err != nil {
		return false, err
	}
	return op.Done, nil
}

// List implements store.Operations, newest first; a token is the cursor
// "<creation time in ns>:<id>" of the last operation examined.
func (f *fakeOps) List(_ context.Context, pageSize int, pageToken string, filter store.ListFilter) ([]*store.Operation, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, "", f.err
	}
	var (
		after   bool
		afterNs int64
		afterID string
	)
	if pageToken != "" {
		ns, id, ok := strings.Cut(pageToken, ":")
		n, err := strconv.ParseInt(ns, 10, 64)
		if !ok || err != nil || id == "" {
			return nil, "", fmt.Errorf("fake: page token %q: %w", pageToken, store.ErrInvalidArgument)
		}
		after, afterNs, afterID = true, n, id
	}
	var out []*store.Operation
	next := ""
	for i := len(f.order) - 1; i >= 0; i-- {
		op := f.ops[f.order[i]]
		ns := op.CreateTime.UnixNano()
		if after && (ns > afterNs || ns == afterNs && op.ID >= afterID) {
			continue
		}
		if len(out) == pageSize {
			break
		}
		if filter.Match(op) {
			out = append(out, clone(op))
		}
		next = fmt.Sprintf("%d:%s", ns, op.ID)
		if i == 0 {
			next = ""
		}
	}
	return out, next, nil
}

// finish ends an unfinished operation.
// SavePart implements store.Operations (unused by the API).
func (f *fakeOps) SavePart(context.Context, string, store.Range, int, []byte) (int, store.Completion, error) {
	return 0, 0, fmt.Errorf("fake: SavePart not implemented")
}

// Part implements store.Operations (unused by the API).
func (f *fakeOps) Part(context.Context, string, store.Range, int) ([]byte, error) {
	return nil, fmt.Errorf("fake: Part not implemented")
}

func (f *fakeOps) finish(id string, state store.State, code int32, msg string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return false, f.err
	}
	op, ok := f.ops[id]
	if !ok {
		return false, fmt.Errorf("fake: operation %s: %w", id, store.ErrNotFound)
	}
	if op.Done {
		return false, nil
	}
	op.Done, op.State, op.ErrorCode, op.ErrorMessage = true, state, code, msg
	op.UpdateTime = op.UpdateTime.Add(time.Second)
	return true, nil
}

// Fail implements store.Operations.
func (f *fakeOps) Fail(_ context.Context, id string, code int32, message string) (bool, error) {
	return f.finish(id, visionpb.OperationMetadata_DONE, code, message)
}

// Cancel implements store.Operations.
func (f *fakeOps) Cancel(_ context.Context, id string) (bool, error) {
	return f.finish(id, visionpb.OperationMetadata_CANCELLED, 1, store.CancelledMessage)
}

// Delete implements store.Operations.
func (f *fakeOps) Delete(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	if _, ok := f.ops[id]; !ok {
		return fmt.Errorf("fake: operation %s: %w", id, store.ErrNotFound)
	}
	if k := f.ops[id].IdempotencyKey; k != "" && f.keys[k] == id {
		delete(f.keys, k)
	}
	delete(f.ops, id)
	delete(f.work, id)
	f.order = slices.DeleteFunc(f.order, func(s string) bool { return s == id })
	return nil
}

// fakeQueue records enqueued operation ids; set err to make it fail.
type fakeQueue struct {
	mu  sync.Mutex
	ids []string
	err error
}

// EnqueueOperation implements enqueuer.
func (q *fakeQueue) EnqueueOperation(_ context.Context, op *store.Operation) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err != nil {
		return q.err
	}
	q.ids = append(q.ids, op.ID)
	return nil
}

// enqueued returns the ids enqueued so far.
func (q *fakeQueue) enqueued() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.ids)
}

// testNow is the fixed clock of the API tests.
var testNow = time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)

// testBundle is the state one API test works with (river's setup pattern).
type testBundle struct {
	ops   *fakeOps
	queue *fakeQueue
	// cfg builds the Service of every request; tests may change it.
	cfg Config
	// readyErr is what the readiness check returns.
	readyErr error
}

// setup returns fresh fakes and a Config whose ids are "0000000000000001",
// "0000000000000002", ... and whose clock is testNow.
func setup(t *testing.T) *testBundle {
	t.Helper()
	b := &testBundle{ops: newFakeOps(), queue: &fakeQueue{}}
	var mu sync.Mutex
	n := 0
	b.cfg = Config{
		Ops:    b.ops,
		Queue:  b.queue,
		Logger: zaptest.NewLogger(t),
		Now:    func() time.Time { return testNow },
		NewID: func() string {
			mu.Lock()
			defer mu.Unlock()
			n++
			return fmt.Sprintf("%016x", n)
		},
	}
	return b
}

// service returns a Service over b.cfg.
func (b *testBundle) service(t *testing.T) *Service {
	t.Helper()
	s, err := New(b.cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// handler returns the REST handler over b.service, with a 4 KiB body limit.
func (b *testBundle) handler(t *testing.T) http.Handler {
	t.Helper()
	return NewHandler(b.service(t), &HTTPOptions{
		MaxRequestBytes: 4096,
		Ready:           func(context.Context) error { return b.readyErr },
	})
}

// TestFakeOpsConformance runs the store's conformance suite against the
// fake, so that it cannot drift from the Redis store.
func TestFakeOpsConformance(t *testing.T) {
	storetest.RunOperationsTests(t, func(*testing.T) store.Operations { return newFakeOps() })
}

// grpcConn serves b.service over gRPC on a loopback port and returns a
// plain connection to it, for services Google's clients do not cover
// (v1p4beta1, Folio's own); both close when t ends.
func (b *testBundle) grpcConn(t *testing.T) *grpc.ClientConn {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := NewGRPCServer(b.service(t), nil)
	go func() { _ = gs.Serve(ln) }()
	t.Cleanup(func() { gs.Shutdown(context.Background()) })
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}
