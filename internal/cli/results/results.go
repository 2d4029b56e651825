// Package results turns the output objects of one input file
// (output-A-to-B.json, each an AnnotateFileResponse) into the files a
// `folio annotate` run writes: NAME.json, one AnnotateFileResponse holding
// every page's response in page order, and NAME.txt, the
// fullTextAnnotation.text of every page in page order with a form feed
// (U+000C) between pages, as pdftotext separates them, so page N of the
// text is what follows the (N-1)th form feed. A page that failed has no
// text: its place holds nothing between two form feeds.
package results

import (
	"cmp"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/folio-ocr/folio/internal/cli/resume"
)

// PageSeparator separates the pages of NAME.txt.
const PageSeparator = "\f"

// ReportFile is the name of the failure report in the output directory.
const ReportFile = "folio-report.txt"

// Parse decodes one output object (protojson, as Google writes it),
// ignoring fields it does not know.
func Parse(data []byte) (*visionpb.AnnotateFileResponse, error) {
	r := &visionpb.AnnotateFileResponse{}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(data, r); err != nil {
		return nil, fmt.Errorf("decode AnnotateFileResponse: %w", err)
	}
	return r, nil
}

// Merge returns one AnnotateFileResponse holding the page responses of
// parts in page order (context.pageNumber; a page given twice is kept
// once), with the first part's inputConfig and the largest totalPages.
func Merge(parts []*visionpb.AnnotateFileResponse) *visionpb.AnnotateFileResponse {
	out := &visionpb.AnnotateFileResponse{}
	seen := map[int32]bool{}
	for _, p := range parts {
		if out.InputConfig == nil {
			out.InputConfig = p.GetInputConfig()
		}
		out.TotalPages = max(out.TotalPages, p.GetTotalPages())
		if out.Error == nil {
			out.Error = p.GetError()
		}
		for _, r := range p.GetResponses() {
			n := r.GetContext().GetPageNumber()
			if seen[n] {
				continue
			}
			seen[n] = true
			out.Responses = append(out.Responses, r)
		}
	}
	slices.SortStableFunc(out.Responses, func(a, b *visionpb.AnnotateImageResponse) int {
		return cmp.Compare(a.GetContext().GetPageNumber(), b.GetContext().GetPageNumber())
	})
	return out
}

// Text returns the text of r's pages, in order, separated by
// PageSeparator.
func Text(r *visionpb.AnnotateFileResponse) string {
	pages := make([]string, len(r.GetResponses()))
	for i, p := range r.GetResponses() {
		pages[i] = p.GetFullTextAnnotation().GetText()
	}
	return strings.Join(pages, PageSeparator)
}

// FailedPages returns the pages of r that carry an error.
func FailedPages(r *visionpb.AnnotateFileResponse) []resume.PageError {
	var out []resume.PageError
	for _, p := range r.GetResponses() {
		if e := p.GetError(); e != nil {
			out = append(out, resume.PageError{Page: int(p.GetContext().GetPageNumber()), Code: e.GetCode(), Message: e.GetMessage()})
		}
	}
	return out
}

// Write writes dir/NAME.json and dir/NAME.txt for r, each atomically,
// creating the folders NAME needs.
func Write(dir, name string, r *visionpb.AnnotateFileResponse) error {
	data, err := protojson.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode %s.json: %w", name, err)
	}
	base := filepath.Join(dir, filepath.FromSlash(name))
	if err := resume.WriteFileAtomic(base+".json", data); err != nil {
		return fmt.Errorf("write %s.json: %w", name, err)
	}
	if err := resume.WriteFileAtomic(base+".txt", []byte(Text(r))); err != nil {
		return fmt.Errorf("write %s.txt: %w", name, err)
	}
	return nil
}

// Paths returns the two result files of name under dir.
func Paths(dir, name string) (jsonPath, textPath string) {
	base := filepath.Join(dir, filepath.FromSlash(name))
	return base + ".json", base + ".txt"
}

// Failure is a file, or a page of one, that failed.
type Failure struct {
	Name    string // result name
	Input   string // local path or gs:// URI
	Page    int    // 0 for the whole file
	Message string
}

// String formats f as one line of the report.
func (f Failure) String() string {
	if f.Page == 0 {
		return fmt.Sprintf("%s: file failed: %s", f.Input, f.Message)
	}
	return fmt.Sprintf("%s: page %d failed: %s", f.Input, f.Page, f.Message)
}

// Report returns the text of the failure report: one line per failure,
// sorted by name and page.
func Report(fs []Failure) string {
	fs = slices.Clone(fs)
	slices.SortFunc(fs, func(a, b Failure) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), cmp.Compare(a.Page, b.Page))
	})
	var b strings.Builder
	for _, f := range fs {
		b.WriteString(f.String())
		b.WriteByte('\n')
	}
	return b.String()
}
