package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"go.uber.org/zap/zaptest"
	"google.golang.org/protobuf/proto"

	"github.com/folio-ocr/folio/store"
)

// fakeOps is an in-memory store.Operations with the store's documented
// semantics: ErrNotFound for unknown ids, ErrAlreadyExists on id clashes,
// newest first listing with offset tokens, Fail and Cancel ending an
// operation at most once. Set err to make every call fail.
type fakeOps struct {
	mu    sync.Mutex
	ops   map[string]*store.Operation
	order []string // ids in creation order
	err   error
}

var _ store.Operations = (*fakeOps)(nil)

// newFakeOps returns an empty fakeOps.
func newFakeOps() *fakeOps { return &fakeOps{ops: map[string]*store.Operation{}} }

// clone returns a deep copy of op, as a real store returns fresh values.
func clone(op *store.Operation) *store.Operation {
	c := *op
	if op.Request != nil {
		c.Request = proto.Clone(op.Request).(*visionpb.AsyncBatchAnnotateFilesRequest)
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
	if _, ok := f.ops[op.ID]; ok {
		return fmt.Errorf("fake: create %s: %w", op.ID, store.ErrAlreadyExists)
	}
	f.ops[op.ID] = clone(op)
	f.order = append(f.order, op.ID)
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

func (f *fakeOps) Finished(ctx context.Context, id string) (bool, error) {
	op, err := f.Get(ctx, id)
	if err != nil {
		return false, err
	}
	return op.Done, nil
}

// List implements store.Operations; tokens are offsets.
func (f *fakeOps) List(_ context.Context, pageSize int, pageToken string) ([]*store.Operation, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, "", f.err
	}
	off := 0
	if pageToken != "" {
		n, err := strconv.Atoi(pageToken)
		if err != nil {
			return nil, "", fmt.Errorf("fake: invalid page token %q", pageToken)
		}
		off = n
	}
	ids := slices.Clone(f.order)
	slices.Reverse(ids)
	var out []*store.Operation
	for i := off; i < len(ids) && len(out) < pageSize; i++ {
		out = append(out, clone(f.ops[ids[i]]))
	}
	next := ""
	if off+pageSize < len(ids) {
		next = strconv.Itoa(off + pageSize)
	}
	return out, next, nil
}

// PlanFile implements store.Operations (unused by the API).
func (f *fakeOps) PlanFile(context.Context, string, int, []store.Range) (store.Completion, error) {
	return 0, fmt.Errorf("fake: PlanFile not implemented")
}

// CompleteRange implements store.Operations (unused by the API).
func (f *fakeOps) CompleteRange(context.Context, string, store.Range) (store.Completion, error) {
	return 0, fmt.Errorf("fake: CompleteRange not implemented")
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
	return f.finish(id, visionpb.OperationMetadata_CANCELLED, 1, "Operation was cancelled.")
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
	delete(f.ops, id)
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
	d     *deps
	// readyErr is what d.ready returns.
	readyErr error
}

// setup returns fresh fakes and deps whose ids are "0000000000000001",
// "0000000000000002", ... and whose clock is testNow.
func setup(t *testing.T) *testBundle {
	t.Helper()
	b := &testBundle{ops: newFakeOps(), queue: &fakeQueue{}}
	var mu sync.Mutex
	n := 0
	b.d = &deps{
		ops:     b.ops,
		enq:     b.queue,
		ready:   func(context.Context) error { return b.readyErr },
		logger:  zaptest.NewLogger(t),
		maxBody: 4096,
		now:     func() time.Time { return testNow },
		newID: func() string {
			mu.Lock()
			defer mu.Unlock()
			n++
			return fmt.Sprintf("%016x", n)
		},
	}
	return b
}
