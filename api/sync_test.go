package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"github.com/google/go-cmp/cmp"
	"github.com/googleapis/gax-go/v2/apierror"
	visionv1p4beta1 "google.golang.org/genproto/googleapis/cloud/vision/v1p4beta1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
)

// fakeSync answers synchronous calls with canned responses and records the
// requests it got.
type fakeSync struct {
	mu     sync.Mutex
	files  []*visionpb.BatchAnnotateFilesRequest
	images []*visionpb.BatchAnnotateImagesRequest
	// err, if set, is every call's answer.
	err error
}

var (
	cannedFiles = &visionpb.BatchAnnotateFilesResponse{Responses: []*visionpb.AnnotateFileResponse{{
		TotalPages: 7,
		Responses: []*visionpb.AnnotateImageResponse{{
			FullTextAnnotation: &visionpb.TextAnnotation{Text: "Page 2\n"},
			Context:            &visionpb.ImageAnnotationContext{Uri: "gs://bucket/a.pdf", PageNumber: 2},
		}},
	}}}
	cannedImages = &visionpb.BatchAnnotateImagesResponse{Responses: []*visionpb.AnnotateImageResponse{{
		TextAnnotations:    []*visionpb.EntityAnnotation{{Description: "Hi\n"}, {Description: "Hi"}},
		FullTextAnnotation: &visionpb.TextAnnotation{Text: "Hi\n"},
	}}}
)

func (f *fakeSync) AnnotateFiles(_ context.Context, req *visionpb.BatchAnnotateFilesRequest) (*visionpb.BatchAnnotateFilesResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.files = append(f.files, req)
	if f.err != nil {
		return nil, f.err
	}
	return proto.Clone(cannedFiles).(*visionpb.BatchAnnotateFilesResponse), nil
}

func (f *fakeSync) AnnotateImages(_ context.Context, req *visionpb.BatchAnnotateImagesRequest) (*visionpb.BatchAnnotateImagesResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.images = append(f.images, req)
	if f.err != nil {
		return nil, f.err
	}
	return proto.Clone(cannedImages).(*visionpb.BatchAnnotateImagesResponse), nil
}

func validFilesRequest() *visionpb.BatchAnnotateFilesRequest {
	return &visionpb.BatchAnnotateFilesRequest{Requests: []*visionpb.AnnotateFileRequest{{
		InputConfig: &visionpb.InputConfig{GcsSource: &visionpb.GcsSource{Uri: "gs://bucket/a.pdf"}, MimeType: "application/pdf"},
		Features:    []*visionpb.Feature{{Type: visionpb.Feature_DOCUMENT_TEXT_DETECTION}},
		Pages:       []int32{2, -1},
	}}}
}

func validImagesRequest() *visionpb.BatchAnnotateImagesRequest {
	return &visionpb.BatchAnnotateImagesRequest{Requests: []*visionpb.AnnotateImageRequest{{
		Image:    &visionpb.Image{Content: []byte("\x89PNG...")},
		Features: []*visionpb.Feature{{Type: visionpb.Feature_TEXT_DETECTION}},
	}}}
}

func TestValidateFilesRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(r *visionpb.BatchAnnotateFilesRequest)
		fields []string
	}{
		{"valid gs:// file", func(*visionpb.BatchAnnotateFilesRequest) {}, nil},
		{"valid inline file", func(r *visionpb.BatchAnnotateFilesRequest) {
			r.Requests[0].InputConfig = &visionpb.InputConfig{Content: []byte("%PDF-"), MimeType: "application/pdf"}
		}, nil},
		{"no requests", func(r *visionpb.BatchAnnotateFilesRequest) { r.Requests = nil }, []string{"requests"}},
		{"two files", func(r *visionpb.BatchAnnotateFilesRequest) { r.Requests = append(r.Requests, r.Requests[0]) }, []string{"requests"}},
		{"content and uri", func(r *visionpb.BatchAnnotateFilesRequest) { r.Requests[0].InputConfig.Content = []byte("x") },
			[]string{"requests[0].inputConfig"}},
		{"neither", func(r *visionpb.BatchAnnotateFilesRequest) { r.Requests[0].InputConfig.GcsSource = nil },
			[]string{"requests[0].inputConfig"}},
		{"not gs://", func(r *visionpb.BatchAnnotateFilesRequest) {
			r.Requests[0].InputConfig.GcsSource.Uri = "https://x/a.pdf"
		},
			[]string{"requests[0].inputConfig.gcsSource.uri"}},
		{"bad mime", func(r *visionpb.BatchAnnotateFilesRequest) { r.Requests[0].InputConfig.MimeType = "image/png" },
			[]string{"requests[0].inputConfig.mimeType"}},
		{"six pages", func(r *visionpb.BatchAnnotateFilesRequest) { r.Requests[0].Pages = []int32{1, 2, 3, 4, 5, 6} },
			[]string{"requests[0].pages"}},
		{"page 0", func(r *visionpb.BatchAnnotateFilesRequest) { r.Requests[0].Pages = []int32{1, 0} },
			[]string{"requests[0].pages[1]"}},
		{"no features", func(r *visionpb.BatchAnnotateFilesRequest) { r.Requests[0].Features = nil },
			[]string{"requests[0].features"}},
		{"bad parent", func(r *visionpb.BatchAnnotateFilesRequest) { r.Parent = "p" }, []string{"parent"}},
	}
	for _, tt := range tests {
		req := validFilesRequest()
		tt.mutate(req)
		checkViolations(t, tt.name, validateFilesRequest(req, nil), tt.fields)
	}
}

func TestValidateImagesRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(r *visionpb.BatchAnnotateImagesRequest)
		fields []string
	}{
		{"valid inline image", func(*visionpb.BatchAnnotateImagesRequest) {}, nil},
		{"valid gs:// image", func(r *visionpb.BatchAnnotateImagesRequest) {
			r.Requests[0].Image = &visionpb.Image{Source: &visionpb.ImageSource{GcsImageUri: "gs://b/a.png"}}
		}, nil},
		{"valid gs:// imageUri", func(r *visionpb.BatchAnnotateImagesRequest) {
			r.Requests[0].Image = &visionpb.Image{Source: &visionpb.ImageSource{ImageUri: "gs://b/a.png"}}
		}, nil},
		{"https imageUri", func(r *visionpb.BatchAnnotateImagesRequest) {
			r.Requests[0].Image = &visionpb.Image{Source: &visionpb.ImageSource{ImageUri: "https://example.com/a.png"}}
		}, []string{"requests[0].image.source.imageUri"}},
		{"no image", func(r *visionpb.BatchAnnotateImagesRequest) { r.Requests[0].Image = nil }, []string{"requests[0].image"}},
		{"content and source", func(r *visionpb.BatchAnnotateImagesRequest) {
			r.Requests[0].Image.Source = &visionpb.ImageSource{GcsImageUri: "gs://b/a.png"}
		}, []string{"requests[0].image"}},
		{"17 images", func(r *visionpb.BatchAnnotateImagesRequest) {
			for range 16 {
				r.Requests = append(r.Requests, r.Requests[0])
			}
		}, []string{"requests"}},
		{"no features", func(r *visionpb.BatchAnnotateImagesRequest) { r.Requests[0].Features = nil }, []string{"requests[0].features"}},
		{"unknown hint", func(r *visionpb.BatchAnnotateImagesRequest) {
			r.Requests[0].ImageContext = &visionpb.ImageContext{LanguageHints: []string{"xx-!!"}}
		}, []string{"requests[0].imageContext.languageHints[0]"}},
	}
	for _, tt := range tests {
		req := validImagesRequest()
		tt.mutate(req)
		checkViolations(t, tt.name, validateImagesRequest(req, nil), tt.fields)
	}
}

// checkViolations fails t unless err lists exactly the violations of
// fields (none: err is nil).
func checkViolations(t *testing.T, name string, err error, fields []string) {
	t.Helper()
	if fields == nil {
		if err != nil {
			t.Errorf("%s: %v, want valid", name, err)
		}
		return
	}
	vs, ok := violations(err)
	if !ok {
		t.Errorf("%s: %v, want INVALID_ARGUMENT with field violations", name, err)
		return
	}
	var got []string
	for _, v := range vs {
		got = append(got, v.GetField())
		if !strings.Contains(v.GetDescription(), v.GetField()) {
			t.Errorf("%s: %q does not name %s", name, v.GetDescription(), v.GetField())
		}
	}
	if diff := cmp.Diff(fields, got); diff != "" {
		t.Errorf("%s: fields (-want +got):\n%s", name, diff)
	}
}

// TestSyncCallsOverTransports drives files:annotate and images:annotate
// with Google's clients over REST and gRPC: the request reaches the
// SyncAnnotator as sent, and its answer reaches the client as given.
func TestSyncCallsOverTransports(t *testing.T) {
	forEachTransport(t, func(t *testing.T, transport string) {
		sync := &fakeSync{}
		b := setupClients(t, transport, func(b *testBundle) { b.cfg.Sync = sync })
		ctx := context.Background()

		req := validFilesRequest()
		resp, err := b.vision.BatchAnnotateFiles(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(cannedFiles, resp, protocmp.Transform()); diff != "" {
			t.Errorf("files response (-want +got):\n%s", diff)
		}
		ireq := validImagesRequest()
		iresp, err := b.vision.BatchAnnotateImages(ctx, ireq)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(cannedImages, iresp, protocmp.Transform()); diff != "" {
			t.Errorf("images response (-want +got):\n%s", diff)
		}
		if len(sync.files) != 1 || !proto.Equal(sync.files[0], req) || len(sync.images) != 1 || !proto.Equal(sync.images[0], ireq) {
			t.Errorf("the annotator got %v and %v", sync.files, sync.images)
		}

		bad := validFilesRequest()
		bad.Requests[0].Pages = []int32{0}
		_, err = b.vision.BatchAnnotateFiles(ctx, bad)
		var ae *apierror.APIError
		if !errors.As(err, &ae) || ae.GRPCStatus().Code() != codes.InvalidArgument ||
			ae.Details().BadRequest.GetFieldViolations()[0].GetField() != "requests[0].pages[0]" {
			t.Errorf("page 0: %v, want INVALID_ARGUMENT naming requests[0].pages[0]", err)
		}
		if len(sync.files) != 1 {
			t.Error("an invalid request reached the annotator")
		}

		// Over the 4 KiB request limit of the test servers: the same answer
		// on both transports.
		big := validImagesRequest()
		big.Requests[0].Image.Content = make([]byte, 5000)
		_, err = b.vision.BatchAnnotateImages(ctx, big)
		if !errors.As(err, &ae) || ae.GRPCStatus().Code() != codes.InvalidArgument ||
			ae.GRPCStatus().Message() != "request payload size exceeds the limit: 4096 bytes" {
			t.Errorf("oversized request: %v, want INVALID_ARGUMENT naming the limit", err)
		}
	})
}

// TestSyncCallsUnconfigured: without a SyncAnnotator the calls are
// UNIMPLEMENTED, on both transports.
func TestSyncCallsUnconfigured(t *testing.T) {
	forEachTransport(t, func(t *testing.T, transport string) {
		b := setupClients(t, transport)
		_, err := b.vision.BatchAnnotateFiles(context.Background(), validFilesRequest())
		var ae *apierror.APIError
		if !errors.As(err, &ae) || ae.GRPCStatus().Code() != codes.Unimplemented {
			t.Errorf("files:annotate = %v, want UNIMPLEMENTED", err)
		}
	})
}

// TestSyncCallsV1p4beta1 calls the v1p4beta1 methods over REST (the URL's
// parent merged in) and gRPC (the v1p4beta1 service), as a client of that
// version does.
func TestSyncCallsV1p4beta1(t *testing.T) {
	t.Parallel()
	sync := &fakeSync{}
	b := setup(t)
	b.cfg.Sync = sync

	rec := b.serve(t, http.MethodPost, "/v1p4beta1/projects/p/files:annotate",
		`{"requests":[{"inputConfig":{"gcsSource":{"uri":"gs://bucket/a.pdf"},"mimeType":"application/pdf"},"features":[{"type":"TEXT_DETECTION"}],"pages":[1]}]}`)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"totalPages":7`) {
		t.Fatalf("REST v1p4beta1 files:annotate = %d %s", rec.Code, rec.Body)
	}
	if got := sync.files[0].GetParent(); got != "projects/p" {
		t.Errorf("parent = %q, want the URL's projects/p", got)
	}

	beta := visionv1p4beta1.NewImageAnnotatorClient(b.grpcConn(t))
	iresp, err := beta.BatchAnnotateImages(context.Background(), &visionv1p4beta1.BatchAnnotateImagesRequest{
		Requests: []*visionv1p4beta1.AnnotateImageRequest{{
			Image:    &visionv1p4beta1.Image{Content: []byte("\x89PNG")},
			Features: []*visionv1p4beta1.Feature{{Type: visionv1p4beta1.Feature_TEXT_DETECTION}},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := iresp.GetResponses()[0].GetFullTextAnnotation().GetText(); got != "Hi\n" {
		t.Errorf("gRPC v1p4beta1 images:annotate text %q", got)
	}
	_, err = beta.BatchAnnotateFiles(context.Background(), &visionv1p4beta1.BatchAnnotateFilesRequest{})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("empty v1p4beta1 files:annotate = %v, want INVALID_ARGUMENT", err)
	}
}

func validAsyncImagesRequest() *visionpb.AsyncBatchAnnotateImagesRequest {
	return &visionpb.AsyncBatchAnnotateImagesRequest{
		Requests:     validImagesRequest().Requests,
		OutputConfig: &visionpb.OutputConfig{GcsDestination: &visionpb.GcsDestination{Uri: "gs://bucket/out/"}, BatchSize: 2},
	}
}

func TestValidateAsyncImagesRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(r *visionpb.AsyncBatchAnnotateImagesRequest)
		fields []string
	}{
		{"valid", func(*visionpb.AsyncBatchAnnotateImagesRequest) {}, nil},
		{"no images", func(r *visionpb.AsyncBatchAnnotateImagesRequest) { r.Requests = nil }, []string{"requests"}},
		{"17 images are fine", func(r *visionpb.AsyncBatchAnnotateImagesRequest) {
			for range 16 {
				r.Requests = append(r.Requests, r.Requests[0])
			}
		}, nil},
		{"no output", func(r *visionpb.AsyncBatchAnnotateImagesRequest) { r.OutputConfig = nil },
			[]string{"outputConfig.gcsDestination.uri"}},
		{"batch 101", func(r *visionpb.AsyncBatchAnnotateImagesRequest) { r.OutputConfig.BatchSize = 101 },
			[]string{"outputConfig.batchSize"}},
		{"https image", func(r *visionpb.AsyncBatchAnnotateImagesRequest) {
			r.Requests[0].Image = &visionpb.Image{Source: &visionpb.ImageSource{ImageUri: "https://x/a.png"}}
		}, []string{"requests[0].image.source.imageUri"}},
	}
	for _, tt := range tests {
		req := validAsyncImagesRequest()
		tt.mutate(req)
		checkViolations(t, tt.name, validateAsyncImagesRequest(req, nil), tt.fields)
	}
}

// TestAsyncImagesOverTransports starts an images:asyncBatchAnnotate
// operation with Google's clients; once a worker finishes it, Wait returns
// the AsyncBatchAnnotateImagesResponse echoing the outputConfig.
func TestAsyncImagesOverTransports(t *testing.T) {
	forEachTransport(t, func(t *testing.T, transport string) {
		b := setupClients(t, transport)
		ctx := context.Background()
		req := validAsyncImagesRequest()
		req.Parent = "projects/p"
		op, err := b.vision.AsyncBatchAnnotateImages(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if op.Name() != "projects/p/operations/0000000000000001" {
			t.Errorf("name %q", op.Name())
		}
		stored := b.ops.get("0000000000000001")
		if stored.Images == nil || stored.Request != nil || !proto.Equal(stored.Images, req) {
			t.Fatalf("stored %+v", stored)
		}
		if q := b.queue.enqueued(); len(q) != 1 {
			t.Errorf("enqueued %v", q)
		}
		stored.State, stored.Done = visionpb.OperationMetadata_DONE, true
		b.ops.put(stored)
		resp, err := op.Wait(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(resp.GetOutputConfig(), req.GetOutputConfig()) {
			t.Errorf("response %v", resp)
		}
	})
}
