package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// images:asyncBatchAnnotate through Google's REST and gRPC clients against
// real processes: five images in batches of two give output-1-to-2.json,
// output-3-to-4.json and output-5-to-5.json, each a
// BatchAnnotateImagesResponse with the images' answers in order; a bad
// image gets its error in its own entry; the operation's response echoes
// the outputConfig.
func TestAsyncImages(t *testing.T) {
	f := start(t, 2)
	images := pageImages(t, filepath.Join(scans, "scanned.pdf"))
	truth := readTruth(t, "scanned.p1.txt")
	gsPNG := f.Upload("in/async-page.png", images["png"])
	g4, err := os.ReadFile(filepath.Join(scans, "g4.tiff"))
	if err != nil {
		t.Fatal(err)
	}
	text := []*visionpb.Feature{{Type: visionpb.Feature_TEXT_DETECTION}}
	for _, transport := range []string{"rest", "grpc"} {
		t.Run(transport, func(t *testing.T) {
			c := f.clientOver(transport)
			ctx := testContext(t, 3*time.Minute)
			dest := "gs://" + bucket + "/out/images-" + transport + "/"
			req := &visionpb.AsyncBatchAnnotateImagesRequest{
				Requests: []*visionpb.AnnotateImageRequest{
					{Image: &visionpb.Image{Content: images["jpeg"]}, Features: text},
					{Image: &visionpb.Image{Source: &visionpb.ImageSource{GcsImageUri: gsPNG}}, Features: text},
					{Image: &visionpb.Image{Content: []byte("no image here")}, Features: text},
					{Image: &visionpb.Image{Content: g4}, Features: []*visionpb.Feature{{Type: visionpb.Feature_DOCUMENT_TEXT_DETECTION}}},
					{Image: &visionpb.Image{Source: &visionpb.ImageSource{GcsImageUri: "gs://" + bucket + "/in/missing.png"}}, Features: text},
				},
				OutputConfig: &visionpb.OutputConfig{GcsDestination: &visionpb.GcsDestination{Uri: dest}, BatchSize: 2},
			}
			op, err := c.AsyncBatchAnnotateImages(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := op.Wait(ctx)
			if err != nil {
				t.Fatalf("Wait: %v", err)
			}
			if !proto.Equal(resp.GetOutputConfig(), req.GetOutputConfig()) {
				t.Errorf("response outputConfig %v, want %v", resp.GetOutputConfig(), req.GetOutputConfig())
			}
			outs := imageOutputs(t, f, strings.TrimPrefix(dest, "gs://"+bucket+"/"))
			var got []*visionpb.AnnotateImageResponse
			for _, name := range []string{"output-1-to-2.json", "output-3-to-4.json", "output-5-to-5.json"} {
				if outs[name] == nil {
					t.Fatalf("missing %s (have %d outputs)", name, len(outs))
				}
				got = append(got, outs[name].GetResponses()...)
			}
			if len(outs) != 3 || len(got) != 5 {
				t.Fatalf("%d outputs with %d responses, want 3 with 5", len(outs), len(got))
			}
			for _, i := range []int{0, 1} {
				checkCER(t, "image "+string(rune('1'+i)), truth, got[i].GetFullTextAnnotation().GetText(), 0.02)
				if ta := got[i].GetTextAnnotations(); len(ta) < 2 || got[i].GetContext() != nil {
					t.Errorf("image %d: %d textAnnotations, context %v", i+1, len(ta), got[i].GetContext())
				}
			}
			if e := got[2].GetError(); e.GetCode() != int32(codes.InvalidArgument) || !strings.Contains(e.GetMessage(), "requests[2].image.content") {
				t.Errorf("image 3: error %v, want INVALID_ARGUMENT naming requests[2]", e)
			}
			if got[3].GetError() != nil || !strings.Contains(got[3].GetFullTextAnnotation().GetText(), " ") {
				t.Errorf("image 4 (a TIFF's first page): error %v, text %q", got[3].GetError(), got[3].GetFullTextAnnotation().GetText())
			}
			if e := got[4].GetError(); e.GetCode() != int32(codes.NotFound) || !strings.Contains(e.GetMessage(), "missing.png") {
				t.Errorf("image 5: error %v, want NOT_FOUND naming the object", e)
			}
		})
	}
}

// imageOutputs reads and strictly parses every object under prefix as a
// BatchAnnotateImagesResponse, keyed by the name after the prefix.
func imageOutputs(t *testing.T, f *folio, prefix string) map[string]*visionpb.BatchAnnotateImagesResponse {
	t.Helper()
	got := map[string]*visionpb.BatchAnnotateImagesResponse{}
	for name, data := range f.Objects(prefix) {
		resp := &visionpb.BatchAnnotateImagesResponse{}
		if err := protojson.Unmarshal(data, resp); err != nil {
			t.Fatalf("%s does not parse strictly as BatchAnnotateImagesResponse: %v", name, err)
		}
		got[name] = resp
	}
	return got
}
