package api

import (
	"context"
	"errors"
	"testing"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"github.com/googleapis/gax-go/v2/apierror"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"

	"github.com/folio-ocr/folio/store"
	"github.com/folio-ocr/folio/store/storetest"
)

// TestClientsWithRedisStore runs the operation lifecycle through Google's
// REST and gRPC clients against the real Redis store (the queue stays a fake), so
// the API and store contracts are checked together.
func TestClientsWithRedisStore(t *testing.T) { forEachTransport(t, testClientsWithRedisStore) }

func testClientsWithRedisStore(t *testing.T, transport string) {
	if testing.Short() {
		t.Skip("needs Redis")
	}
	rdb, prefix := storetest.Redis(t)
	ops := store.NewRedisOperations(rdb, &store.RedisOptions{Prefix: prefix})
	b := setupClients(t, transport, func(b *testBundle) { b.cfg.Ops = ops })
	ctx := context.Background()

	req := validRequest()
	req.Parent = "projects/p"
	op, err := b.vision.AsyncBatchAnnotateFiles(ctx, req)
	if err != nil {
		t.Fatalf("AsyncBatchAnnotateFiles: %v", err)
	}
	if op.Name() != "projects/p/operations/0000000000000001" {
		t.Errorf("Name() = %q", op.Name())
	}
	if _, err := op.Poll(ctx); err != nil || op.Done() {
		t.Errorf("Poll = %v, done %v; want a running operation", err, op.Done())
	}
	got, err := ops.Get(ctx, "0000000000000001")
	if err != nil {
		t.Fatal(err)
	}
	if got.APIVersion != "v1" || len(got.Request.GetRequests()) != 2 || !got.CreateTime.Equal(testNow) {
		t.Errorf("stored = %+v", got)
	}

	it := b.lro.ListOperations(ctx, &longrunningpb.ListOperationsRequest{Name: "operations", PageSize: 1})
	n := 0
	for {
		_, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			t.Fatalf("ListOperations: %v", err)
		}
		n++
	}
	if n != 1 {
		t.Errorf("listed %d operations, want 1", n)
	}

	if err := b.lro.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: op.Name()}); err != nil {
		t.Fatalf("CancelOperation: %v", err)
	}
	_, err = op.Wait(ctx)
	var ae *apierror.APIError
	if !errors.As(err, &ae) || ae.GRPCStatus().Code() != codes.Canceled {
		t.Errorf("Wait after cancel = %v, want CANCELLED", err)
	}
	if md, _ := op.Metadata(); md.GetState() != visionpb.OperationMetadata_CANCELLED {
		t.Errorf("state = %v, want CANCELLED", md.GetState())
	}
	if err := b.lro.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: op.Name()}); err != nil {
		t.Errorf("second CancelOperation: %v", err)
	}

	if err := b.lro.DeleteOperation(ctx, &longrunningpb.DeleteOperationRequest{Name: op.Name()}); err != nil {
		t.Fatalf("DeleteOperation: %v", err)
	}
	_, err = b.lro.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: op.Name()})
	if !errors.As(err, &ae) || ae.GRPCStatus().Code() != codes.NotFound {
		t.Errorf("get deleted = %v, want NOT_FOUND", err)
	}
}
