package jobs_test

import (
	"context"
	"encoding/json"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"github.com/hibiken/asynq"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/folio-ocr/folio/internal/pdfgen"
	"github.com/folio-ocr/folio/jobs"
	"github.com/folio-ocr/folio/store"
	"github.com/folio-ocr/folio/store/storetest"
)

// countingBlobs counts the output objects committed (writers closed
// without error) by name.
type countingBlobs struct {
	store.Blobs
	mu        sync.Mutex
	committed map[string]int
}

func (b *countingBlobs) NewWriter(ctx context.Context, uri, contentType string) (io.WriteCloser, error) {
	w, err := b.Blobs.NewWriter(ctx, uri, contentType)
	if err != nil {
		return nil, err
	}
	return &countingWriter{WriteCloser: w, b: b, uri: uri, ctx: ctx}, nil
}

func (b *countingBlobs) count(uri string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.committed[uri]
}

type countingWriter struct {
	io.WriteCloser
	b   *countingBlobs
	uri string
	ctx context.Context
}

func (w *countingWriter) Close() error {
	err := w.WriteCloser.Close()
	if err == nil && w.ctx.Err() == nil {
		w.b.mu.Lock()
		w.b.committed[w.uri]++
		w.b.mu.Unlock()
	}
	return err
}

// A range run twice (the janitor's rescue of a frozen worker's task and
// asynq's own retry of the original, say) is annotated and written once:
// the second run finds the range done and skips it, though the operation
// is still running.
func TestRangeRunTwiceWritesOnce(t *testing.T) {
	blobs := &countingBlobs{committed: map[string]int{}}
	b := setup(t, 0, func(h *jobs.Handlers) { blobs.Blobs = h.Blobs; h.Blobs = blobs })
	ctx := context.Background()
	uri := b.upload(t, "in/four.pdf", pdfgen.Document(4))
	req := fileRequest(uri, "gs://"+bucket+"/out/", 2)
	op := &store.Operation{ID: storetest.UniqueID(), APIVersion: "v1", CreateTime: time.Now(),
		Request: &visionpb.AsyncBatchAnnotateFilesRequest{Requests: []*visionpb.AsyncAnnotateFileRequest{req}}}
	op.Name = "operations/" + op.ID
	if err := b.ops.Create(ctx, op); err != nil {
		t.Fatal(err)
	}
	// Planned as two ranges; only the first is run (twice), so the
	// operation stays RUNNING throughout.
	first := store.Range{File: 0, First: 1, Last: 2}
	if _, err := b.ops.PlanFile(ctx, op.ID, 0, []store.Range{first, {File: 0, First: 3, Last: 4}}); err != nil {
		t.Fatal(err)
	}
	attrs, err := store.NewGCS(b.sc).Attrs(ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	reqJSON, err := protojson.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(jobs.AnnotateRangePayload{FileTask: jobs.FileTask{Operation: op.ID, File: 0, Request: reqJSON},
		First: 1, Last: 2, Generation: attrs.Generation, Size: attrs.Size})
	if err != nil {
		t.Fatal(err)
	}
	q := asynq.NewClientFromRedisClient(b.rdb)
	insp := asynq.NewInspectorFromRedisClient(b.rdb)
	dest := "gs://" + bucket + "/out/output-1-to-2.json"
	for run := 1; run <= 2; run++ {
		if _, err := q.Enqueue(asynq.NewTask(jobs.TypeAnnotateRange, payload), asynq.Queue(b.queue), asynq.MaxRetry(0)); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			qi, err := insp.GetQueueInfo(b.queue)
			if err != nil {
				t.Fatal(err)
			}
			if qi.Processed >= run && qi.Active == 0 && qi.Pending == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("run %d: not processed after 20s (%+v)", run, qi)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if done, err := b.ops.RangeDone(ctx, op.ID, first); err != nil || !done {
			t.Fatalf("after run %d: RangeDone = %v, %v", run, done, err)
		}
	}
	if n := blobs.count(dest); n != 1 {
		t.Errorf("%s committed %d times, want once", dest, n)
	}
	if got, _ := b.ops.Get(ctx, op.ID); got.State != visionpb.OperationMetadata_RUNNING {
		t.Errorf("state %v, want RUNNING (the second range never ran)", got.State)
	}
}

// A worker whose task the janitor claimed (it was silent past StaleAfter,
// and the task was queued again for another worker) stops that task at its
// next heartbeat: no output, no failure, no retry, a warning saying why.
func TestTakenOverTaskStops(t *testing.T) {
	const pages = 20
	rdb, prefix := storetest.Redis(t)
	running := store.NewRunning(rdb, prefix)
	obs, logs := observer.New(zapcore.InfoLevel)
	var claimed atomic.Int64 // unix nanoseconds of the claim
	ocr := &slowOCR{delay: 300 * time.Millisecond, first: func() {
		// The janitor's view: the task is stale (as if its worker had been
		// frozen for a while) and is claimed.
		ctx := context.Background()
		stale, err := running.Stale(ctx, time.Now().Add(time.Hour), 10)
		if err != nil || len(stale) != 1 {
			t.Errorf("Stale = %v, %v; want the running range", stale, err)
			return
		}
		if _, ok, err := running.Claim(ctx, stale[0]); !ok || err != nil {
			t.Errorf("Claim = %v, %v", ok, err)
		}
		claimed.Store(time.Now().UnixNano())
	}}
	b := setup(t, 0, func(h *jobs.Handlers) {
		h.OCR, h.OCRParallel, h.Running = ocr, 1, running
		h.Logger = zap.New(zapcore.NewTee(zaptest.NewLogger(t).Core(), obs))
	})
	uri := b.upload(t, "in/frames.gif", gifFrames(pages))
	req := fileRequest(uri, "gs://"+bucket+"/out/", pages)
	req.InputConfig.MimeType = "image/gif"
	id := b.submit(t, req)

	insp := asynq.NewInspectorFromRedisClient(b.rdb)
	deadline := time.Now().Add(20 * time.Second)
	var qi *asynq.QueueInfo
	for {
		var err error
		if qi, err = insp.GetQueueInfo(b.queue); err != nil {
			t.Fatal(err)
		}
		if qi.Processed >= 2 && qi.Active == 0 && qi.Pending == 0 { // plan + range
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 20s: %+v", qi)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// All 20 pages take 6 s; the range stops at the first beat after the
	// claim, within BeatInterval (and the page at hand).
	if c := claimed.Load(); c == 0 {
		t.Error("the range was never claimed")
	} else if took := time.Since(time.Unix(0, c)); took > jobs.BeatInterval+2*time.Second {
		t.Errorf("the taken-over range ran %s after the claim, want it stopped within a beat (%s)", took, jobs.BeatInterval)
	}
	if qi.Failed != 0 || qi.Retry != 0 {
		t.Errorf("asynq counted %d failed tasks and has %d to retry; want the taken-over range dropped", qi.Failed, qi.Retry)
	}
	if logs.FilterMessageSnippet("janitor queued again").FilterLevelExact(zapcore.WarnLevel).Len() != 1 {
		t.Error("no warning says the task was dropped because the janitor queued it again")
	}
	if outs := b.outputs(t, "out/"); len(outs) != 0 {
		t.Errorf("the taken-over range wrote %d outputs", len(outs))
	}
	if got, _ := b.ops.Get(context.Background(), id); got.Done {
		t.Errorf("operation ended (%v); the rescued copy of the range has it now", got.State)
	}
}
