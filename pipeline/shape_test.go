package pipeline

import (
	"bytes"
	"os"
	"testing"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"google.golang.org/protobuf/encoding/protojson"
)

// testdata/google-shape.json is a small file written in exactly the shape of
// the files Google's service writes (see shared/research/google-output-samples):
// one line, fields in field-number order (error before fullTextAnnotation
// before context), enums as names, zero coordinates omitted, float32 numbers
// printed shortest, a failed page with an empty fullTextAnnotation. It must
// parse strictly and Folio's encoder must reproduce it byte for byte.
func TestGoogleShape(t *testing.T) {
	want, err := os.ReadFile("testdata/google-shape.json")
	if err != nil {
		t.Fatal(err)
	}
	resp := &visionpb.AnnotateFileResponse{}
	if err := protojson.Unmarshal(want, resp); err != nil {
		t.Fatalf("strict parse: %v", err)
	}
	got, err := EncodeFileResponse(resp)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("encoded\n%s\nwant\n%s", got, want)
	}
}
