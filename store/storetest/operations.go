package storetest

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/folio-ocr/folio/store"
)

// RunOperationsTests is the conformance suite of store.Operations. Run it
// against every implementation, the Redis store and in-memory fakes alike,
// so that a fake cannot drift from the store (go-cloud's drivertest).
// newOps returns an empty store for one test; the tests run in parallel.
//
// It exercises the methods the API calls: Create (ids and idempotency
// keys), Get, Finished, List (order, paging, filters), Unfinished, Progress (with the
// PlanFile and CompleteRange calls that feed it), RangeDone, Fail, Cancel
// and Delete.
// The rest of the worker's methods (SavePart, Part) are tested with each
// implementation.
func RunOperationsTests(t *testing.T, newOps func(t *testing.T) store.Operations) {
	tests := []struct {
		name string
		run  func(t *testing.T, ops store.Operations)
	}{
		{"CreateGetDelete", testCreateGetDelete},
		{"ImagesOperation", testImagesOperation},
		{"FinishOnce", testFinishOnce},
		{"ListOrderAndPages", testListOrderAndPages},
		{"ListCursorStable", testListCursorStable},
		{"ListEqualCreateTimes", testListEqualCreateTimes},
		{"ListFilter", testListFilter},
		{"ListSelectiveFilter", testListSelectiveFilter},
		{"IdempotentCreate", testIdempotentCreate},
		{"IdempotentCreateConcurrent", testIdempotentCreateConcurrent},
		{"Progress", testProgress},
		{"RangeDone", testRangeDone},
		{"Unfinished", testUnfinished},
		{"FailFile", testFailFile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, newOps(t))
		})
	}
}

// NewOperation returns an operation ready for Create: a fresh id, its name,
// a one-file request and the given creation time (truncated to the
// microsecond, the index's resolution).
func NewOperation(created time.Time) *store.Operation {
	id := UniqueID()
	return &store.Operation{
		ID:         id,
		Name:       "operations/" + id,
		APIVersion: "v1",
		CreateTime: created.Truncate(time.Microsecond),
		Request: &visionpb.AsyncBatchAnnotateFilesRequest{Requests: []*visionpb.AsyncAnnotateFileRequest{{
			InputConfig: &visionpb.InputConfig{
				GcsSource: &visionpb.GcsSource{Uri: "gs://b/in-" + id + ".pdf"},
				MimeType:  "application/pdf",
			},
			Features:     []*visionpb.Feature{{Type: visionpb.Feature_DOCUMENT_TEXT_DETECTION}},
			OutputConfig: &visionpb.OutputConfig{GcsDestination: &visionpb.GcsDestination{Uri: "gs://b/out/"}, BatchSize: 2},
		}}},
	}
}

// createN creates n operations a millisecond apart, oldest first, and
// returns them in that order.
func createN(t *testing.T, ops store.Operations, n int) []*store.Operation {
	t.Helper()
	base := time.Now().Add(-time.Duration(n) * time.Millisecond)
	out := make([]*store.Operation, n)
	for i := range n {
		out[i] = NewOperation(base.Add(time.Duration(i) * time.Millisecond))
		if err := ops.Create(context.Background(), out[i]); err != nil {
			t.Fatalf("Create %d: %v", i, err)
		}
	}
	return out
}

// listAll pages through List with f and returns the ids listed. It fails
// the test if a page exceeds pageSize, or if the pages do not end within
// maxCalls calls.
func listAll(t *testing.T, ops store.Operations, pageSize int, f store.ListFilter, maxCalls int) []string {
	t.Helper()
	var ids []string
	token := ""
	for range maxCalls {
		page, next, err := ops.List(context.Background(), pageSize, token, f)
		if err != nil {
			t.Fatalf("List(%d, %q): %v", pageSize, token, err)
		}
		if len(page) > pageSize {
			t.Fatalf("List(%d, %q) returned %d operations", pageSize, token, len(page))
		}
		for _, op := range page {
			ids = append(ids, op.ID)
		}
		if next == "" {
			return ids
		}
		token = next
	}
	t.Fatalf("List(%d) with %+v did not end within %d calls", pageSize, f, maxCalls)
	return nil
}

// newestFirst returns the ids of ops, newest (last) first.
func newestFirst(ops ...*store.Operation) []string {
	ids := make([]string, len(ops))
	for i, op := range ops {
		ids[len(ops)-1-i] = op.ID
	}
	return ids
}

func testCreateGetDelete(t *testing.T, ops store.Operations) {
	ctx := context.Background()
	want := NewOperation(time.Now())
	if err := ops.Create(ctx, want); err != nil {
		t.Fatalf("Create: %v", err)
	}
	got, err := ops.Get(ctx, want.ID)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	want.State = visionpb.OperationMetadata_CREATED
	want.UpdateTime = want.CreateTime
	if diff := cmp.Diff(want, got, protocmp.Transform(), cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
		t.Errorf("Get (-want +got):\n%s", diff)
	}
	if err := ops.Create(ctx, want); !errors.Is(err, store.ErrAlreadyExists) {
		t.Errorf("second Create = %v, want ErrAlreadyExists", err)
	}
	if _, err := ops.Get(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get(unknown) = %v, want ErrNotFound", err)
	}
	if err := ops.Delete(ctx, want.ID); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := ops.Get(ctx, want.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get after Delete = %v, want ErrNotFound", err)
	}
	if err := ops.Delete(ctx, want.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second Delete = %v, want ErrNotFound", err)
	}
}

// testImagesOperation records an images:asyncBatchAnnotate operation: its
// request comes back as Images, it has one file whose pages are its images,
// and it is finalized by completing them.
func testImagesOperation(t *testing.T, ops store.Operations) {
	ctx := context.Background()
	want := NewOperation(time.Now())
	want.Request = nil
	want.Images = &visionpb.AsyncBatchAnnotateImagesRequest{
		Requests: []*visionpb.AnnotateImageRequest{
			{Image: &visionpb.Image{Content: []byte("\x89PNG")}, Features: []*visionpb.Feature{{Type: visionpb.Feature_TEXT_DETECTION}}},
			{Image: &visionpb.Image{Source: &visionpb.ImageSource{GcsImageUri: "gs://b/a.png"}}},
		},
		OutputConfig: &visionpb.OutputConfig{GcsDestination: &visionpb.GcsDestination{Uri: "gs://b/out/"}, BatchSize: 1},
	}
	if err := ops.Create(ctx, want); err != nil {
		t.Fatalf("Create: %v", err)
	}
	got, err := ops.Get(ctx, want.ID)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	want.State, want.UpdateTime = visionpb.OperationMetadata_CREATED, want.CreateTime
	if diff := cmp.Diff(want, got, protocmp.Transform(), cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
		t.Errorf("Get (-want +got):\n%s", diff)
	}
	ranges := []store.Range{{File: 0, First: 1, Last: 1}, {File: 0, First: 2, Last: 2}}
	if c, err := ops.PlanFile(ctx, want.ID, 0, ranges); err != nil || c != store.Recorded {
		t.Fatalf("PlanFile = %v, %v", c, err)
	}
	for i, r := range ranges {
		wantC := store.Recorded
		if i == len(ranges)-1 {
			wantC = store.Finalized
		}
		if c, err := ops.CompleteRange(ctx, want.ID, r, 0); err != nil || c != wantC {
			t.Fatalf("CompleteRange(%v) = %v, %v; want %v", r, c, err, wantC)
		}
	}
	both := NewOperation(time.Now())
	both.Images = want.Images
	if err := ops.Create(ctx, both); err == nil {
		t.Error("Create with both requests succeeded")
	}
}

func testFinishOnce(t *testing.T, ops store.Operations) {
	ctx := context.Background()
	all := createN(t, ops, 2)
	failed, cancelled := all[0], all[1]
	if ok, err := ops.Fail(ctx, failed.ID, 5, "gs://b/in.pdf: not found"); err != nil || !ok {
		t.Fatalf("Fail = %v, %v; want true", ok, err)
	}
	if ok, err := ops.Fail(ctx, failed.ID, 3, "again"); err != nil || ok {
		t.Errorf("second Fail = %v, %v; want false", ok, err)
	}
	if ok, err := ops.Cancel(ctx, failed.ID); err != nil || ok {
		t.Errorf("Cancel after Fail = %v, %v; want false", ok, err)
	}
	if ok, err := ops.Cancel(ctx, cancelled.ID); err != nil || !ok {
		t.Fatalf("Cancel = %v, %v; want true", ok, err)
	}
	for _, tt := range []struct {
		id    string
		state store.State
		code  int32
	}{
		{failed.ID, visionpb.OperationMetadata_DONE, 5},
		{cancelled.ID, visionpb.OperationMetadata_CANCELLED, 1},
	} {
		op, err := ops.Get(ctx, tt.id)
		if err != nil {
			t.Fatal(err)
		}
		if !op.Done || op.State != tt.state || op.ErrorCode != tt.code {
			t.Errorf("%s: done=%v state=%v code=%d; want done, %v, %d", tt.id, op.Done, op.State, op.ErrorCode, tt.state, tt.code)
		}
		if done, err := ops.Finished(ctx, tt.id); err != nil || !done {
			t.Errorf("Finished(%s) = %v, %v; want true", tt.id, done, err)
		}
	}
	for _, f := range []func(context.Context, string) (bool, error){ops.Cancel, ops.Finished} {
		if _, err := f(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("unknown operation: %v, want ErrNotFound", err)
		}
	}
}

func testListOrderAndPages(t *testing.T, ops store.Operations) {
	ctx := context.Background()
	all := createN(t, ops, 5)
	if diff := cmp.Diff(newestFirst(all...), listAll(t, ops, 2, store.ListFilter{}, 10)); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
	if err := ops.Delete(ctx, all[2].ID); err != nil {
		t.Fatal(err)
	}
	want := newestFirst(all[0], all[1], all[3], all[4])
	if diff := cmp.Diff(want, listAll(t, ops, 10, store.ListFilter{}, 10)); diff != "" {
		t.Errorf("List after Delete (-want +got):\n%s", diff)
	}
	if _, _, err := ops.List(ctx, 10, "!!", store.ListFilter{}); !errors.Is(err, store.ErrInvalidArgument) {
		t.Errorf("List with a bad token = %v, want ErrInvalidArgument", err)
	}
}

// Operations created while a client pages do not shift the pages: no
// duplicates, no skips, and a token stays valid.
func testListCursorStable(t *testing.T, ops store.Operations) {
	ctx := context.Background()
	all := createN(t, ops, 4)
	page1, next, err := ops.List(ctx, 2, "", store.ListFilter{})
	if err != nil || len(page1) != 2 || next == "" {
		t.Fatalf("page 1: %d operations, next %q, %v", len(page1), next, err)
	}
	if err := ops.Create(ctx, NewOperation(time.Now())); err != nil { // newer than everything listed
		t.Fatal(err)
	}
	page2, next2, err := ops.List(ctx, 2, next, store.ListFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, op := range append(page1, page2...) {
		got = append(got, op.ID)
	}
	if diff := cmp.Diff(newestFirst(all...), got); diff != "" {
		t.Errorf("pages (-want +got):\n%s", diff)
	}
	if again, _, err := ops.List(ctx, 2, next, store.ListFilter{}); err != nil || len(again) != 2 || again[0].ID != page2[0].ID {
		t.Errorf("page 2 again: %d operations, %v; want the same page", len(again), err)
	}
	if next2 != "" {
		if page3, _, err := ops.List(ctx, 2, next2, store.ListFilter{}); err != nil || len(page3) != 0 {
			t.Errorf("page 3: %d operations, %v; want none", len(page3), err)
		}
	}
}

// Operations created at the same instant are each listed once, whatever
// the page size.
func testListEqualCreateTimes(t *testing.T, ops store.Operations) {
	ctx := context.Background()
	at := time.Now()
	var ids []string
	for range 5 {
		op := NewOperation(at)
		if err := ops.Create(ctx, op); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, op.ID)
	}
	for _, size := range []int{1, 2, 3} {
		got := listAll(t, ops, size, store.ListFilter{}, 10)
		slices.Sort(got)
		if diff := cmp.Diff(slices.Sorted(slices.Values(ids)), got); diff != "" {
			t.Errorf("page size %d (-want +got):\n%s", size, diff)
		}
	}
}

func testListFilter(t *testing.T, ops store.Operations) {
	ctx := context.Background()
	all := createN(t, ops, 5) // created, cancelled, failed, created, cancelled
	c0, x1, f2, c3, x4 := all[0], all[1], all[2], all[3], all[4]
	for _, op := range []*store.Operation{x1, x4} {
		if _, err := ops.Cancel(ctx, op.ID); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ops.Fail(ctx, f2.ID, 5, "not found"); err != nil {
		t.Fatal(err)
	}
	yes, no := true, false
	const (
		created   = visionpb.OperationMetadata_CREATED
		running   = visionpb.OperationMetadata_RUNNING
		done      = visionpb.OperationMetadata_DONE
		cancelled = visionpb.OperationMetadata_CANCELLED
	)
	tests := []struct {
		name string
		f    store.ListFilter
		want []*store.Operation // newest first
	}{
		{"all", store.ListFilter{}, []*store.Operation{x4, c3, f2, x1, c0}},
		{"finished", store.ListFilter{Done: &yes}, []*store.Operation{x4, f2, x1}},
		{"unfinished", store.ListFilter{Done: &no}, []*store.Operation{c3, c0}},
		{"cancelled", store.ListFilter{States: []store.State{cancelled}}, []*store.Operation{x4, x1}},
		{"created or done", store.ListFilter{States: []store.State{created, done}}, []*store.Operation{c3, f2, c0}},
		{"running", store.ListFilter{States: []store.State{running}}, nil},
		{"finished and created", store.ListFilter{Done: &yes, States: []store.State{created}}, nil},
		{"finished and done", store.ListFilter{Done: &yes, States: []store.State{done}}, []*store.Operation{f2}},
	}
	for _, tt := range tests {
		var want []string
		for _, op := range tt.want {
			want = append(want, op.ID)
		}
		for _, size := range []int{1, 2, 10} {
			got := listAll(t, ops, size, tt.f, 10)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s, page size %d (-want +got):\n%s", tt.name, size, diff)
			}
		}
	}
	for _, op := range all {
		got, err := ops.Get(ctx, op.ID)
		if err != nil {
			t.Fatal(err)
		}
		finished := store.ListFilter{Done: &yes}.Match(got)
		if want := got.ID != c0.ID && got.ID != c3.ID; finished != want {
			t.Errorf("ListFilter{Done: true}.Match(%s in %v) = %v, want %v", got.ID, got.State, finished, want)
		}
	}
}

// A filter that keeps few operations still pages through all of them, each
// once, newest first; pages may be short.
func testListSelectiveFilter(t *testing.T, ops store.Operations) {
	ctx := context.Background()
	all := createN(t, ops, 120)
	var want []*store.Operation
	for i := 0; i < len(all); i += 40 {
		if _, err := ops.Cancel(ctx, all[i].ID); err != nil {
			t.Fatal(err)
		}
		want = append(want, all[i])
	}
	yes := true
	if diff := cmp.Diff(newestFirst(want...), listAll(t, ops, 2, store.ListFilter{Done: &yes}, 120)); diff != "" {
		t.Errorf("finished (-want +got):\n%s", diff)
	}
}

func testIdempotentCreate(t *testing.T, ops store.Operations) {
	ctx := context.Background()
	key := "test/" + UniqueID()
	first := NewOperation(time.Now())
	first.IdempotencyKey = key
	if err := ops.Create(ctx, first); err != nil {
		t.Fatalf("Create: %v", err)
	}
	if got, err := ops.Get(ctx, first.ID); err != nil || got.IdempotencyKey != key {
		t.Fatalf("Get = %+v, %v; want idempotency key %q", got, err, key)
	}
	// A retry under a fresh id names the first operation and records nothing.
	retry := NewOperation(time.Now())
	retry.IdempotencyKey = key
	wantDuplicate(t, ops.Create(ctx, retry), key, first.ID)
	if _, err := ops.Get(ctx, retry.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get(duplicate) = %v, want ErrNotFound", err)
	}
	// The key holds while its operation exists, finished or not.
	if _, err := ops.Cancel(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	retry = NewOperation(time.Now())
	retry.IdempotencyKey = key
	wantDuplicate(t, ops.Create(ctx, retry), key, first.ID)
	// Other keys, and no key, are independent.
	other := NewOperation(time.Now())
	other.IdempotencyKey = key + "-other"
	if err := ops.Create(ctx, other); err != nil {
		t.Errorf("Create with another key: %v", err)
	}
	for range 2 {
		if err := ops.Create(ctx, NewOperation(time.Now())); err != nil {
			t.Errorf("Create without a key: %v", err)
		}
	}
	if diff := cmp.Diff(4, len(listAll(t, ops, 100, store.ListFilter{}, 10))); diff != "" {
		t.Errorf("operations listed (-want +got):\n%s", diff)
	}
	// Once its operation is deleted the key is free again.
	if err := ops.Delete(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	again := NewOperation(time.Now())
	again.IdempotencyKey = key
	if err := ops.Create(ctx, again); err != nil {
		t.Fatalf("Create after the key's operation was deleted: %v", err)
	}
	retry = NewOperation(time.Now())
	retry.IdempotencyKey = key
	wantDuplicate(t, ops.Create(ctx, retry), key, again.ID)
}

// Concurrent Creates with one key record exactly one operation; every other
// caller learns its id.
func testIdempotentCreateConcurrent(t *testing.T, ops store.Operations) {
	const callers = 20
	key := "test/" + UniqueID()
	errs := make([]error, callers)
	created := make([]*store.Operation, callers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range callers {
		created[i] = NewOperation(time.Now())
		created[i].IdempotencyKey = key
		wg.Go(func() {
			<-start
			errs[i] = ops.Create(context.Background(), created[i])
		})
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		if err == nil {
			if winner >= 0 {
				t.Fatalf("Creates %d and %d both succeeded", winner, i)
			}
			winner = i
		}
	}
	if winner < 0 {
		t.Fatalf("no Create succeeded: %v", errs)
	}
	for i, err := range errs {
		if i == winner {
			continue
		}
		wantDuplicate(t, err, key, created[winner].ID)
		if _, err := ops.Get(context.Background(), created[i].ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Get(loser %d) = %v, want ErrNotFound", i, err)
		}
	}
	if diff := cmp.Diff([]string{created[winner].ID}, listAll(t, ops, 100, store.ListFilter{}, 10)); diff != "" {
		t.Errorf("operations listed (-want +got):\n%s", diff)
	}
}

// wantDuplicate fails t unless err is a *store.DuplicateError naming key
// and id, and does not match store.ErrAlreadyExists.
func wantDuplicate(t *testing.T, err error, key, id string) {
	t.Helper()
	var dup *store.DuplicateError
	if !errors.As(err, &dup) {
		t.Errorf("Create = %v, want a *store.DuplicateError", err)
		return
	}
	if diff := cmp.Diff(store.DuplicateError{Key: key, ID: id}, *dup); diff != "" {
		t.Errorf("DuplicateError (-want +got):\n%s", diff)
	}
	if errors.Is(err, store.ErrAlreadyExists) {
		t.Errorf("Create = %v matches ErrAlreadyExists", err)
	}
}
