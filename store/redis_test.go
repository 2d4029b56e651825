package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/folio-ocr/folio/store"
	"github.com/folio-ocr/folio/store/storetest"
)

func newOps(t *testing.T) *store.RedisOperations {
	t.Helper()
	ops, _, _ := setup(t)
	return ops
}

// setup returns a store over a fresh key prefix, its client and the prefix,
// for tests that look at the keys themselves.
func setup(t *testing.T) (*store.RedisOperations, redis.UniversalClient, string) {
	t.Helper()
	c, prefix := storetest.Redis(t)
	return store.NewRedisOperations(c, &store.RedisOptions{Prefix: prefix, TTL: time.Hour}), c, prefix
}

// hooked returns a second client of the test database that runs every
// command through h, and a store over it with the given prefix.
func hooked(t *testing.T, prefix string, h redis.Hook) *store.RedisOperations {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: storetest.RedisAddr(), DB: storetest.RedisDB()})
	t.Cleanup(func() { _ = c.Close() })
	c.AddHook(h)
	return store.NewRedisOperations(c, &store.RedisOptions{Prefix: prefix, TTL: time.Hour})
}

// hook is a redis.Hook calling its functions, when set, around each
// command (before) and each pipeline (pipeline).
type hook struct {
	before   func(ctx context.Context, cmd redis.Cmder) // may SetErr after the command ran
	after    func(ctx context.Context, cmd redis.Cmder)
	pipeline func(cmds []redis.Cmder)
}

func (h *hook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *hook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if h.before != nil {
			h.before(ctx, cmd)
		}
		err := next(ctx, cmd)
		if h.after != nil {
			h.after(ctx, cmd)
			err = cmd.Err()
		}
		return err
	}
}

func (h *hook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if h.pipeline != nil {
			h.pipeline(cmds)
		}
		return next(ctx, cmds)
	}
}

// keysLike returns the keys matching a SCAN pattern.
func keysLike(t *testing.T, c redis.UniversalClient, pattern string) []string {
	t.Helper()
	var keys []string
	iter := c.Scan(context.Background(), 0, pattern, 1000).Iterator()
	for iter.Next(context.Background()) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return keys
}

func TestOperationsConformance(t *testing.T) {
	storetest.RunOperationsTests(t, func(t *testing.T) store.Operations { return newOps(t) })
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
	c, err := ops.CompleteRange(context.Background(), id, r, 0)
	if err != nil || c != want {
		t.Fatalf("CompleteRange(%+v) = %v, %v; want %v", r, c, err, want)
	}
}

func TestCompleteUnplannedRange(t *testing.T) {
	ops := newOps(t)
	op := create(t, ops, 1)
	plan(t, ops, op.ID, 0, store.Range{File: 0, First: 1, Last: 20})
	if _, err := ops.CompleteRange(context.Background(), op.ID, store.Range{File: 0, First: 1, Last: 5}, 0); err == nil {
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
				c, err := ops.CompleteRange(ctx, op.ID, r, 0)
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
// with their keys when the range completes or the operation ends.
func TestParts(t *testing.T) {
	ctx := context.Background()
	save := func(t *testing.T, ops store.Operations, id string, r store.Range, unit int, data string) (int, store.Completion) {
		t.Helper()
		n, c, err := ops.SavePart(ctx, id, r, unit, []byte(data))
		if err != nil {
			t.Fatalf("SavePart(%d): %v", unit, err)
		}
		return n, c
	}
	// noParts fails t if a part or a units set of operation id is left.
	noParts := func(t *testing.T, c redis.UniversalClient, prefix, id string) {
		t.Helper()
		for _, kind := range []string{"part", "units"} {
			if keys := keysLike(t, c, prefix+"op:{"+id+"}:"+kind+":*"); len(keys) > 0 {
				t.Errorf("keys left: %v", keys)
			}
		}
	}
	t.Run("complete", func(t *testing.T) {
		ops, c, prefix := setup(t)
		op := create(t, ops, 1)
		r := store.Range{File: 0, First: 1, Last: 20}
		plan(t, ops, op.ID, 0, r)
		if n, _ := save(t, ops, op.ID, r, 1, "a"); n != 1 {
			t.Errorf("first unit: count %d, want 1", n)
		}
		if n, _ := save(t, ops, op.ID, r, 1, "a2"); n != 1 {
			t.Errorf("unit saved again: count %d, want 1", n)
		}
		if n, _ := save(t, ops, op.ID, r, 11, "b"); n != 2 {
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
		noParts(t, c, prefix, op.ID)
		if _, c := save(t, ops, op.ID, r, 1, "late"); c != store.AlreadyFinished {
			t.Errorf("SavePart after the operation finished: %v, want AlreadyFinished", c)
		}
	})
	for _, end := range []string{"cancel", "fail", "delete"} {
		t.Run(end, func(t *testing.T) {
			ops, c, prefix := setup(t)
			op := create(t, ops, 2)
			r0, r1 := store.Range{File: 0, First: 1, Last: 20}, store.Range{File: 1, First: 21, Last: 25}
			plan(t, ops, op.ID, 0, r0)
			plan(t, ops, op.ID, 1, r1)
			save(t, ops, op.ID, r0, 1, "a")
			save(t, ops, op.ID, r0, 11, "b")
			save(t, ops, op.ID, r1, 21, "c")
			var err error
			switch end {
			case "cancel":
				_, err = ops.Cancel(ctx, op.ID)
			case "fail":
				_, err = ops.Fail(ctx, op.ID, 5, "gone")
			case "delete":
				err = ops.Delete(ctx, op.ID)
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ops.Part(ctx, op.ID, r0, 1); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("Part after %s: %v, want ErrNotFound", end, err)
			}
			noParts(t, c, prefix, op.ID)
			if end == "delete" {
				if keys := keysLike(t, c, prefix+"op:{"+op.ID+"}*"); len(keys) > 0 {
					t.Errorf("keys left after delete: %v", keys)
				}
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

// A file planned between Cancel reading the ranges and ending the
// operation makes Cancel read them again, so that the new range's parts,
// whose keys the script must declare, are dropped too.
func TestCancelWhilePlanning(t *testing.T) {
	ctx := context.Background()
	ops, c, prefix := setup(t)
	op := create(t, ops, 2)
	r0, r1 := store.Range{File: 0, First: 1, Last: 4}, store.Range{File: 1, First: 1, Last: 4}
	plan(t, ops, op.ID, 0, r0)
	if _, _, err := ops.SavePart(ctx, op.ID, r0, 1, []byte("a")); err != nil {
		t.Fatal(err)
	}
	var finishes atomic.Int32
	h := &hook{before: func(ctx context.Context, cmd redis.Cmder) {
		if cmd.Name() != "evalsha" && cmd.Name() != "eval" || !slices.Contains(cmd.Args(), any(store.CancelledMessage)) {
			return
		}
		if finishes.Add(1) == 1 { // another worker plans file 1 and saves a unit meanwhile
			plan(t, ops, op.ID, 1, r1)
			if _, _, err := ops.SavePart(ctx, op.ID, r1, 3, []byte("b")); err != nil {
				t.Error(err)
			}
		}
	}}
	if ok, err := hooked(t, prefix, h).Cancel(ctx, op.ID); err != nil || !ok {
		t.Fatalf("Cancel = %v, %v; want true", ok, err)
	}
	if n := finishes.Load(); n != 2 {
		t.Errorf("finish script ran %d times, want 2 (one refused, one retried)", n)
	}
	if keys := keysLike(t, c, prefix+"op:{"+op.ID+"}:part:*"); len(keys) > 0 {
		t.Errorf("parts left: %v", keys)
	}
	if got := mustGet(t, ops, op.ID); got.State != visionpb.OperationMetadata_CANCELLED {
		t.Errorf("state %v, want CANCELLED", got.State)
	}
}

// roundTrips counts a client's round trips to Redis: each command and each
// pipeline counts one, except those go-redis sends to set up a new
// connection, which are no cost of the call that happens to open it.
type roundTrips struct{ n atomic.Int64 }

func (r *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (r *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if !connSetup(cmd) {
			r.n.Add(1)
		}
		return next(ctx, cmd)
	}
}

func (r *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if slices.ContainsFunc(cmds, func(c redis.Cmder) bool { return !connSetup(c) }) {
			r.n.Add(1)
		}
		return next(ctx, cmds)
	}
}

// connSetup reports whether cmd is one go-redis sends on a new connection.
func connSetup(cmd redis.Cmder) bool {
	switch cmd.Name() {
	case "hello", "auth", "select", "client":
		return true
	}
	return false
}

// List costs at most three round trips whatever the page size and however
// many operations the filter skips; two without a filter.
func TestListRoundTrips(t *testing.T) {
	ctx := context.Background()
	ops, _, prefix := setup(t)
	// 1,050 operations, oldest first, a microsecond apart; every 50th is
	// cancelled, so the filter below keeps 1 in 50.
	const n = 1050
	all := make([]*store.Operation, n)
	base := time.Now().Add(-time.Second)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				op := storetest.NewOperation(base.Add(time.Duration(i) * time.Microsecond))
				if err := ops.Create(ctx, op); err != nil {
					t.Error(err)
					return
				}
				if i%50 == 0 {
					if _, err := ops.Cancel(ctx, op.ID); err != nil {
						t.Error(err)
						return
					}
				}
				all[i] = op
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	var rt roundTrips
	counted := hooked(t, prefix, &rt)
	finished, running := true, []store.State{visionpb.OperationMetadata_RUNNING}
	tests := []struct {
		name     string
		size     int
		f        store.ListFilter
		want     []int // operations listed, as indexes into all, newest first
		pages    []int // their counts per call
		maxTrips int64
	}{
		{"no filter", 100, store.ListFilter{}, indexes(n-1, 0, 1), []int{100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 50}, 2},
		{"1 in 50", 10, store.ListFilter{Done: &finished}, indexes(1000, 0, 50), []int{10, 10, 1}, 3},
		{"1 in 50, one page", 1000, store.ListFilter{Done: &finished}, indexes(1000, 0, 50), []int{21}, 3},
		// The first call examines its 1,000 entries and returns none, with
		// a token; the second examines the last 50.
		{"none", 10, store.ListFilter{States: running}, nil, []int{0, 0}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []int
			var pages []int
			var most int64
			token := ""
			for {
				before := rt.n.Load()
				page, next, err := counted.List(ctx, tt.size, token, tt.f)
				if err != nil {
					t.Fatal(err)
				}
				most = max(most, rt.n.Load()-before)
				pages = append(pages, len(page))
				for _, op := range page {
					got = append(got, slices.IndexFunc(all, func(o *store.Operation) bool { return o.ID == op.ID }))
				}
				if next == "" || len(pages) > 20 {
					break
				}
				token = next
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("listed (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.pages, pages); diff != "" {
				t.Errorf("page sizes (-want +got):\n%s", diff)
			}
			t.Logf("%d calls, at most %d round trips each", len(pages), most)
			if most > tt.maxTrips {
				t.Errorf("a List call took %d round trips, want at most %d", most, tt.maxTrips)
			}
		})
	}
}

// indexes returns from, from-step, ... down to to.
func indexes(from, to, step int) []int {
	var is []int
	for i := from; i >= to; i -= step {
		is = append(is, i)
	}
	return is
}

// Index entries whose operation expired are skipped and dropped from the
// index, with or without a filter, at the cost of one more round trip.
func TestListDropsExpiredEntries(t *testing.T) {
	ctx := context.Background()
	ops, c, prefix := setup(t)
	var ids []string
	for range 6 {
		ids = append(ids, create(t, ops, 1).ID)
		time.Sleep(time.Millisecond)
	}
	expire := func(id string) {
		if err := c.Del(ctx, prefix+"op:{"+id+"}").Err(); err != nil {
			t.Fatal(err)
		}
	}
	expire(ids[4])
	expire(ids[1])
	var rt roundTrips
	counted := hooked(t, prefix, &rt)
	page, next, err := counted.List(ctx, 10, "", store.ListFilter{})
	if err != nil || next != "" {
		t.Fatalf("List: next %q, %v", next, err)
	}
	var got []string
	for _, op := range page {
		got = append(got, op.ID)
	}
	if diff := cmp.Diff([]string{ids[5], ids[3], ids[2], ids[0]}, got); diff != "" {
		t.Errorf("listed (-want +got):\n%s", diff)
	}
	if n := rt.n.Load(); n != 3 {
		t.Errorf("List took %d round trips, want 3 (index, operations, drop stale entries)", n)
	}
	expire(ids[3])
	unfinished := false
	if page, _, err := counted.List(ctx, 10, "", store.ListFilter{Done: &unfinished}); err != nil || len(page) != 3 {
		t.Errorf("filtered List: %d operations, %v; want 3", len(page), err)
	}
	members, err := c.ZRevRange(ctx, prefix+"ops", 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{ids[5], ids[2], ids[0]}, members); diff != "" {
		t.Errorf("index (-want +got):\n%s", diff)
	}
}

// A key whose operation is gone (deleted, expired, or never created by a
// process that died) is taken over; Delete drops the key's mapping; a
// losing Create leaves no key behind.
func TestIdempotencyKeys(t *testing.T) {
	ctx := context.Background()
	ops, c, prefix := setup(t)
	key := "client-1/" + storetest.UniqueID()
	mapping := prefix + "idem:" + key
	if err := c.Set(ctx, mapping, storetest.UniqueID(), time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	op := storetest.NewOperation(time.Now())
	op.IdempotencyKey = key
	if err := ops.Create(ctx, op); err != nil {
		t.Fatalf("Create over a mapping to a missing operation: %v", err)
	}
	if got, err := c.Get(ctx, mapping).Result(); err != nil || got != op.ID {
		t.Errorf("mapping = %q, %v; want %s", got, err, op.ID)
	}
	if ttl := c.TTL(ctx, mapping).Val(); ttl <= 0 || ttl > time.Hour {
		t.Errorf("mapping TTL %v, want the store's (1h)", ttl)
	}
	loser := storetest.NewOperation(time.Now())
	loser.IdempotencyKey = key
	var dup *store.DuplicateError
	if err := ops.Create(ctx, loser); !errors.As(err, &dup) {
		t.Fatalf("second Create = %v, want DuplicateError", err)
	}
	if keys := keysLike(t, c, prefix+"op:{"+loser.ID+"}*"); len(keys) > 0 {
		t.Errorf("the losing Create left %v", keys)
	}
	if err := c.ZScore(ctx, prefix+"ops", loser.ID).Err(); !errors.Is(err, redis.Nil) {
		t.Errorf("the losing Create left its index entry: %v", err)
	}
	if err := ops.Delete(ctx, loser.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Delete(loser) = %v, want ErrNotFound", err)
	}
	if got, _ := c.Get(ctx, mapping).Result(); got != op.ID {
		t.Errorf("deleting the loser changed the mapping to %q", got)
	}
	if err := ops.Delete(ctx, op.ID); err != nil {
		t.Fatal(err)
	}
	if n := c.Exists(ctx, mapping).Val(); n != 0 {
		t.Error("Delete left the idempotency key's mapping")
	}
}

// A Create whose claim fails after Redis ran it deletes its operation and
// releases the claim.
func TestCreateReleasesClaimOnFailure(t *testing.T) {
	ctx := context.Background()
	ops, c, prefix := setup(t)
	key := "client-1/" + storetest.UniqueID()
	mapping := prefix + "idem:" + key
	injected := errors.New("injected: connection reset")
	h := &hook{after: func(_ context.Context, cmd redis.Cmder) {
		// claimCmd: EVALSHA sha 1 <mapping> id ttl replace (releaseCmd has one argument).
		if args := cmd.Args(); (cmd.Name() == "evalsha" || cmd.Name() == "eval") && len(args) == 7 && args[3] == mapping {
			cmd.SetErr(injected)
		}
	}}
	op := storetest.NewOperation(time.Now())
	op.IdempotencyKey = key
	err := hooked(t, prefix, h).Create(ctx, op)
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Create = %v, want ErrUnavailable", err)
	}
	if n := c.Exists(ctx, mapping).Val(); n != 0 {
		t.Error("the failed Create kept its claim")
	}
	if _, err := ops.Get(ctx, op.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get after the failed Create = %v, want ErrNotFound", err)
	}
	retry := storetest.NewOperation(time.Now())
	retry.IdempotencyKey = key
	if err := ops.Create(ctx, retry); err != nil {
		t.Errorf("retried Create: %v", err)
	}
}
