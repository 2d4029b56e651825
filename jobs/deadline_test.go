package jobs_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"go.uber.org/zap/zaptest"
	"google.golang.org/grpc/codes"

	"github.com/folio-ocr/folio/jobs"
	"github.com/folio-ocr/folio/store"
	"github.com/folio-ocr/folio/store/storetest"
)

// An operation unfinished past the operation deadline ends with
// DEADLINE_EXCEEDED and a message naming what was left: the ranges not
// done, by file, and the files never opened. Finished operations, and
// those still within the deadline, are left alone; each operation is
// examined once as the cursor passes it.
func TestEndOverdue(t *testing.T) {
	rdb, prefix := storetest.Redis(t)
	ops := store.NewRedisOperations(rdb, &store.RedisOptions{Prefix: prefix})
	h := &jobs.Handlers{Ops: ops, Logger: zaptest.NewLogger(t), OperationDeadline: time.Hour}
	ctx := context.Background()
	now := time.Now()
	file := func(uri string) *visionpb.AsyncAnnotateFileRequest {
		return &visionpb.AsyncAnnotateFileRequest{InputConfig: &visionpb.InputConfig{GcsSource: &visionpb.GcsSource{Uri: uri}}}
	}
	newOp := func(age time.Duration, files ...*visionpb.AsyncAnnotateFileRequest) *store.Operation {
		op := storetest.NewOperation(now.Add(-age))
		op.Request.Requests = files
		if err := ops.Create(ctx, op); err != nil {
			t.Fatal(err)
		}
		return op
	}
	stuck := newOp(2*time.Hour, file("gs://b/a.pdf"), file("gs://b/never.pdf"))
	if _, err := ops.PlanFile(ctx, stuck.ID, 0, []store.Range{{File: 0, First: 1, Last: 10}, {File: 0, First: 11, Last: 20}, {File: 0, First: 21, Last: 25}}); err != nil {
		t.Fatal(err)
	}
	if _, err := ops.CompleteRange(ctx, stuck.ID, store.Range{File: 0, First: 1, Last: 10}, 0); err != nil {
		t.Fatal(err)
	}
	finished := newOp(2*time.Hour, file("gs://b/c.pdf"))
	if _, err := ops.Cancel(ctx, finished.ID); err != nil {
		t.Fatal(err)
	}
	young := newOp(30*time.Minute, file("gs://b/d.pdf"))

	// The first round catches up from a day before the deadline.
	h.DeadlineCursor = store.NewCursor(rdb, prefix, "deadline")
	if n, err := h.EndOverdue(ctx, now); err != nil || n != 1 {
		t.Fatalf("EndOverdue = %d, %v; want the stuck operation ended", n, err)
	}
	got, err := ops.Get(ctx, stuck.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Done || got.ErrorCode != int32(codes.DeadlineExceeded) {
		t.Errorf("stuck operation: done %v, code %d; want done, DEADLINE_EXCEEDED", got.Done, got.ErrorCode)
	}
	for _, want := range []string{"1h0m0s", "OPERATION_DEADLINE", "gs://b/a.pdf pages 11-20", "gs://b/a.pdf pages 21-25", "gs://b/never.pdf (not opened yet)"} {
		if !strings.Contains(got.ErrorMessage, want) {
			t.Errorf("message %q does not say %q", got.ErrorMessage, want)
		}
	}
	if strings.Contains(got.ErrorMessage, "pages 1-10") {
		t.Errorf("message %q names a range that was done", got.ErrorMessage)
	}
	if op, _ := ops.Get(ctx, finished.ID); op.ErrorCode != int32(codes.Canceled) {
		t.Errorf("finished operation's code changed to %d", op.ErrorCode)
	}
	if op, _ := ops.Get(ctx, young.ID); op.Done {
		t.Errorf("an operation within its deadline was ended: %s", op.ErrorMessage)
	}
	// Forty minutes on, the young one has crossed the deadline too.
	// A janitor in another process resumes from the shared cursor.
	h = &jobs.Handlers{Ops: ops, Logger: zaptest.NewLogger(t), OperationDeadline: time.Hour, DeadlineCursor: store.NewCursor(rdb, prefix, "deadline")}
	if n, err := h.EndOverdue(ctx, now.Add(40*time.Minute)); err != nil || n != 1 {
		t.Fatalf("EndOverdue 40 min later = %d, %v; want the young operation ended", n, err)
	}
	if op, _ := ops.Get(ctx, young.ID); !op.Done || !strings.Contains(op.ErrorMessage, "gs://b/d.pdf (not opened yet)") {
		t.Errorf("young operation after its deadline: done %v, %q", op.Done, op.ErrorMessage)
	}
	// Without a deadline, nothing is ended.
	h = &jobs.Handlers{Ops: ops, Logger: zaptest.NewLogger(t)}
	late := newOp(1000*time.Hour, file("gs://b/e.pdf"))
	if n, err := h.EndOverdue(ctx, now); err != nil || n != 0 {
		t.Errorf("EndOverdue without a deadline = %d, %v", n, err)
	}
	if op, _ := ops.Get(ctx, late.ID); op.Done {
		t.Error("an operation was ended with the deadline off")
	}
}
