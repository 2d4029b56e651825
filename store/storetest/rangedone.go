package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/folio-ocr/folio/store"
)

// testRangeDone checks RangeDone: false for a planned range until it is
// completed, true after, true for every range once the operation ends, and
// ErrNotFound for an unknown operation.
func testRangeDone(t *testing.T, ops store.Operations) {
	ctx := context.Background()
	op := NewOperation(time.Now())
	if err := ops.Create(ctx, op); err != nil {
		t.Fatal(err)
	}
	r1, r2, r3 := store.Range{File: 0, First: 1, Last: 2}, store.Range{File: 0, First: 3, Last: 4}, store.Range{File: 0, First: 5, Last: 5}
	if _, err := ops.PlanFile(ctx, op.ID, 0, []store.Range{r1, r2, r3}); err != nil {
		t.Fatal(err)
	}
	want := func(r store.Range, done bool) {
		t.Helper()
		if got, err := ops.RangeDone(ctx, op.ID, r); err != nil || got != done {
			t.Errorf("RangeDone(%+v) = %v, %v; want %v", r, got, err, done)
		}
	}
	want(r1, false)
	if _, err := ops.CompleteRange(ctx, op.ID, r1, 0); err != nil {
		t.Fatal(err)
	}
	want(r1, true)
	want(r2, false)
	if _, err := ops.Cancel(ctx, op.ID); err != nil {
		t.Fatal(err)
	}
	want(r2, true) // nothing is left to do in an ended operation
	if _, err := ops.RangeDone(ctx, "no-such-operation", r1); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RangeDone(unknown) error %v, want ErrNotFound", err)
	}
}

// testUnfinished checks Unfinished: the operations of the window that have
// not finished, whatever their state, oldest first; finished ones and
// those outside the window are left out.
func testUnfinished(t *testing.T, ops store.Operations) {
	ctx := context.Background()
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	created := NewOperation(t0)
	running := NewOperation(t0.Add(time.Second))
	failed := NewOperation(t0.Add(2 * time.Second))
	outside := NewOperation(t0.Add(time.Minute))
	for _, op := range []*store.Operation{created, running, failed, outside} {
		if err := ops.Create(ctx, op); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ops.PlanFile(ctx, running.ID, 0, []store.Range{{File: 0, First: 1, Last: 1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := ops.Fail(ctx, failed.ID, 13, "failed"); err != nil {
		t.Fatal(err)
	}
	got, err := ops.Unfinished(ctx, t0, t0.Add(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, op := range got {
		ids = append(ids, op.ID)
	}
	if want := []string{created.ID, running.ID}; !slices.Equal(ids, want) {
		t.Errorf("Unfinished = %v, want %v (created, running)", ids, want)
	}
}
