package results

import (
	"strings"
	"testing"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// FuzzParse reads output objects as `folio text` and `folio annotate` do:
// whatever a bucket holds under an output name. An object that parses
// re-encodes to JSON that parses to an equal response; merged with
// itself it keeps each page once, in page order, and its text has one
// page per response.
func FuzzParse(f *testing.F) {
	page := func(n int32, text string) *visionpb.AnnotateImageResponse {
		return &visionpb.AnnotateImageResponse{
			FullTextAnnotation: &visionpb.TextAnnotation{Text: text},
			Context:            &visionpb.ImageAnnotationContext{Uri: "gs://b/in.pdf", PageNumber: n},
		}
	}
	for _, r := range []*visionpb.AnnotateFileResponse{
		{
			InputConfig: &visionpb.InputConfig{GcsSource: &visionpb.GcsSource{Uri: "gs://b/in.pdf"}, MimeType: "application/pdf"},
			Responses:   []*visionpb.AnnotateImageResponse{page(1, "Hello\n"), page(2, "world\f\n")},
			TotalPages:  2,
		},
		{Responses: []*visionpb.AnnotateImageResponse{page(3, ""), page(1, "x")}},
	} {
		b, err := protojson.Marshal(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		// Google's own shape for a failed page (pipeline/annotate.go).
		`{"inputConfig":{"gcsSource":{"uri":"gs://xbucket/zzz/yyy.pdf"},"mimeType":"application/pdf"},"responses":[` +
			`{"error":{"code":4,"message":"Error reading file"},"fullTextAnnotation":{},"context":{"uri":"gs://xbucket/zzz/yyy.pdf","pageNumber":30}}],"totalPages":31}`,
		`{"responses":[{"fullTextAnnotation":{"pages":[{"width":612,"height":792,"blocks":[{"blockType":"TEXT","confidence":0.9}]}],"text":"a"}}],"futureField":[1,2]}`,
		`{"responses":[{"context":{"pageNumber":-1}},{"context":{"pageNumber":2147483647}}]}`,
		`{"responses":[{"context":{"pageNumber":1e3}}]}`,
		`{"totalPages":"7"}`, `{}`, `null`, `[]`, `{"responses":[null]}`, `{"responses":{}}`,
		"{\"responses\":[{\"fullTextAnnotation\":{\"text\":\"\xff\"}}]}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Parse(data)
		if err != nil {
			if r != nil || !strings.HasPrefix(err.Error(), "decode AnnotateFileResponse: ") {
				t.Fatalf("Parse = %v, %v", r, err)
			}
			return
		}
		b, err := protojson.Marshal(r)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		again, err := Parse(b)
		if err != nil || !proto.Equal(r, again) {
			t.Fatalf("%s parses as %v, re-encoded as %s, which parses as %v, %v", data, r, b, again, err)
		}

		m := Merge([]*visionpb.AnnotateFileResponse{r, again})
		seen := map[int32]bool{}
		for i, p := range m.GetResponses() {
			n := p.GetContext().GetPageNumber()
			if seen[n] || i > 0 && m.Responses[i-1].GetContext().GetPageNumber() > n {
				t.Fatalf("merged pages out of order or repeated at %d: page %d", i, n)
			}
			seen[n] = true
		}
		if m.GetTotalPages() != r.GetTotalPages() {
			t.Fatalf("merged totalPages %d, want %d", m.GetTotalPages(), r.GetTotalPages())
		}
		text := Text(m)
		sep := 0
		for _, p := range m.GetResponses() {
			sep -= strings.Count(p.GetFullTextAnnotation().GetText(), PageSeparator)
		}
		if sep += strings.Count(text, PageSeparator); len(m.GetResponses()) > 0 && sep != len(m.GetResponses())-1 {
			t.Fatalf("%d pages joined with %d separators", len(m.GetResponses()), sep)
		}
		failed := FailedPages(m)
		for _, pe := range failed {
			if pe.Code == 0 && pe.Message == "" && !seen[int32(pe.Page)] {
				t.Fatalf("failed page %+v is not a page", pe)
			}
		}
	})
}
