package jobs_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap/zaptest"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/folio-ocr/folio/internal/pdfgen"
	"github.com/folio-ocr/folio/jobs"
	"github.com/folio-ocr/folio/store"
	"github.com/folio-ocr/folio/store/storetest"
)

// A task archived without our error handler running (a worker killed during
// its last attempt) still ends its operation, with a message naming the
// file and pages; the archive is emptied.
func TestReapArchived(t *testing.T) {
	rdb, prefix := storetest.Redis(t)
	queue := "test-" + storetest.UniqueID()
	t.Cleanup(func() { cleanQueue(t, rdb, queue) })
	ops := store.NewRedisOperations(rdb, &store.RedisOptions{Prefix: prefix})
	h := &jobs.Handlers{Ops: ops, Logger: zaptest.NewLogger(t)}
	insp := asynq.NewInspectorFromRedisClient(rdb)
	ctx := context.Background()

	if n, err := h.ReapArchived(ctx, insp, queue); err != nil || n != 0 {
		t.Fatalf("empty queue: reaped %d, %v", n, err)
	}

	const uri = "gs://b/in.pdf"
	req := fileRequest(uri, "gs://b/out/", 2)
	op := &store.Operation{ID: storetest.UniqueID(), APIVersion: "v1", CreateTime: time.Now(),
		Request: &visionpb.AsyncBatchAnnotateFilesRequest{Requests: []*visionpb.AsyncAnnotateFileRequest{req}}}
	op.Name = "operations/" + op.ID
	if err := ops.Create(ctx, op); err != nil {
		t.Fatal(err)
	}
	reqJSON, _ := protojson.Marshal(req)
	payload, _ := json.Marshal(jobs.AnnotateRangePayload{
		FileTask: jobs.FileTask{Operation: op.ID, Request: reqJSON}, First: 3, Last: 4})
	// A scheduled task, archived by hand, stands in for one the recoverer
	// archived: no handler ever sees it.
	c := asynq.NewClientFromRedisClient(rdb)
	info, err := c.EnqueueContext(ctx, asynq.NewTask(jobs.TypeAnnotateRange, payload),
		asynq.Queue(queue), asynq.ProcessIn(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := insp.ArchiveTask(queue, info.ID); err != nil {
		t.Fatal(err)
	}

	if n, err := h.ReapArchived(ctx, insp, queue); err != nil || n != 1 {
		t.Fatalf("reaped %d, %v; want 1", n, err)
	}
	got, err := ops.Get(ctx, op.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Done || got.ErrorCode != 13 || got.ErrorMessage != "error processing pages 3-4 of "+uri {
		t.Errorf("operation done=%v code=%d %q; want done, 13, naming pages 3-4 of %s", got.Done, got.ErrorCode, got.ErrorMessage, uri)
	}
	if tasks, _ := insp.ListArchivedTasks(queue); len(tasks) != 0 {
		t.Errorf("%d tasks left in the archive", len(tasks))
	}
}

// An operation whose plan tasks never reached the queue (the api died
// between creating and enqueuing) is resubmitted and completes.
func TestResubmitStuck(t *testing.T) {
	var h *jobs.Handlers
	b := setup(t, 0, func(x *jobs.Handlers) { h = x })
	uri := b.upload(t, "in/stuck.pdf", pdfgen.Document(2))
	ctx := context.Background()
	op := &store.Operation{ID: storetest.UniqueID(), APIVersion: "v1", CreateTime: time.Now().Add(-5 * time.Minute),
		Request: &visionpb.AsyncBatchAnnotateFilesRequest{Requests: []*visionpb.AsyncAnnotateFileRequest{
			fileRequest(uri, "gs://"+bucket+"/out/", 2)}}}
	op.Name = "operations/" + op.ID
	if err := b.ops.Create(ctx, op); err != nil {
		t.Fatal(err)
	}
	fresh := &store.Operation{ID: storetest.UniqueID(), APIVersion: "v1", CreateTime: time.Now(), Request: op.Request}
	fresh.Name = "operations/" + fresh.ID
	if err := b.ops.Create(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	n, err := h.ResubmitStuck(ctx, time.Now())
	if err != nil || n != 1 {
		t.Fatalf("ResubmitStuck = %d, %v; want 1 (the fresh one is not stuck yet)", n, err)
	}
	if got := b.wait(t, op.ID); got.State != visionpb.OperationMetadata_DONE || got.ErrorCode != 0 {
		t.Errorf("resubmitted operation ended %v code %d %q", got.State, got.ErrorCode, got.ErrorMessage)
	}
	if got, _ := b.ops.Get(ctx, fresh.ID); got.State != visionpb.OperationMetadata_CREATED {
		t.Errorf("fresh operation is %v, want still CREATED", got.State)
	}
}

// heldCounter counts the rounds a janitor held its lease in.
type heldCounter struct {
	l    *store.Lease
	mu   sync.Mutex
	held int
}

func (c *heldCounter) Acquire(ctx context.Context) (bool, error) {
	ok, err := c.l.Acquire(ctx)
	if ok {
		c.mu.Lock()
		c.held++
		c.mu.Unlock()
	}
	return ok, err
}

func (c *heldCounter) rounds() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.held
}

// Two workers' janitors with one lease: only one does rounds; when it dies
// without releasing, the other takes over once the lease lapses.
func TestJanitorLease(t *testing.T) {
	rdb, prefix := storetest.Redis(t)
	queue := "test-" + storetest.UniqueID()
	t.Cleanup(func() { cleanQueue(t, rdb, queue) })
	ops := store.NewRedisOperations(rdb, &store.RedisOptions{Prefix: prefix})
	insp := asynq.NewInspectorFromRedisClient(rdb)
	// A round renews the lease every 50 ms; the TTL leaves a loaded
	// machine's stalls room, and bounds how long b waits below.
	const ttl = 2 * time.Second
	start := func(name string) (*heldCounter, context.CancelFunc, chan struct{}) {
		c := &heldCounter{l: store.NewLease(rdb, prefix, "janitor", name, ttl)}
		h := &jobs.Handlers{Ops: ops, Logger: zaptest.NewLogger(t), JanitorLease: c}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); h.RunJanitor(ctx, insp, queue, 50*time.Millisecond) }()
		return c, cancel, done
	}
	a, stopA, doneA := start("worker-a")
	eventually(t, 10*time.Second, func() bool { return a.rounds() > 0 }) // a takes the lease first
	b, stopB, doneB := start("worker-b")
	defer func() { stopB(); <-doneB }()
	time.Sleep(500 * time.Millisecond)
	if a.rounds() == 0 || b.rounds() != 0 {
		t.Fatalf("rounds: a %d, b %d; want only a", a.rounds(), b.rounds())
	}
	stopA() // a dies holding the lease
	<-doneA
	died := time.Now()
	eventually(t, ttl+10*time.Second, func() bool { return b.rounds() > 0 })
	if took := time.Since(died); took < ttl/2 {
		t.Errorf("b took over %s after a died, before a's lease (%s) could lapse", took, ttl)
	}
}

// A long task whose worker stopped beating is queued again under a new id,
// with its payload, once it has been silent for StaleAfter; one that beats
// is left alone.
func TestRescueStale(t *testing.T) {
	rdb, prefix := storetest.Redis(t)
	queue := "test-" + storetest.UniqueID()
	t.Cleanup(func() { cleanQueue(t, rdb, queue) })
	running := store.NewRunning(rdb, prefix)
	h := &jobs.Handlers{Logger: zaptest.NewLogger(t), Running: running,
		Client: jobs.NewClient(rdb, zaptest.NewLogger(t), &jobs.ClientOptions{Queue: queue})}
	ctx := context.Background()
	now := time.Now()
	payload := []byte(`{"operation":"op1","file":0,"first":3,"last":4}`)
	for key, beat := range map[string]time.Time{"range:dead": now.Add(-jobs.StaleAfter - time.Second), "range:alive": now.Add(-time.Second)} {
		if err := running.Start(ctx, store.RunningTask{Key: key, Type: jobs.TypeAnnotateRange, Payload: payload, Queue: queue}, beat); err != nil {
			t.Fatal(err)
		}
	}
	n, err := h.RescueStale(ctx, now)
	if err != nil || n != 1 {
		t.Fatalf("RescueStale = %d, %v; want 1", n, err)
	}
	insp := asynq.NewInspectorFromRedisClient(rdb)
	pending, err := insp.ListPendingTasks(queue)
	if err != nil || len(pending) != 1 {
		t.Fatalf("pending = %v, %v; want the rescued task", pending, err)
	}
	if p := pending[0]; p.Type != jobs.TypeAnnotateRange || string(p.Payload) != string(payload) || !strings.HasPrefix(p.ID, "range:dead:rescued:") {
		t.Errorf("rescued task %s %s %s", p.ID, p.Type, p.Payload)
	}
	if n, err := h.RescueStale(ctx, now); err != nil || n != 0 {
		t.Errorf("second RescueStale = %d, %v; want nothing left to rescue", n, err)
	}
	if left, _ := running.Stale(ctx, now.Add(time.Hour), 10); len(left) != 1 || left[0].Key != "range:alive" {
		t.Errorf("running after rescue: %v, want only range:alive", left)
	}
}

// An archived task whose range another run completed (the janitor's rescue
// of a worker that went silent on the task's last attempt) is deleted
// without failing its operation.
func TestReapArchivedDoneRange(t *testing.T) {
	rdb, prefix := storetest.Redis(t)
	queue := "test-" + storetest.UniqueID()
	t.Cleanup(func() { cleanQueue(t, rdb, queue) })
	ops := store.NewRedisOperations(rdb, &store.RedisOptions{Prefix: prefix})
	h := &jobs.Handlers{Ops: ops, Logger: zaptest.NewLogger(t)}
	insp := asynq.NewInspectorFromRedisClient(rdb)
	ctx := context.Background()
	req := fileRequest("gs://b/in.pdf", "gs://b/out/", 2)
	op := &store.Operation{ID: storetest.UniqueID(), APIVersion: "v1", CreateTime: time.Now(),
		Request: &visionpb.AsyncBatchAnnotateFilesRequest{Requests: []*visionpb.AsyncAnnotateFileRequest{req}}}
	op.Name = "operations/" + op.ID
	if err := ops.Create(ctx, op); err != nil {
		t.Fatal(err)
	}
	done := store.Range{File: 0, First: 3, Last: 4}
	if _, err := ops.PlanFile(ctx, op.ID, 0, []store.Range{{File: 0, First: 1, Last: 2}, done}); err != nil {
		t.Fatal(err)
	}
	if _, err := ops.CompleteRange(ctx, op.ID, done, 0); err != nil {
		t.Fatal(err)
	}
	reqJSON, _ := protojson.Marshal(req)
	payload, _ := json.Marshal(jobs.AnnotateRangePayload{
		FileTask: jobs.FileTask{Operation: op.ID, Request: reqJSON}, First: 3, Last: 4})
	c := asynq.NewClientFromRedisClient(rdb)
	info, err := c.EnqueueContext(ctx, asynq.NewTask(jobs.TypeAnnotateRange, payload), asynq.Queue(queue), asynq.ProcessIn(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := insp.ArchiveTask(queue, info.ID); err != nil {
		t.Fatal(err)
	}
	if n, err := h.ReapArchived(ctx, insp, queue); err != nil || n != 1 {
		t.Fatalf("reaped %d, %v; want 1", n, err)
	}
	if got, _ := ops.Get(ctx, op.ID); got.Done {
		t.Errorf("operation ended (code %d, %q) over a range that was done", got.ErrorCode, got.ErrorMessage)
	}
}

// orphan moves the pending task id of queue to asynq's active list with a
// lease that expired a minute ago, as asynq leaves a task it handed out
// just as its worker lost Redis. (It writes asynq's own keys: the state
// cannot be reached through asynq's API without a worker dying.)
func orphan(t *testing.T, rdb redis.UniversalClient, queue, id string) {
	t.Helper()
	ctx := context.Background()
	base := "asynq:{" + queue + "}:"
	if err := rdb.LRem(ctx, base+"pending", 0, id).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.LPush(ctx, base+"active", id).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.ZAdd(ctx, base+"lease", redis.Z{Score: float64(time.Now().Add(-time.Minute).Unix()), Member: id}).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.HSet(ctx, base+"t:"+id, "state", "active").Err(); err != nil {
		t.Fatal(err)
	}
}

// A task asynq handed out that no worker took (orphaned: active, lease
// expired, never registered) is queued again under a new id, once; one
// the janitor already rescued from its silent worker is not.
func TestRescueOrphans(t *testing.T) {
	rdb, prefix := storetest.Redis(t)
	queue := "test-" + storetest.UniqueID()
	t.Cleanup(func() { cleanQueue(t, rdb, queue) })
	running := store.NewRunning(rdb, prefix)
	h := &jobs.Handlers{Logger: zaptest.NewLogger(t), Running: running,
		Client: jobs.NewClient(rdb, zaptest.NewLogger(t), &jobs.ClientOptions{Queue: queue})}
	insp := asynq.NewInspectorFromRedisClient(rdb)
	ctx := context.Background()
	c := asynq.NewClientFromRedisClient(rdb)
	payload := []byte(`{"operation":"op1","file":0,"first":3,"last":4}`)
	for _, id := range []string{"range:lost", "range:rescued"} {
		if _, err := c.EnqueueContext(ctx, asynq.NewTask(jobs.TypeAnnotateRange, payload), asynq.Queue(queue), asynq.TaskID(id)); err != nil {
			t.Fatal(err)
		}
		orphan(t, rdb, queue, id)
	}
	// range:rescued went silent on a worker and was claimed.
	if err := running.Start(ctx, store.RunningTask{Key: "range:rescued", Type: jobs.TypeAnnotateRange, Payload: payload, Queue: queue}, time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	stale, _ := running.Stale(ctx, time.Now(), 10)
	if _, ok, err := running.Claim(ctx, stale[0]); !ok || err != nil {
		t.Fatalf("Claim = %v, %v", ok, err)
	}
	if n, err := h.RescueOrphans(ctx, insp, queue); err != nil || n != 1 {
		t.Fatalf("RescueOrphans = %d, %v; want 1", n, err)
	}
	pending, err := insp.ListPendingTasks(queue)
	if err != nil || len(pending) != 1 || pending[0].ID != "range:lost:orphan" || string(pending[0].Payload) != string(payload) {
		t.Fatalf("pending = %v, %v; want range:lost:orphan", pending, err)
	}
	if n, err := h.RescueOrphans(ctx, insp, queue); err != nil || n != 0 {
		t.Errorf("second RescueOrphans = %d, %v; want nothing (its copy is queued)", n, err)
	}
}

// eventually fails t unless cond holds within d, checking every 10 ms.
func eventually(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %s", d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
