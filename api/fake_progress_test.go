package api

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"

	"github.com/folio-ocr/folio/store"
)

// fakeWork is what the worker has recorded of one operation in a fakeOps.
type fakeWork struct {
	planned map[int]bool
	ranges  map[store.Range]bool // planned ranges → done
	failed  map[store.Range]int  // failed pages of done ranges, when any
	errs    map[int]store.FileError
}

// workOf returns the recorded work of operation id, creating it.
// f.mu must be held.
func (f *fakeOps) workOf(id string) *fakeWork {
	if f.work == nil {
		f.work = map[string]*fakeWork{}
	}
	w := f.work[id]
	if w == nil {
		w = &fakeWork{planned: map[int]bool{}, ranges: map[store.Range]bool{}, failed: map[store.Range]int{}}
		f.work[id] = w
	}
	return w
}

// PlanFile implements store.Operations.
func (f *fakeOps) PlanFile(_ context.Context, id string, file int, ranges []store.Range) (store.Completion, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return 0, f.err
	}
	op, ok := f.ops[id]
	if !ok {
		return 0, fmt.Errorf("fake: operation %s: %w", id, store.ErrNotFound)
	}
	if op.Done {
		return store.AlreadyFinished, nil
	}
	for _, r := range ranges {
		if r.File != file {
			return 0, fmt.Errorf("fake: plan file %d of %s: range %+v belongs to another file", file, id, r)
		}
	}
	now := time.Now().UTC()
	w := f.workOf(id)
	if !w.planned[file] {
		w.planned[file] = true
		for _, r := range ranges {
			w.ranges[r] = false
			op.PagesTotal += r.Last - r.First + 1
		}
	}
	if op.State == visionpb.OperationMetadata_CREATED {
		op.State, op.StartTime = visionpb.OperationMetadata_RUNNING, now
	}
	op.UpdateTime = now
	return store.Recorded, nil
}

// CompleteRange implements store.Operations.
func (f *fakeOps) CompleteRange(_ context.Context, id string, r store.Range, failedPages int) (store.Completion, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return 0, f.err
	}
	if failedPages < 0 || failedPages > r.Last-r.First+1 {
		return 0, fmt.Errorf("fake: complete range %+v of %s: %d failed pages: %w", r, id, failedPages, store.ErrInvalidArgument)
	}
	op, ok := f.ops[id]
	if !ok {
		return 0, fmt.Errorf("fake: operation %s: %w", id, store.ErrNotFound)
	}
	if op.Done {
		return store.AlreadyFinished, nil
	}
	w := f.workOf(id)
	done, planned := w.ranges[r]
	if !planned {
		return 0, fmt.Errorf("fake: operation %s: range %+v was never planned", id, r)
	}
	if !done {
		w.ranges[r] = true
		op.PagesDone += r.Last - r.First + 1
	}
	if failedPages > 0 {
		w.failed[r] = failedPages
	} else {
		delete(w.failed, r)
	}
	op.UpdateTime = time.Now().UTC()
	if len(w.planned) < len(op.Request.GetRequests()) {
		return store.Recorded, nil
	}
	for _, d := range w.ranges {
		if !d {
			return store.Recorded, nil
		}
	}
	op.Done, op.State = true, visionpb.OperationMetadata_DONE
	return store.Finalized, nil
}

// FailFile implements store.Operations.
func (f *fakeOps) FailFile(_ context.Context, id string, file int, r store.Range, code int32, message string) (store.Completion, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return 0, f.err
	}
	op, ok := f.ops[id]
	if !ok {
		return 0, fmt.Errorf("fake: operation %s: %w", id, store.ErrNotFound)
	}
	if op.Done {
		return store.AlreadyFinished, nil
	}
	w := f.workOf(id)
	var fail []store.Range
	if r != (store.Range{}) {
		if _, planned := w.ranges[r]; !planned || r.File != file {
			return 0, fmt.Errorf("fake: operation %s: range %+v was never planned: %w", id, r, store.ErrInvalidArgument)
		}
		fail = []store.Range{r}
	} else {
		for rr := range w.ranges {
			if rr.File == file {
				fail = append(fail, rr)
			}
		}
	}
	w.planned[file] = true
	for _, rr := range fail {
		if !w.ranges[rr] {
			w.ranges[rr] = true
			op.PagesDone += rr.Last - rr.First + 1
			w.failed[rr] = rr.Last - rr.First + 1
		}
	}
	if w.errs == nil {
		w.errs = map[int]store.FileError{}
	}
	w.errs[file] = store.FileError{Code: code, Message: message}
	now := time.Now().UTC()
	if op.State == visionpb.OperationMetadata_CREATED {
		op.State, op.StartTime = visionpb.OperationMetadata_RUNNING, now
	}
	op.UpdateTime = now
	if len(w.planned) < len(op.Request.GetRequests()) {
		return store.Recorded, nil
	}
	for _, d := range w.ranges {
		if !d {
			return store.Recorded, nil
		}
	}
	op.Done, op.State = true, visionpb.OperationMetadata_DONE
	return store.Finalized, nil
}

// Progress implements store.Operations.
func (f *fakeOps) Progress(_ context.Context, id string) (*store.Progress, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	op, ok := f.ops[id]
	if !ok {
		return nil, fmt.Errorf("fake: operation %s: %w", id, store.ErrNotFound)
	}
	p := &store.Progress{Operation: clone(op)}
	w := f.work[id]
	if w == nil {
		return p, nil
	}
	for file := range w.planned {
		p.Planned = append(p.Planned, file)
	}
	slices.Sort(p.Planned)
	if len(w.errs) > 0 {
		p.FileErrors = maps.Clone(w.errs)
	}
	for r, done := range w.ranges {
		p.Ranges = append(p.Ranges, store.RangeProgress{Range: r, Done: done, FailedPages: w.failed[r]})
	}
	slices.SortFunc(p.Ranges, func(a, b store.RangeProgress) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.First, b.First))
	})
	return p, nil
}

// RangeDone implements store.Operations.
func (f *fakeOps) RangeDone(_ context.Context, id string, r store.Range) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return false, f.err
	}
	op, ok := f.ops[id]
	if !ok {
		return false, fmt.Errorf("fake: operation %s: %w", id, store.ErrNotFound)
	}
	return op.Done || f.workOf(id).ranges[r], nil
}
