package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/folio-ocr/folio/store"
	"github.com/folio-ocr/folio/store/storetest"
)

func newOps(t *testing.T) *store.RedisOperations {
	t.Helper()
	c, prefix := storetest.Redis(t)
	return store.NewRedisOperations(c, &store.RedisOptions{Prefix: prefix, TTL: time.Hour})
}

func request(files int) *visionpb.AsyncBatchAnnotateFilesRequest {
	req := &visionpb.AsyncBatchAnnotateFilesRequest{}
	for i := range files {
		req.Requests = append(req.Requests, &visionpb.AsyncAnnotateFileRequest{
			InputConfig: &visionpb.InputConfig{
				GcsSource: &visionpb.GcsSource{Uri: fmt.Sprintf("gs://b/in-%d.pdf", i)},
				MimeType:  "application/pdf",
			},
			Features:     []*visionpb.Feature{{Type: visionpb.Feature_DOCUMENT_TEXT_DETECTION}},
			OutputConfig: &visionpb.OutputConfig{GcsDestination: &visionpb.GcsDestination{Uri: "gs://b/out/"}, BatchSize: 2},
		})
	}
	return req
}

func create(t *testing.T, ops store.Operations, files int) *store.Operation {
	t.Helper()
	op := &store.Operation{
		ID:         storetest.UniqueID(),
		APIVersion: "v1",
		CreateTime: time.Now().Truncate(time.Microsecond),
		Request:    request(files),
	}
	op.Name = "operations/" + op.ID
	if err := ops.Create(context.Background(), op); err != nil {
		t.Fatalf("Create: %v", err)
	}
	return op
}

func mustGet(t *testing.T, ops store.Operations, id string) *store.Operation {
	t.Helper()
	op, err := ops.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	return op
}

func TestCreateGet(t *testing.T) {
	ops := newOps(t)
	ctx := context.Background()
	want := create(t, ops, 2)
	got := mustGet(t, ops, want.ID)
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
}

func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	r := func(f, a, b int) store.Range { return store.Range{File: f, First: a, Last: b} }
	tests := []struct {
		name  string
		files int
		steps func(t *testing.T, ops store.Operations, id string)
		state visionpb.OperationMetadata_State
		code  int32
	}{
		{
			name:  "two files finish",
			files: 2,
			steps: func(t *testing.T, ops store.Operations, id string) {
				plan(t, ops, id, 0, r(0, 1, 2), r(0, 3, 3))
				if s := mustGet(t, ops, id).State; s != visionpb.OperationMetadata_RUNNING {
					t.Errorf("state after plan = %v, want RUNNING", s)
				}
				complete(t, ops, id, r(0, 1, 2), store.Recorded)
				complete(t, ops, id, r(0, 3, 3), store.Recorded) // file 1 not planned yet
				complete(t, ops, id, r(0, 3, 3), store.Recorded) // redelivery
				plan(t, ops, id, 1, r(1, 1, 1))
				plan(t, ops, id, 1, r(1, 1, 1)) // re-plan is a no-op
				complete(t, ops, id, r(1, 1, 1), store.Finalized)
				complete(t, ops, id, r(1, 1, 1), store.AlreadyFinished)
				op := mustGet(t, ops, id)
				if op.PagesDone != 4 || op.PagesTotal != 4 {
					t.Errorf("pages = %d/%d, want 4/4", op.PagesDone, op.PagesTotal)
				}
			},
			state: visionpb.OperationMetadata_DONE,
		},
		{
			name:  "fail once",
			files: 1,
			steps: func(t *testing.T, ops store.Operations, id string) {
				plan(t, ops, id, 0, r(0, 1, 1))
				if ok, err := ops.Fail(ctx, id, 5, "gs://b/in-0.pdf: not found"); err != nil || !ok {
					t.Fatalf("Fail = %v, %v; want true", ok, err)
				}
				if ok, _ := ops.Fail(ctx, id, 3, "again"); ok {
					t.Error("second Fail ended the operation again")
				}
				if ok, _ := ops.Cancel(ctx, id); ok {
					t.Error("Cancel after Fail ended the operation again")
				}
				complete(t, ops, id, r(0, 1, 1), store.AlreadyFinished)
			},
			state: visionpb.OperationMetadata_DONE,
			code:  5,
		},
		{
			name:  "cancel",
			files: 1,
			steps: func(t *testing.T, ops store.Operations, id string) {
				if ok, err := ops.Cancel(ctx, id); err != nil || !ok {
					t.Fatalf("Cancel = %v, %v", ok, err)
				}
				if c, err := ops.PlanFile(ctx, id, 0, []store.Range{r(0, 1, 1)}); err != nil || c != store.AlreadyFinished {
					t.Errorf("PlanFile after cancel = %v, %v; want AlreadyFinished", c, err)
				}
				if done, err := ops.Finished(ctx, id); err != nil || !done {
					t.Errorf("Finished = %v, %v; want true", done, err)
				}
			},
			state: visionpb.OperationMetadata_CANCELLED,
			code:  1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ops := newOps(t)
			op := create(t, ops, tt.files)
			tt.steps(t, ops, op.ID)
			got := mustGet(t, ops, op.ID)
			if !got.Done || got.State != tt.state || got.ErrorCode != tt.code {
				t.Errorf("end: done=%v state=%v code=%d; want done, %v, %d", got.Done, got.State, got.ErrorCode, tt.state, tt.code)
			}
		})
	}
}

func plan(t *testing.T, ops store.Operations, id string, file int, rs ...store.Range) {
	t.Helper()
	if c, err := ops.PlanFile(context.Background(), id, file, rs); err != nil || c != store.Recorded {
		t.Fatalf("PlanFile(%d) = %v, %v", file, c, err)
	}
}

func complete(t *testing.T, ops store.Operations, id string, r store.Range, want store.Completion) {
	t.Helper()
	c, err := ops.CompleteRange(context.Background(), id, r)
	if err != nil || c != want {
		t.Fatalf("CompleteRange(%+v) = %v, %v; want %v", r, c, err, want)
	}
}

func TestCompleteUnplannedRange(t *testing.T) {
	ops := newOps(t)
	op := create(t, ops, 1)
	plan(t, ops, op.ID, 0, store.Range{File: 0, First: 1, Last: 20})
	if _, err := ops.CompleteRange(context.Background(), op.ID, store.Range{File: 0, First: 1, Last: 5}); err == nil {
		t.Error("CompleteRange of an unplanned range succeeded")
	}
}

// Many goroutines completing ranges at once, each range several times,
// finalize the operation exactly once.
func TestConcurrentCompletionFinalizesOnce(t *testing.T) {
	ops := newOps(t)
	ctx := context.Background()
	const files, rangesPerFile, dup = 3, 40, 3
	op := create(t, ops, files)
	var all []store.Range
	for f := range files {
		var rs []store.Range
		for i := range rangesPerFile {
			rs = append(rs, store.Range{File: f, First: i + 1, Last: i + 1})
		}
		plan(t, ops, op.ID, f, rs...)
		all = append(all, rs...)
	}
	var finalized atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range dup {
		for j, r := range all {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				c, err := ops.CompleteRange(ctx, op.ID, r)
				if err != nil {
					t.Errorf("CompleteRange(%d/%d): %v", i, j, err)
				}
				if c == store.Finalized {
					finalized.Add(1)
				}
			}()
		}
	}
	close(start)
	wg.Wait()
	if n := finalized.Load(); n != 1 {
		t.Fatalf("finalized %d times, want exactly once", n)
	}
	got := mustGet(t, ops, op.ID)
	if got.State != visionpb.OperationMetadata_DONE || got.PagesDone != files*rangesPerFile {
		t.Errorf("state %v pages %d, want DONE %d", got.State, got.PagesDone, files*rangesPerFile)
	}
}

func TestListAndDelete(t *testing.T) {
	ops := newOps(t)
	ctx := context.Background()
	var ids []string
	for range 5 {
		ids = append(ids, create(t, ops, 1).ID)
		time.Sleep(time.Millisecond)
	}
	var got []string
	token := ""
	for pages := 0; ; pages++ {
		page, next, err := ops.List(ctx, 2, token)
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		for _, op := range page {
			got = append(got, op.ID)
		}
		if next == "" {
			break
		}
		if pages > 5 {
			t.Fatal("List does not end")
		}
		token = next
	}
	want := []string{ids[4], ids[3], ids[2], ids[1], ids[0]}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("List order (-want +got):\n%s", diff)
	}
	if err := ops.Delete(ctx, ids[2]); err != nil {
		t.Fatal(err)
	}
	if err := ops.Delete(ctx, ids[2]); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second Delete = %v, want ErrNotFound", err)
	}
	page, _, err := ops.List(ctx, 10, "")
	if err != nil || len(page) != 4 {
		t.Errorf("List after delete: %d ops, %v; want 4", len(page), err)
	}
	if _, _, err := ops.List(ctx, 10, "!!"); err == nil {
		t.Error("List with a bad token succeeded")
	}
}

// Operations created while a client pages through the list do not shift
// the pages: no duplicates, no skips.
func TestListCursorStable(t *testing.T) {
	ops := newOps(t)
	ctx := context.Background()
	var ids []string
	for range 4 {
		ids = append(ids, create(t, ops, 1).ID)
		time.Sleep(time.Millisecond)
	}
	page1, next, err := ops.List(ctx, 2, "")
	if err != nil || len(page1) != 2 || next == "" {
		t.Fatalf("page 1: %d ops, next %q, %v", len(page1), next, err)
	}
	create(t, ops, 1) // newer than everything listed
	page2, next, err := ops.List(ctx, 2, next)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, op := range append(page1, page2...) {
		got = append(got, op.ID)
	}
	if diff := cmp.Diff([]string{ids[3], ids[2], ids[1], ids[0]}, got); diff != "" {
		t.Errorf("pages (-want +got):\n%s", diff)
	}
	if page3, _, err := ops.List(ctx, 2, next); err != nil || len(page3) != 0 {
		t.Errorf("page 3: %d ops, %v; want none", len(page3), err)
	}
}

// Created lists only operations still CREATED within the time window.
func TestCreated(t *testing.T) {
	ops := newOps(t)
	ctx := context.Background()
	mk := func(age time.Duration) *store.Operation {
		op := &store.Operation{ID: storetest.UniqueID(), APIVersion: "v1",
			CreateTime: time.Now().Add(-age).Truncate(time.Microsecond), Request: request(1)}
		op.Name = "operations/" + op.ID
		if err := ops.Create(ctx, op); err != nil {
			t.Fatal(err)
		}
		return op
	}
	stuck, running, cancelled := mk(5*time.Minute), mk(5*time.Minute), mk(5*time.Minute)
	mk(2 * time.Hour) // too old
	mk(0)             // too new
	plan(t, ops, running.ID, 0, store.Range{File: 0, First: 1, Last: 1})
	if _, err := ops.Cancel(ctx, cancelled.ID); err != nil {
		t.Fatal(err)
	}
	got, err := ops.Created(ctx, time.Now().Add(-time.Hour), time.Now().Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != stuck.ID {
		var ids []string
		for _, op := range got {
			ids = append(ids, op.ID)
		}
		t.Errorf("Created = %v, want only %s", ids, stuck.ID)
	}
}

// Units of a range are saved, counted once each, read back, and dropped
// when the range completes or the operation ends.
func TestParts(t *testing.T) {
	ctx := context.Background()
	save := func(ops store.Operations, id string, r store.Range, unit int, data string) (int, store.Completion) {
		t.Helper()
		n, c, err := ops.SavePart(ctx, id, r, unit, []byte(data))
		if err != nil {
			t.Fatalf("SavePart(%d): %v", unit, err)
		}
		return n, c
	}
	t.Run("complete", func(t *testing.T) {
		ops := newOps(t)
		op := create(t, ops, 1)
		r := store.Range{File: 0, First: 1, Last: 20}
		plan(t, ops, op.ID, 0, r)
		if n, _ := save(ops, op.ID, r, 1, "a"); n != 1 {
			t.Errorf("first unit: count %d, want 1", n)
		}
		if n, _ := save(ops, op.ID, r, 1, "a2"); n != 1 {
			t.Errorf("unit saved again: count %d, want 1", n)
		}
		if n, _ := save(ops, op.ID, r, 11, "b"); n != 2 {
			t.Errorf("second unit: count %d, want 2", n)
		}
		for unit, want := range map[int]string{1: "a2", 11: "b"} {
			got, err := ops.Part(ctx, op.ID, r, unit)
			if err != nil || string(got) != want {
				t.Errorf("Part(%d) = %q, %v; want %q", unit, got, err, want)
			}
		}
		complete(t, ops, op.ID, r, store.Finalized)
		if _, err := ops.Part(ctx, op.ID, r, 1); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Part after the range completed: %v, want ErrNotFound", err)
		}
		if _, c := save(ops, op.ID, r, 1, "late"); c != store.AlreadyFinished {
			t.Errorf("SavePart after the operation finished: %v, want AlreadyFinished", c)
		}
	})
	for _, end := range []string{"cancel", "delete"} {
		t.Run(end, func(t *testing.T) {
			ops := newOps(t)
			op := create(t, ops, 1)
			r := store.Range{File: 0, First: 1, Last: 20}
			plan(t, ops, op.ID, 0, r)
			save(ops, op.ID, r, 1, "a")
			var err error
			if end == "cancel" {
				_, err = ops.Cancel(ctx, op.ID)
			} else {
				err = ops.Delete(ctx, op.ID)
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ops.Part(ctx, op.ID, r, 1); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("Part after %s: %v, want ErrNotFound", end, err)
			}
		})
	}
	t.Run("missing operation", func(t *testing.T) {
		ops := newOps(t)
		if _, _, err := ops.SavePart(ctx, "nope", store.Range{First: 1, Last: 2}, 1, []byte("x")); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("SavePart of a missing operation: %v, want ErrNotFound", err)
		}
	})
}
