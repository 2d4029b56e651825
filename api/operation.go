package api

import (
	"fmt"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	// Registers the google.cloud.vision.v1p4beta1 message types, so that
	// protojson can print (and clients can parse) Any values whose @type
	// names them.
	visionv1p4beta1 "google.golang.org/genproto/googleapis/cloud/vision/v1p4beta1"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/folio-ocr/folio/store"
)

const (
	// apiV1 and apiV1p4beta1 are the values of store.Operation.APIVersion;
	// they select the package of the @type names in the operation's JSON.
	apiV1        = "v1"
	apiV1p4beta1 = "v1p4beta1"
	// apiV1p4beta1Package is the proto package of API version v1p4beta1.
	apiV1p4beta1Package = "google.cloud.vision.v1p4beta1"
)

// toProto converts a stored operation to the google.longrunning.Operation the
// API returns: metadata is a Vision OperationMetadata (state, createTime,
// updateTime); a finished operation has done set and either error (a
// google.rpc code and message; CANCELLED operations always carry code 1) or
// response, an AsyncBatchAnnotateFilesResponse with one outputConfig per
// request, in request order, echoing each request's outputConfig. Operations
// created through /v1p4beta1/ use the google.cloud.vision.v1p4beta1 type
// names. It fails only for an unknown APIVersion or a finished successful
// operation without its request.
func toProto(op *store.Operation) (*longrunningpb.Operation, error) {
	md, err := packAny(&visionpb.OperationMetadata{
		State:      op.State,
		CreateTime: timestamppb.New(op.CreateTime),
		UpdateTime: timestamppb.New(op.UpdateTime),
	}, op.APIVersion)
	if err != nil {
		return nil, fmt.Errorf("api: operation %s metadata: %w", op.Name, err)
	}
	out := &longrunningpb.Operation{Name: op.Name, Metadata: md}

	cancelled := op.State == visionpb.OperationMetadata_CANCELLED
	switch {
	case cancelled:
		msg := op.ErrorMessage
		if msg == "" {
			msg = store.CancelledMessage
		}
		out.Done = true
		out.Result = &longrunningpb.Operation_Error{Error: &statuspb.Status{Code: int32(codes.Canceled), Message: msg}}
	case op.ErrorCode != 0:
		out.Done = true
		out.Result = &longrunningpb.Operation_Error{Error: &statuspb.Status{Code: op.ErrorCode, Message: op.ErrorMessage}}
	case op.Done || op.State == visionpb.OperationMetadata_DONE:
		var resp proto.Message
		switch {
		case op.Images != nil:
			resp = &visionpb.AsyncBatchAnnotateImagesResponse{OutputConfig: op.Images.GetOutputConfig()}
		case op.Request != nil:
			files := &visionpb.AsyncBatchAnnotateFilesResponse{}
			for _, r := range op.Request.GetRequests() {
				files.Responses = append(files.Responses, &visionpb.AsyncAnnotateFileResponse{
					OutputConfig: r.GetOutputConfig(),
				})
			}
			resp = files
		default:
			return nil, fmt.Errorf("api: operation %s is done but has no request to build its response from", op.Name)
		}
		a, err := packAny(resp, op.APIVersion)
		if err != nil {
			return nil, fmt.Errorf("api: operation %s response: %w", op.Name, err)
		}
		out.Done = true
		out.Result = &longrunningpb.Operation_Response{Response: a}
	}
	return out, nil
}

// packAny packs a google.cloud.vision.v1 message in an Any. For version
// "v1p4beta1" it first converts m to the same-named v1p4beta1 message, which
// has the same wire format, so the Any's @type names the v1p4beta1 type.
func packAny(m proto.Message, version string) (*anypb.Any, error) {
	switch version {
	case apiV1, "":
		a, err := anypb.New(m)
		if err != nil {
			return nil, fmt.Errorf("pack %s: %w", m.ProtoReflect().Descriptor().FullName(), err)
		}
		return a, nil
	case apiV1p4beta1:
		var beta proto.Message
		switch m.(type) {
		case *visionpb.OperationMetadata:
			beta = &visionv1p4beta1.OperationMetadata{}
		case *visionpb.AsyncBatchAnnotateFilesResponse:
			beta = &visionv1p4beta1.AsyncBatchAnnotateFilesResponse{}
		case *visionpb.AsyncBatchAnnotateImagesResponse:
			beta = &visionv1p4beta1.AsyncBatchAnnotateImagesResponse{}
		default:
			return nil, fmt.Errorf("no v1p4beta1 counterpart for %s", m.ProtoReflect().Descriptor().FullName())
		}
		if err := convertProto(m, beta); err != nil {
			return nil, err
		}
		a, err := anypb.New(beta)
		if err != nil {
			return nil, fmt.Errorf("pack %s: %w", beta.ProtoReflect().Descriptor().FullName(), err)
		}
		return a, nil
	default:
		return nil, fmt.Errorf("unknown API version %q", version)
	}
}

// convertProto copies src into dst through the binary wire format; it is
// meant for messages of different packages with the same field numbers
// (google.cloud.vision.v1 and v1p4beta1). Fields dst does not know are kept
// as unknown fields.
func convertProto(src, dst proto.Message) error {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(src)
	if err != nil {
		return fmt.Errorf("marshal %s: %w", src.ProtoReflect().Descriptor().FullName(), err)
	}
	if err := proto.Unmarshal(b, dst); err != nil {
		return fmt.Errorf("convert %s to %s: %w", src.ProtoReflect().Descriptor().FullName(),
			dst.ProtoReflect().Descriptor().FullName(), err)
	}
	return nil
}
