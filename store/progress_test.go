package store_test

import (
	"context"
	"testing"

	"github.com/folio-ocr/folio/store"
)

// Progress costs one round trip however many files and ranges the
// operation has, and its figures agree with the operation's counters.
func TestProgressRoundTrips(t *testing.T) {
	ctx := context.Background()
	ops, _, prefix := setup(t)
	const files, ranges = 3, 700 // 2,100 one-page ranges
	op := create(t, ops, files)
	wantDone, wantFailed := 0, 0
	for f := range files {
		var rs []store.Range
		for i := range ranges {
			rs = append(rs, store.Range{File: f, First: i + 1, Last: i + 1})
		}
		plan(t, ops, op.ID, f, rs...)
		for i := 0; i < ranges; i += 3 { // a third done, every other one of those failed
			if _, err := ops.CompleteRange(ctx, op.ID, rs[i], i/3%2); err != nil {
				t.Fatal(err)
			}
			wantDone, wantFailed = wantDone+1, wantFailed+i/3%2
		}
	}
	var rt roundTrips
	p, err := hooked(t, prefix, &rt).Progress(ctx, op.ID)
	if err != nil {
		t.Fatal(err)
	}
	if n := rt.n.Load(); n != 1 {
		t.Errorf("Progress took %d round trips, want 1", n)
	}
	total, done, failed := 0, 0, 0
	for _, r := range p.Ranges {
		total += r.Last - r.First + 1
		if r.Done {
			done += r.Last - r.First + 1
			failed += r.FailedPages
		}
	}
	if total != p.Operation.PagesTotal || done != p.Operation.PagesDone || total != files*ranges || done != wantDone {
		t.Errorf("ranges: %d of %d pages done; operation: %d of %d; want %d of %d",
			done, total, p.Operation.PagesDone, p.Operation.PagesTotal, wantDone, files*ranges)
	}
	if failed != wantFailed {
		t.Errorf("failed pages %d, want %d", failed, wantFailed)
	}
}

// Failed pages live in the operation's hash, so Delete leaves none behind.
func TestProgressDeleteLeavesNothing(t *testing.T) {
	ctx := context.Background()
	ops, c, prefix := setup(t)
	op := create(t, ops, 1)
	r := store.Range{File: 0, First: 1, Last: 3}
	plan(t, ops, op.ID, 0, r, store.Range{File: 0, First: 4, Last: 4})
	if _, err := ops.CompleteRange(ctx, op.ID, r, 2); err != nil {
		t.Fatal(err)
	}
	if err := ops.Delete(ctx, op.ID); err != nil {
		t.Fatal(err)
	}
	if keys := keysLike(t, c, prefix+"op:*"); len(keys) != 0 {
		t.Errorf("keys left after Delete: %v", keys)
	}
}
