package api

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"github.com/google/go-cmp/cmp"
	"github.com/googleapis/gax-go/v2"
	"github.com/googleapis/gax-go/v2/apierror"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"

	"github.com/folio-ocr/folio/rpcerr"
	"github.com/folio-ocr/folio/store"
)

// answer is what a client saw of a call: its code, message and the fields
// of its BadRequest detail.
type answer struct {
	Code    codes.Code
	Message string
	Fields  []string
}

// answerOf reads err as Google's clients present it.
func answerOf(err error) answer {
	if err == nil {
		return answer{Code: codes.OK}
	}
	var ae *apierror.APIError
	if !errors.As(err, &ae) {
		return answer{Code: codes.Unknown, Message: "not an APIError: " + err.Error()}
	}
	a := answer{Code: ae.GRPCStatus().Code(), Message: ae.GRPCStatus().Message()}
	for _, v := range ae.Details().BadRequest.GetFieldViolations() {
		a.Fields = append(a.Fields, v.GetField())
	}
	return a
}

// conformanceCases are calls of every method with the outcomes a client
// can see; each runs on a fresh server whose fakes setup prepares.
var conformanceCases = []struct {
	name  string
	setup func(b *testBundle, sync *fakeSync)
	call  func(ctx context.Context, c *clientBundle) error
	want  codes.Code
}{
	{"asyncBatchAnnotateFiles ok", nil, func(ctx context.Context, c *clientBundle) error {
		_, err := c.vision.AsyncBatchAnnotateFiles(ctx, validRequest(), noRetry)
		return err
	}, codes.OK},
	{"asyncBatchAnnotateFiles invalid", nil, func(ctx context.Context, c *clientBundle) error {
		req := validRequest()
		req.Requests[1].OutputConfig.BatchSize = 101
		req.Requests[0].Features = nil
		_, err := c.vision.AsyncBatchAnnotateFiles(ctx, req, noRetry)
		return err
	}, codes.InvalidArgument},
	{"asyncBatchAnnotateFiles queue down", func(b *testBundle, _ *fakeSync) {
		b.queue.err = fmt.Errorf("dial 10.0.0.7:6379: %w", store.ErrUnavailable)
	}, func(ctx context.Context, c *clientBundle) error {
		_, err := c.vision.AsyncBatchAnnotateFiles(ctx, validRequest(), noRetry)
		return err
	}, codes.Unavailable},
	{"asyncBatchAnnotateFiles store down", func(b *testBundle, _ *fakeSync) {
		b.ops.err = fmt.Errorf("dial 10.0.0.7:6379: %w", store.ErrUnavailable)
	}, func(ctx context.Context, c *clientBundle) error {
		_, err := c.vision.AsyncBatchAnnotateFiles(ctx, validRequest(), noRetry)
		return err
	}, codes.Unavailable},
	{"asyncBatchAnnotateFiles store broken", func(b *testBundle, _ *fakeSync) {
		b.ops.err = errors.New("open /var/lib/secret: corrupt")
	}, func(ctx context.Context, c *clientBundle) error {
		_, err := c.vision.AsyncBatchAnnotateFiles(ctx, validRequest(), noRetry)
		return err
	}, codes.Internal},
	{"asyncBatchAnnotateImages ok", nil, func(ctx context.Context, c *clientBundle) error {
		_, err := c.vision.AsyncBatchAnnotateImages(ctx, validAsyncImagesRequest(), noRetry)
		return err
	}, codes.OK},
	{"asyncBatchAnnotateImages invalid", nil, func(ctx context.Context, c *clientBundle) error {
		req := validAsyncImagesRequest()
		req.OutputConfig = nil
		_, err := c.vision.AsyncBatchAnnotateImages(ctx, req, noRetry)
		return err
	}, codes.InvalidArgument},
	{"batchAnnotateFiles ok", nil, func(ctx context.Context, c *clientBundle) error {
		_, err := c.vision.BatchAnnotateFiles(ctx, validFilesRequest(), noRetry)
		return err
	}, codes.OK},
	{"batchAnnotateFiles invalid", nil, func(ctx context.Context, c *clientBundle) error {
		req := validFilesRequest()
		req.Requests[0].Pages = []int32{1, 2, 3, 4, 5, 6}
		_, err := c.vision.BatchAnnotateFiles(ctx, req, noRetry)
		return err
	}, codes.InvalidArgument},
	{"batchAnnotateFiles too slow", func(_ *testBundle, s *fakeSync) {
		s.err = &rpcerr.Error{Code: codes.DeadlineExceeded, Message: "the call did not finish within its deadline"}
	}, func(ctx context.Context, c *clientBundle) error {
		_, err := c.vision.BatchAnnotateFiles(ctx, validFilesRequest(), noRetry)
		return err
	}, codes.DeadlineExceeded},
	{"batchAnnotateImages ok", nil, func(ctx context.Context, c *clientBundle) error {
		_, err := c.vision.BatchAnnotateImages(ctx, validImagesRequest(), noRetry)
		return err
	}, codes.OK},
	{"batchAnnotateImages invalid", nil, func(ctx context.Context, c *clientBundle) error {
		req := validImagesRequest()
		req.Requests[0].Image = nil
		_, err := c.vision.BatchAnnotateImages(ctx, req, noRetry)
		return err
	}, codes.InvalidArgument},
	{"batchAnnotateImages workers down", func(_ *testBundle, s *fakeSync) {
		s.err = fmt.Errorf("jobs: queue call: %w", store.ErrUnavailable)
	}, func(ctx context.Context, c *clientBundle) error {
		_, err := c.vision.BatchAnnotateImages(ctx, validImagesRequest(), noRetry)
		return err
	}, codes.Unavailable},
	{"getOperation ok", createOne, func(ctx context.Context, c *clientBundle) error {
		_, err := c.lro.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: "operations/0000000000000001"}, noRetry)
		return err
	}, codes.OK},
	{"getOperation unknown", nil, func(ctx context.Context, c *clientBundle) error {
		_, err := c.lro.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: "operations/0000000000000009"}, noRetry)
		return err
	}, codes.NotFound},
	{"getOperation store down", func(b *testBundle, _ *fakeSync) {
		b.ops.err = fmt.Errorf("dial: %w", store.ErrUnavailable)
	}, func(ctx context.Context, c *clientBundle) error {
		_, err := c.lro.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: "operations/0000000000000001"}, noRetry)
		return err
	}, codes.Unavailable},
	{"listOperations ok", createOne, func(ctx context.Context, c *clientBundle) error {
		return drain(c.lro.ListOperations(ctx, &longrunningpb.ListOperationsRequest{Name: "operations", Filter: "done=false"}, noRetry))
	}, codes.OK},
	{"listOperations bad filter", nil, func(ctx context.Context, c *clientBundle) error {
		return drain(c.lro.ListOperations(ctx, &longrunningpb.ListOperationsRequest{Name: "operations", Filter: "color=red"}, noRetry))
	}, codes.InvalidArgument},
	{"listOperations bad token", nil, func(ctx context.Context, c *clientBundle) error {
		return drain(c.lro.ListOperations(ctx, &longrunningpb.ListOperationsRequest{Name: "operations", PageToken: "not-a-token"}, noRetry))
	}, codes.InvalidArgument},
	{"cancelOperation ok", createOne, func(ctx context.Context, c *clientBundle) error {
		return c.lro.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: "operations/0000000000000001"}, noRetry)
	}, codes.OK},
	{"cancelOperation unknown", nil, func(ctx context.Context, c *clientBundle) error {
		return c.lro.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: "operations/0000000000000009"}, noRetry)
	}, codes.NotFound},
	{"deleteOperation ok", createOne, func(ctx context.Context, c *clientBundle) error {
		return c.lro.DeleteOperation(ctx, &longrunningpb.DeleteOperationRequest{Name: "operations/0000000000000001"}, noRetry)
	}, codes.OK},
	{"deleteOperation unknown", nil, func(ctx context.Context, c *clientBundle) error {
		return c.lro.DeleteOperation(ctx, &longrunningpb.DeleteOperationRequest{Name: "projects/p/operations/0000000000000009"}, noRetry)
	}, codes.NotFound},
}

// noRetry turns off the clients' retries, which would otherwise repeat
// UNAVAILABLE and DEADLINE_EXCEEDED calls for minutes.
var noRetry = gax.WithRetry(func() gax.Retryer { return nil })

// createOne records operations/0000000000000001, CREATED.
func createOne(b *testBundle, _ *fakeSync) {
	b.ops.put(&store.Operation{ID: "0000000000000001", Name: "operations/0000000000000001", APIVersion: apiV1,
		State: visionpb.OperationMetadata_CREATED, CreateTime: testNow, UpdateTime: testNow, Request: validRequest()})
}

// drain reads every page of a list.
func drain(it interface {
	Next() (*longrunningpb.Operation, error)
}) error {
	for {
		if _, err := it.Next(); err != nil {
			if errors.Is(err, iterator.Done) {
				return nil
			}
			return err
		}
	}
}

// TestConformance runs every method with each outcome a client can see,
// through Google's REST and gRPC clients, and checks that both transports
// give the same code, message and field violations, and the code wanted.
func TestConformance(t *testing.T) {
	t.Parallel()
	for _, tc := range conformanceCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := map[string]answer{}
			for _, transport := range transports {
				sync := &fakeSync{}
				c := setupClients(t, transport, func(b *testBundle) {
					b.cfg.Sync = sync
					if tc.setup != nil {
						tc.setup(b, sync)
					}
				})
				got[transport] = answerOf(tc.call(context.Background(), c))
			}
			rest, grpc := got["rest"], got["grpc"]
			if rest.Code != tc.want {
				t.Errorf("code %v (%q), want %v", rest.Code, rest.Message, tc.want)
			}
			if tc.want != codes.OK && rest.Message == "" {
				t.Error("an error without a message")
			}
			if tc.want == codes.InvalidArgument && len(rest.Fields) == 0 {
				t.Error("INVALID_ARGUMENT without field violations")
			}
			if diff := cmp.Diff(rest, grpc); diff != "" {
				t.Errorf("REST and gRPC differ (-rest +grpc):\n%s", diff)
			}
		})
	}
}
