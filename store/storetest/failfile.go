package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"github.com/google/go-cmp/cmp"

	"github.com/folio-ocr/folio/store"
)

// testFailFile records a file that fails before it is planned, a range
// that fails for good and a planned file that fails whole, in a
// three-file operation: the operation goes on and finishes DONE without
// an operation error, exactly once, with the failed ranges' pages done
// and failed and the files' errors in its progress.
func testFailFile(t *testing.T, ops store.Operations) {
	ctx := context.Background()
	op := NewOperation(time.Now())
	first := op.Request.Requests[0]
	op.Request.Requests = append(op.Request.Requests, secondFile(first), secondFile(secondFile(first)))
	if err := ops.Create(ctx, op); err != nil {
		t.Fatal(err)
	}
	r := func(f, a, b int) store.Range { return store.Range{File: f, First: a, Last: b} }
	fail := func(file int, rg store.Range, code int32, want store.Completion) {
		t.Helper()
		c, err := ops.FailFile(ctx, op.ID, file, rg, code, "file "+string(rune('0'+file)))
		if err != nil || c != want {
			t.Fatalf("FailFile(%d, %+v) = %v, %v; want %v", file, rg, c, err, want)
		}
	}
	// File 1 fails before it is planned: no pages, the operation RUNNING.
	fail(1, store.Range{}, 5, store.Recorded)
	fail(1, store.Range{}, 3, store.Recorded) // a repeat replaces the error only
	got, err := ops.Get(ctx, op.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Done || got.State != visionpb.OperationMetadata_RUNNING || got.PagesTotal != 0 || got.StartTime.IsZero() {
		t.Errorf("after an unplanned file failed: done=%v state=%v pages total %d start %v; want running, 0 pages",
			got.Done, got.State, got.PagesTotal, got.StartTime)
	}
	if _, err := ops.PlanFile(ctx, op.ID, 0, []store.Range{r(0, 1, 2), r(0, 3, 5)}); err != nil {
		t.Fatal(err)
	}
	if _, err := ops.FailFile(ctx, op.ID, 0, r(0, 6, 7), 13, "x"); !errors.Is(err, store.ErrInvalidArgument) {
		t.Errorf("FailFile of an unplanned range: %v, want ErrInvalidArgument", err)
	}
	// Range 3-5 of file 0 fails for good; 1-2 completes with one failed page.
	fail(0, r(0, 3, 5), 13, store.Recorded)
	if done, err := ops.RangeDone(ctx, op.ID, r(0, 3, 5)); err != nil || !done {
		t.Errorf("RangeDone of a failed range = %v, %v; want true", done, err)
	}
	if c, err := ops.CompleteRange(ctx, op.ID, r(0, 1, 2), 1); err != nil || c != store.Recorded {
		t.Fatalf("CompleteRange = %v, %v", c, err)
	}
	// File 2 is planned, one range completes, then it fails whole.
	if _, err := ops.PlanFile(ctx, op.ID, 2, []store.Range{r(2, 1, 2), r(2, 3, 4)}); err != nil {
		t.Fatal(err)
	}
	if c, err := ops.CompleteRange(ctx, op.ID, r(2, 1, 2), 0); err != nil || c != store.Recorded {
		t.Fatalf("CompleteRange = %v, %v", c, err)
	}
	fail(2, store.Range{}, 3, store.Finalized)
	fail(2, store.Range{}, 3, store.AlreadyFinished)
	if c, err := ops.CompleteRange(ctx, op.ID, r(2, 3, 4), 0); err != nil || c != store.AlreadyFinished {
		t.Errorf("late CompleteRange = %v, %v; want AlreadyFinished", c, err)
	}
	p := progressOf(t, ops, op.ID)
	o := p.Operation
	if !o.Done || o.State != visionpb.OperationMetadata_DONE || o.ErrorCode != 0 || o.ErrorMessage != "" {
		t.Errorf("operation done=%v state=%v error %d %q; want DONE without an error", o.Done, o.State, o.ErrorCode, o.ErrorMessage)
	}
	if o.PagesDone != 9 || o.PagesTotal != 9 {
		t.Errorf("pages %d/%d, want 9/9", o.PagesDone, o.PagesTotal)
	}
	if diff := cmp.Diff([]int{0, 1, 2}, p.Planned); diff != "" {
		t.Errorf("planned (-want +got):\n%s", diff)
	}
	wantRanges := []store.RangeProgress{
		{Range: r(0, 1, 2), Done: true, FailedPages: 1},
		{Range: r(0, 3, 5), Done: true, FailedPages: 3},
		{Range: r(2, 1, 2), Done: true},
		{Range: r(2, 3, 4), Done: true, FailedPages: 2},
	}
	if diff := cmp.Diff(wantRanges, p.Ranges); diff != "" {
		t.Errorf("ranges (-want +got):\n%s", diff)
	}
	wantErrs := map[int]store.FileError{0: {Code: 13, Message: "file 0"}, 1: {Code: 3, Message: "file 1"}, 2: {Code: 3, Message: "file 2"}}
	if diff := cmp.Diff(wantErrs, p.FileErrors); diff != "" {
		t.Errorf("file errors (-want +got):\n%s", diff)
	}
	if _, err := ops.FailFile(ctx, "nope", 0, store.Range{}, 3, "x"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown operation: %v, want ErrNotFound", err)
	}
}
