package results

import (
	"os"
	"path/filepath"
	"testing"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/rpc/status"

	"github.com/folio-ocr/folio/internal/cli/resume"
)

// page returns the response of page n with text, or with an error when
// text is "".
func page(n int32, text string) *visionpb.AnnotateImageResponse {
	r := &visionpb.AnnotateImageResponse{Context: &visionpb.ImageAnnotationContext{PageNumber: n}}
	if text == "" {
		r.Error = &status.Status{Code: 4, Message: "page timeout"}
	} else {
		r.FullTextAnnotation = &visionpb.TextAnnotation{Text: text}
	}
	return r
}

func file(total int32, pages ...*visionpb.AnnotateImageResponse) *visionpb.AnnotateFileResponse {
	return &visionpb.AnnotateFileResponse{TotalPages: total, Responses: pages}
}

func TestMergeAndText(t *testing.T) {
	tests := []struct {
		name   string
		parts  []*visionpb.AnnotateFileResponse
		text   string
		failed []resume.PageError
	}{
		{name: "one part", parts: []*visionpb.AnnotateFileResponse{file(2, page(1, "one\n"), page(2, "two\n"))}, text: "one\n\ftwo\n"},
		{name: "parts out of order", parts: []*visionpb.AnnotateFileResponse{
			file(5, page(5, "five\n")), file(5, page(3, "three\n"), page(4, "four\n")), file(5, page(1, "one\n"), page(2, "two\n")),
		}, text: "one\n\ftwo\n\fthree\n\ffour\n\ffive\n"},
		{name: "a page twice", parts: []*visionpb.AnnotateFileResponse{file(2, page(1, "one\n"), page(2, "two\n")), file(2, page(2, "two\n"))}, text: "one\n\ftwo\n"},
		{name: "a failed page keeps its place", parts: []*visionpb.AnnotateFileResponse{file(3, page(1, "one\n"), page(2, ""), page(3, "three\n"))},
			text: "one\n\f\fthree\n", failed: []resume.PageError{{Page: 2, Code: 4, Message: "page timeout"}}},
		{name: "no pages", parts: nil, text: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := Merge(tt.parts)
			if got := Text(m); got != tt.text {
				t.Errorf("text %q, want %q", got, tt.text)
			}
			if diff := cmp.Diff(tt.failed, FailedPages(m)); diff != "" {
				t.Errorf("failed pages (-want +got)\n%s", diff)
			}
		})
	}
}

func TestWriteAndParse(t *testing.T) {
	dir := t.TempDir()
	m := Merge([]*visionpb.AnnotateFileResponse{file(2, page(1, "one\n"), page(2, "two\n"))})
	if err := Write(dir, "sub/doc", m); err != nil {
		t.Fatal(err)
	}
	j, txt := Paths(dir, "sub/doc")
	data, err := os.ReadFile(j)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(data)
	if err != nil || Text(back) != "one\n\ftwo\n" {
		t.Errorf("NAME.json reads back as %q, %v", Text(back), err)
	}
	if b, err := os.ReadFile(txt); err != nil || string(b) != "one\n\ftwo\n" {
		t.Errorf("NAME.txt %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "sub")); err != nil {
		t.Error(err)
	}
}

func TestReport(t *testing.T) {
	got := Report([]Failure{
		{Name: "b", Input: "in/b.pdf", Page: 3, Message: "DEADLINE_EXCEEDED"},
		{Name: "a", Input: "in/a.pdf", Message: "corrupt"},
		{Name: "b", Input: "in/b.pdf", Page: 1, Message: "too big"},
	})
	want := "in/a.pdf: file failed: corrupt\nin/b.pdf: page 1 failed: too big\nin/b.pdf: page 3 failed: DEADLINE_EXCEEDED\n"
	if got != want {
		t.Errorf("report\n%s\nwant\n%s", got, want)
	}
}
