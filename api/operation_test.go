package api

import (
	"strings"
	"testing"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"github.com/google/go-cmp/cmp"
	visionv1p4beta1 "google.golang.org/genproto/googleapis/cloud/vision/v1p4beta1"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/folio-ocr/folio/store"
)

// TestToProtoRoundTrip marshals operations as the API does and parses them
// back as Google's Go client does: protojson with DiscardUnknown into a
// longrunningpb.Operation, then Any.UnmarshalTo into the Vision types.
func TestToProtoRoundTrip(t *testing.T) {
	t.Parallel()
	req := validRequest()
	wantResponse := &visionpb.AsyncBatchAnnotateFilesResponse{Responses: []*visionpb.AsyncAnnotateFileResponse{
		{OutputConfig: req.Requests[0].OutputConfig},
		{OutputConfig: req.Requests[1].OutputConfig},
	}}
	later := testNow.Add(90 * 1e9)
	tests := []struct {
		name         string
		op           store.Operation
		wantState    visionpb.OperationMetadata_State
		wantDone     bool
		wantError    *statuspb.Status
		wantResponse *visionpb.AsyncBatchAnnotateFilesResponse
	}{
		{
			name:      "created",
			op:        store.Operation{State: visionpb.OperationMetadata_CREATED},
			wantState: visionpb.OperationMetadata_CREATED,
		},
		{
			name:      "running",
			op:        store.Operation{State: visionpb.OperationMetadata_RUNNING, PagesDone: 3, PagesTotal: 10},
			wantState: visionpb.OperationMetadata_RUNNING,
		},
		{
			name:         "done",
			op:           store.Operation{State: visionpb.OperationMetadata_DONE, Done: true},
			wantState:    visionpb.OperationMetadata_DONE,
			wantDone:     true,
			wantResponse: wantResponse,
		},
		{
			name:      "failed",
			op:        store.Operation{State: visionpb.OperationMetadata_DONE, Done: true, ErrorCode: 3, ErrorMessage: "gs://bucket/a.pdf is not a PDF"},
			wantState: visionpb.OperationMetadata_DONE,
			wantDone:  true,
			wantError: &statuspb.Status{Code: 3, Message: "gs://bucket/a.pdf is not a PDF"},
		},
		{
			name:      "cancelled",
			op:        store.Operation{State: visionpb.OperationMetadata_CANCELLED, Done: true, ErrorCode: 1, ErrorMessage: "Operation was cancelled."},
			wantState: visionpb.OperationMetadata_CANCELLED,
			wantDone:  true,
			wantError: &statuspb.Status{Code: 1, Message: "Operation was cancelled."},
		},
		{
			name:      "cancelled without recorded error",
			op:        store.Operation{State: visionpb.OperationMetadata_CANCELLED},
			wantState: visionpb.OperationMetadata_CANCELLED,
			wantDone:  true,
			wantError: &statuspb.Status{Code: 1, Message: store.CancelledMessage},
		},
	}
	for _, tt := range tests {
		for _, version := range []string{"", apiV1, apiV1p4beta1} {
			t.Run(tt.name+"/"+version, func(t *testing.T) {
				t.Parallel()
				op := tt.op
				op.ID, op.Name, op.APIVersion = "1efec2285bd442df", "projects/p/operations/1efec2285bd442df", version
				op.CreateTime, op.UpdateTime, op.Request = testNow, later, req

				p, err := toProto(&op)
				if err != nil {
					t.Fatalf("toProto: %v", err)
				}
				b, err := protojson.Marshal(p)
				if err != nil {
					t.Fatalf("marshal: %v", err)
				}
				got := &longrunningpb.Operation{}
				if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(b, got); err != nil {
					t.Fatalf("unmarshal %s: %v", b, err)
				}
				if got.GetName() != op.Name || got.GetDone() != tt.wantDone {
					t.Errorf("name, done = %q, %v; want %q, %v", got.GetName(), got.GetDone(), op.Name, tt.wantDone)
				}
				if diff := cmp.Diff(tt.wantError, got.GetError(), protocmp.Transform()); diff != "" {
					t.Errorf("error (-want +got):\n%s", diff)
				}

				pkg := "google.cloud.vision.v1."
				md, resp := proto.Message(&visionpb.OperationMetadata{}), proto.Message(&visionpb.AsyncBatchAnnotateFilesResponse{})
				if version == apiV1p4beta1 {
					pkg = "google.cloud.vision.v1p4beta1."
					md, resp = &visionv1p4beta1.OperationMetadata{}, &visionv1p4beta1.AsyncBatchAnnotateFilesResponse{}
				}
				if want := "type.googleapis.com/" + pkg + "OperationMetadata"; got.GetMetadata().GetTypeUrl() != want {
					t.Errorf("metadata @type = %q, want %q", got.GetMetadata().GetTypeUrl(), want)
				}
				if err := got.GetMetadata().UnmarshalTo(md); err != nil {
					t.Fatalf("metadata: %v", err)
				}
				// Both versions share the wire format; compare as v1.
				v1md := &visionpb.OperationMetadata{}
				if err := convertProto(md, v1md); err != nil {
					t.Fatal(err)
				}
				wantMD := &visionpb.OperationMetadata{
					State:      tt.wantState,
					CreateTime: timestamppb.New(testNow),
					UpdateTime: timestamppb.New(later),
				}
				if diff := cmp.Diff(wantMD, v1md, protocmp.Transform()); diff != "" {
					t.Errorf("metadata (-want +got):\n%s", diff)
				}

				if tt.wantResponse == nil {
					if got.GetResponse() != nil {
						t.Errorf("response = %v, want none", got.GetResponse())
					}
					return
				}
				if want := "type.googleapis.com/" + pkg + "AsyncBatchAnnotateFilesResponse"; got.GetResponse().GetTypeUrl() != want {
					t.Errorf("response @type = %q, want %q", got.GetResponse().GetTypeUrl(), want)
				}
				if err := got.GetResponse().UnmarshalTo(resp); err != nil {
					t.Fatalf("response: %v", err)
				}
				v1resp := &visionpb.AsyncBatchAnnotateFilesResponse{}
				if err := convertProto(resp, v1resp); err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tt.wantResponse, v1resp, protocmp.Transform()); diff != "" {
					t.Errorf("response (-want +got):\n%s", diff)
				}
			})
		}
	}
}

// TestToProtoImagesResponse: a finished images:asyncBatchAnnotate
// operation answers an AsyncBatchAnnotateImagesResponse echoing its
// outputConfig, under the type name of its API version.
func TestToProtoImagesResponse(t *testing.T) {
	t.Parallel()
	out := &visionpb.OutputConfig{GcsDestination: &visionpb.GcsDestination{Uri: "gs://b/out/"}, BatchSize: 3}
	for version, typ := range map[string]string{
		apiV1:        "google.cloud.vision.v1.AsyncBatchAnnotateImagesResponse",
		apiV1p4beta1: "google.cloud.vision.v1p4beta1.AsyncBatchAnnotateImagesResponse",
	} {
		op := &store.Operation{ID: "1", Name: "operations/1", APIVersion: version, State: visionpb.OperationMetadata_DONE, Done: true,
			Images: &visionpb.AsyncBatchAnnotateImagesRequest{OutputConfig: out}}
		p, err := toProto(op)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.GetResponse().GetTypeUrl(); got != "type.googleapis.com/"+typ {
			t.Errorf("%s: @type %q", version, got)
		}
		resp := &visionpb.AsyncBatchAnnotateImagesResponse{}
		if err := proto.Unmarshal(p.GetResponse().GetValue(), resp); err != nil || !proto.Equal(resp.GetOutputConfig(), out) {
			t.Errorf("%s: response %v, %v", version, resp, err)
		}
	}
}

// TestToProtoJSON pins the JSON a running and a finished operation have,
// key by key, against the research checklist (§7 items 7 and 8).
func TestToProtoJSON(t *testing.T) {
	t.Parallel()
	op := &store.Operation{
		ID: "1efec2285bd442df", Name: "operations/1efec2285bd442df", APIVersion: apiV1,
		State: visionpb.OperationMetadata_RUNNING, CreateTime: testNow, UpdateTime: testNow,
		Request: validRequest(),
	}
	b := setup(t)
	b.ops.put(op)
	rec := b.serve(t, "GET", "/v1/operations/1efec2285bd442df", "")
	want := `{"name":"operations/1efec2285bd442df","metadata":{"@type":"type.googleapis.com/google.cloud.vision.v1.OperationMetadata",` +
		`"state":"RUNNING","createTime":"2026-03-01T12:00:00.123456789Z","updateTime":"2026-03-01T12:00:00.123456789Z"}}`
	if got := rec.Body.String(); got != want {
		t.Errorf("running operation JSON\n got %s\nwant %s", got, want)
	}

	op.State, op.Done = visionpb.OperationMetadata_DONE, true
	b.ops.put(op)
	rec = b.serve(t, "GET", "/v1/operations/1efec2285bd442df", "")
	wantTail := `"done":true,"response":{"@type":"type.googleapis.com/google.cloud.vision.v1.AsyncBatchAnnotateFilesResponse",` +
		`"responses":[{"outputConfig":{"gcsDestination":{"uri":"gs://bucket/out/a/"},"batchSize":2}},` +
		`{"outputConfig":{"gcsDestination":{"uri":"gs://bucket/out/b-"},"batchSize":2}}]}}`
	if got := rec.Body.String(); !strings.HasSuffix(got, wantTail) {
		t.Errorf("done operation JSON\n got %s\nwant suffix %s", got, wantTail)
	}
}

func TestToProtoErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		op   store.Operation
	}{
		{"unknown version", store.Operation{Name: "operations/x", APIVersion: "v2"}},
		{"done without request", store.Operation{Name: "operations/x", APIVersion: apiV1, Done: true}},
	}
	for _, tt := range tests {
		if _, err := toProto(&tt.op); err == nil || !strings.Contains(err.Error(), "operations/x") {
			t.Errorf("%s: toProto = %v, want an error naming the operation", tt.name, err)
		}
	}
}
