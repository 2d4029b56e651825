package api

import (
	"context"
	"errors"
	"net"
	"net/http/httptest"
	"testing"
	"time"

	lroauto "cloud.google.com/go/longrunning/autogen"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	vision "cloud.google.com/go/vision/v2/apiv1"
	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"github.com/google/go-cmp/cmp"
	"github.com/googleapis/gax-go/v2/apierror"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/testing/protocmp"
)

// transports are the two surfaces every client test runs over.
var transports = []string{"rest", "grpc"}

// clientBundle is a test server over fakes plus Google's own clients
// pointed at it, over one transport.
type clientBundle struct {
	*testBundle
	vision *vision.ImageAnnotatorClient
	lro    *lroauto.OperationsClient
}

// setupClients serves b.service(t) over transport ("rest": an httptest
// server; "grpc": a gRPC server on a loopback port) and connects Google's
// Vision and Operations clients to it as a user would: the REST clients,
// or the default gRPC ones with insecure credentials. configure, if any,
// changes the bundle before the server starts.
func setupClients(t *testing.T, transport string, configure ...func(*testBundle)) *clientBundle {
	t.Helper()
	b := setup(t)
	for _, f := range configure {
		f(b)
	}
	ctx := context.Background()
	var (
		vc  *vision.ImageAnnotatorClient
		lc  *lroauto.OperationsClient
		err error
	)
	switch transport {
	case "rest":
		srv := httptest.NewServer(b.handler(t))
		t.Cleanup(srv.Close)
		opts := []option.ClientOption{option.WithEndpoint(srv.URL), option.WithoutAuthentication()}
		if vc, err = vision.NewImageAnnotatorRESTClient(ctx, opts...); err != nil {
			t.Fatal(err)
		}
		if lc, err = lroauto.NewOperationsRESTClient(ctx, opts...); err != nil {
			t.Fatal(err)
		}
	case "grpc":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		gs := NewGRPCServer(b.service(t), &GRPCOptions{MaxRecvBytes: 4096})
		done := make(chan error, 1)
		go func() { done <- gs.Serve(ln) }()
		t.Cleanup(func() {
			gs.Shutdown(context.Background())
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
		})
		opts := []option.ClientOption{option.WithEndpoint(ln.Addr().String()), option.WithoutAuthentication(),
			option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials()))}
		if vc, err = vision.NewImageAnnotatorClient(ctx, opts...); err != nil {
			t.Fatal(err)
		}
		if lc, err = lroauto.NewOperationsClient(ctx, opts...); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("unknown transport %q", transport)
	}
	t.Cleanup(func() { _ = vc.Close(); _ = lc.Close() })
	return &clientBundle{testBundle: b, vision: vc, lro: lc}
}

// forEachTransport runs test as a parallel subtest per transport.
func forEachTransport(t *testing.T, test func(t *testing.T, transport string)) {
	t.Helper()
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			test(t, tr)
		})
	}
}

// TestGoogleClient drives the API with Google's Go clients, REST and gRPC,
// end to end over the in-memory store: submit, metadata, wait for the
// response.
func TestGoogleClient(t *testing.T) { forEachTransport(t, testGoogleClient) }

func testGoogleClient(t *testing.T, transport string) {
	b := setupClients(t, transport)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	req := validRequest()
	req.Parent = "projects/p/locations/eu"
	op, err := b.vision.AsyncBatchAnnotateFiles(ctx, req)
	if err != nil {
		t.Fatalf("AsyncBatchAnnotateFiles: %v", err)
	}
	if want := "projects/p/locations/eu/operations/0000000000000001"; op.Name() != want {
		t.Errorf("Name() = %q, want %q", op.Name(), want)
	}
	md, err := op.Metadata()
	if err != nil || md.GetState() != visionpb.OperationMetadata_CREATED {
		t.Errorf("Metadata() = %v, %v; want state CREATED", md, err)
	}

	// A worker finishes the operation.
	stored := b.ops.get("0000000000000001")
	stored.State, stored.Done, stored.UpdateTime = visionpb.OperationMetadata_DONE, true, testNow.Add(time.Minute)
	b.ops.put(stored)

	resp, err := op.Wait(ctx)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	want := &visionpb.AsyncBatchAnnotateFilesResponse{}
	for _, r := range req.GetRequests() {
		want.Responses = append(want.Responses, &visionpb.AsyncAnnotateFileResponse{OutputConfig: r.GetOutputConfig()})
	}
	if diff := cmp.Diff(want, resp, protocmp.Transform()); diff != "" {
		t.Errorf("response (-want +got):\n%s", diff)
	}
	if md, err := op.Metadata(); err != nil || md.GetState() != visionpb.OperationMetadata_DONE {
		t.Errorf("Metadata() after Wait = %v, %v; want state DONE", md, err)
	}

	// Resuming from the name alone works too.
	again := b.vision.AsyncBatchAnnotateFilesOperation(op.Name())
	if resp, err := again.Poll(ctx); err != nil || resp == nil {
		t.Errorf("Poll by name = %v, %v; want the response", resp, err)
	}
}

// TestGoogleClientErrors checks the errors Google's clients surface, the
// same over both transports.
func TestGoogleClientErrors(t *testing.T) { forEachTransport(t, testGoogleClientErrors) }

func testGoogleClientErrors(t *testing.T, transport string) {
	b := setupClients(t, transport)
	ctx := context.Background()

	bad := validRequest()
	bad.Requests[1].OutputConfig.BatchSize = 101
	_, err := b.vision.AsyncBatchAnnotateFiles(ctx, bad)
	var ae *apierror.APIError
	if !errors.As(err, &ae) || ae.GRPCStatus().Code() != codes.InvalidArgument {
		t.Fatalf("invalid request error = %v, want INVALID_ARGUMENT", err)
	}
	if fv := ae.Details().BadRequest.GetFieldViolations(); len(fv) != 1 || fv[0].GetField() != "requests[1].outputConfig.batchSize" {
		t.Errorf("field violations = %v", fv)
	}

	// A failed operation: Wait returns the operation's error.
	op, err := b.vision.AsyncBatchAnnotateFiles(ctx, validRequest())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.ops.Fail(ctx, "0000000000000001", 5, "gs://bucket/a.pdf: object not found"); err != nil {
		t.Fatal(err)
	}
	_, err = op.Wait(ctx)
	if !errors.As(err, &ae) || ae.GRPCStatus().Code() != codes.NotFound || ae.GRPCStatus().Message() != "gs://bucket/a.pdf: object not found" {
		t.Errorf("Wait on failed operation = %v, want NOT_FOUND naming the file", err)
	}

	_, err = b.vision.AsyncBatchAnnotateFilesOperation("operations/nope").Poll(ctx)
	if !errors.As(err, &ae) || ae.GRPCStatus().Code() != codes.NotFound {
		t.Errorf("poll unknown = %v, want NOT_FOUND", err)
	}
}

// TestGoogleOperationsClient drives list, cancel and delete with Google's
// generic google.longrunning clients.
func TestGoogleOperationsClient(t *testing.T) { forEachTransport(t, testGoogleOperationsClient) }

func testGoogleOperationsClient(t *testing.T, transport string) {
	b := setupClients(t, transport)
	ctx := context.Background()
	for range 3 {
		if _, err := b.vision.AsyncBatchAnnotateFiles(ctx, validRequest()); err != nil {
			t.Fatal(err)
		}
	}

	var names []string
	it := b.lro.ListOperations(ctx, &longrunningpb.ListOperationsRequest{Name: "operations", PageSize: 2})
	for {
		op, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			t.Fatalf("ListOperations: %v", err)
		}
		names = append(names, op.GetName())
	}
	wantNames := []string{"operations/0000000000000003", "operations/0000000000000002", "operations/0000000000000001"}
	if diff := cmp.Diff(wantNames, names); diff != "" {
		t.Errorf("listed (-want +got):\n%s", diff)
	}

	if err := b.lro.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: "operations/0000000000000002"}); err != nil {
		t.Fatalf("CancelOperation: %v", err)
	}
	op, err := b.lro.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: "operations/0000000000000002"})
	if err != nil || !op.GetDone() || op.GetError().GetCode() != int32(codes.Canceled) {
		t.Errorf("after cancel = %v, %v; want done with code 1", op, err)
	}

	if err := b.lro.DeleteOperation(ctx, &longrunningpb.DeleteOperationRequest{Name: "operations/0000000000000002"}); err != nil {
		t.Fatalf("DeleteOperation: %v", err)
	}
	_, err = b.lro.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: "operations/0000000000000002"})
	var ae *apierror.APIError
	if !errors.As(err, &ae) || ae.GRPCStatus().Code() != codes.NotFound {
		t.Errorf("get deleted = %v, want NOT_FOUND", err)
	}
}
