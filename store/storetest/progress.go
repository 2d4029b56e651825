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

// progressOf returns ops.Progress(id) and fails the test on an error.
func progressOf(t *testing.T, ops store.Operations, id string) *store.Progress {
	t.Helper()
	p, err := ops.Progress(context.Background(), id)
	if err != nil {
		t.Fatalf("Progress: %v", err)
	}
	return p
}

// Progress follows the worker's calls: a planned file's ranges appear in
// page order, completed ones with their failed pages (replaced, not added
// to, when a range is recorded again), the start time is set by the first
// PlanFile, and it survives the operation's end.
func testProgress(t *testing.T, ops store.Operations) {
	ctx := context.Background()
	if _, err := ops.Progress(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Progress(unknown) = %v, want ErrNotFound", err)
	}
	op := NewOperation(time.Now())
	op.Request.Requests = append(op.Request.Requests, secondFile(op.Request.Requests[0]))
	if err := ops.Create(ctx, op); err != nil {
		t.Fatal(err)
	}
	p := progressOf(t, ops, op.ID)
	if p.Operation.ID != op.ID || p.Operation.State != visionpb.OperationMetadata_CREATED ||
		!p.Operation.StartTime.IsZero() || len(p.Planned) != 0 || len(p.Ranges) != 0 {
		t.Errorf("Progress of a new operation = %+v (operation %+v)", p, p.Operation)
	}

	before := time.Now().Add(-time.Second)
	r1, r2, r3 := store.Range{File: 1, First: 1, Last: 2}, store.Range{File: 1, First: 3, Last: 4}, store.Range{File: 1, First: 5, Last: 5}
	if c, err := ops.PlanFile(ctx, op.ID, 1, []store.Range{r3, r1, r2}); err != nil || c != store.Recorded {
		t.Fatalf("PlanFile = %v, %v", c, err)
	}
	p = progressOf(t, ops, op.ID)
	started := p.Operation.StartTime
	if p.Operation.State != visionpb.OperationMetadata_RUNNING || started.Before(before) || started.After(time.Now().Add(time.Second)) {
		t.Errorf("after PlanFile: state %v, start time %v; want RUNNING, about now", p.Operation.State, started)
	}
	if diff := cmp.Diff([]int{1}, p.Planned); diff != "" {
		t.Errorf("planned (-want +got):\n%s", diff)
	}
	want := []store.RangeProgress{{Range: r1}, {Range: r2}, {Range: r3}}
	if diff := cmp.Diff(want, p.Ranges); diff != "" {
		t.Errorf("ranges after PlanFile (-want +got):\n%s", diff)
	}

	// A failed-pages count out of the range's bounds is refused.
	for _, n := range []int{-1, 3} {
		if _, err := ops.CompleteRange(ctx, op.ID, r1, n); !errors.Is(err, store.ErrInvalidArgument) {
			t.Errorf("CompleteRange with %d failed pages of 2 = %v, want ErrInvalidArgument", n, err)
		}
	}
	// A range recorded twice counts its failed pages once; the last
	// record wins.
	for _, n := range []int{2, 1, 1} {
		if c, err := ops.CompleteRange(ctx, op.ID, r2, n); err != nil || c != store.Recorded {
			t.Fatalf("CompleteRange(%+v, %d) = %v, %v", r2, n, c, err)
		}
	}
	if c, err := ops.CompleteRange(ctx, op.ID, r3, 0); err != nil || c != store.Recorded {
		t.Fatalf("CompleteRange(%+v) = %v, %v", r3, c, err)
	}
	// Planning the file again changes nothing, the start time included.
	if _, err := ops.PlanFile(ctx, op.ID, 1, []store.Range{r1, r2, r3}); err != nil {
		t.Fatal(err)
	}
	p = progressOf(t, ops, op.ID)
	want = []store.RangeProgress{{Range: r1}, {Range: r2, Done: true, FailedPages: 1}, {Range: r3, Done: true}}
	if diff := cmp.Diff(want, p.Ranges); diff != "" {
		t.Errorf("ranges after completions (-want +got):\n%s", diff)
	}
	if !p.Operation.StartTime.Equal(started) || p.Operation.PagesDone != 3 || p.Operation.PagesTotal != 5 {
		t.Errorf("operation: start %v (want %v), pages %d of %d (want 3 of 5)",
			p.Operation.StartTime, started, p.Operation.PagesDone, p.Operation.PagesTotal)
	}

	// The other file; then the operation ends and its progress stays.
	r0 := store.Range{File: 0, First: 1, Last: 1}
	if _, err := ops.PlanFile(ctx, op.ID, 0, []store.Range{r0}); err != nil {
		t.Fatal(err)
	}
	for _, r := range []store.Range{r0, r1} {
		if _, err := ops.CompleteRange(ctx, op.ID, r, 1); err != nil {
			t.Fatal(err)
		}
	}
	p = progressOf(t, ops, op.ID)
	if !p.Operation.Done || p.Operation.State != visionpb.OperationMetadata_DONE {
		t.Errorf("after the last range: done %v, state %v; want done, DONE", p.Operation.Done, p.Operation.State)
	}
	if diff := cmp.Diff([]int{0, 1}, p.Planned); diff != "" {
		t.Errorf("planned (-want +got):\n%s", diff)
	}
	want = []store.RangeProgress{{Range: r0, Done: true, FailedPages: 1}, {Range: r1, Done: true, FailedPages: 1},
		{Range: r2, Done: true, FailedPages: 1}, {Range: r3, Done: true}}
	if diff := cmp.Diff(want, p.Ranges); diff != "" {
		t.Errorf("ranges at the end (-want +got):\n%s", diff)
	}

	if err := ops.Delete(ctx, op.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := ops.Progress(ctx, op.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Progress after Delete = %v, want ErrNotFound", err)
	}
}

// secondFile returns a file request like r for another input and output.
func secondFile(r *visionpb.AsyncAnnotateFileRequest) *visionpb.AsyncAnnotateFileRequest {
	return &visionpb.AsyncAnnotateFileRequest{
		InputConfig: &visionpb.InputConfig{
			GcsSource: &visionpb.GcsSource{Uri: r.GetInputConfig().GetGcsSource().GetUri() + ".2"},
			MimeType:  r.GetInputConfig().GetMimeType(),
		},
		Features:     r.GetFeatures(),
		OutputConfig: &visionpb.OutputConfig{GcsDestination: &visionpb.GcsDestination{Uri: "gs://b/out2/"}, BatchSize: 2},
	}
}
