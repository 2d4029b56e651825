package e2e

import (
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"

	"github.com/folio-ocr/folio/internal/textmetric"
	"github.com/folio-ocr/folio/internal/tiffgen"
)

// A TIFF of three pages, as scanners and fax servers leave them: a plain
// page, a page in a codec libtiff lacks (JPEG 2000) and a page stored a
// quarter turn counter-clockwise with orientation 6 (a viewer shows it
// upright). Each page gets its own entry through the worker: the first
// page's text, an INVALID_ARGUMENT error on the second that names the page
// and its codec, and the third page's text read upright, its size and
// boxes in the frame a viewer shows.
func TestTIFFVariants(t *testing.T) {
	lines := []string{"The quick brown fox jumps", "over the lazy dog 1234."}
	img, err := tiffgen.Text(40, lines...)
	if err != nil {
		t.Fatal(err)
	}
	good := tiffgen.Gray(img)
	file := tiffgen.Encode(good,
		good.Set(tiffgen.TagCompression, tiffgen.Short, 34712),
		tiffgen.Gray(tiffgen.Orient(img, 6)).Set(tiffgen.TagOrientation, tiffgen.Short, 6))

	f := start(t, 1)
	c := f.client()
	ctx := testContext(t, 3*time.Minute)
	uri := f.Upload("in/variants.tif", file)
	r := request(uri, "gs://"+bucket+"/out/variants/", 3)
	r.InputConfig.MimeType = "image/tiff"
	op, err := c.AsyncBatchAnnotateFiles(ctx, &visionpb.AsyncBatchAnnotateFilesRequest{
		Requests: []*visionpb.AsyncAnnotateFileRequest{r},
	})
	if err != nil {
		t.Fatalf("AsyncBatchAnnotateFiles: %v", err)
	}
	if _, err := wait(ctx, t, op); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	byPage := map[int32]*visionpb.AnnotateImageResponse{}
	for _, o := range f.Outputs("out/variants/") {
		for _, r := range o.GetResponses() {
			byPage[r.GetContext().GetPageNumber()] = r
		}
	}
	if len(byPage) != 3 {
		t.Fatalf("%d pages in the outputs, want 3", len(byPage))
	}

	const wantErr = "TIFF page 2: compression JPEG 2000 (34712) is not supported"
	if e := byPage[2].GetError(); e.GetCode() != 3 || !strings.Contains(e.GetMessage(), wantErr) ||
		byPage[2].GetFullTextAnnotation().GetText() != "" {
		t.Errorf("page 2: error %v, text %q; want code 3 with %q and no text", e, byPage[2].GetFullTextAnnotation().GetText(), wantErr)
	}
	want := textmetric.Normalize(strings.Join(lines, "\n"))
	for _, n := range []int32{1, 3} {
		resp := byPage[n]
		if resp.GetError() != nil {
			t.Errorf("page %d: error %v", n, resp.GetError())
			continue
		}
		ta := resp.GetFullTextAnnotation()
		if cer := textmetric.CER(want, textmetric.Normalize(ta.GetText())); cer > 0.04 {
			t.Errorf("page %d: CER %.1f%%, text %q", n, 100*cer, ta.GetText())
		}
		if len(ta.GetPages()) != 1 {
			t.Fatalf("page %d: %d pages in fullTextAnnotation", n, len(ta.GetPages()))
		}
		p := ta.GetPages()[0]
		if int(p.GetWidth()) != img.Rect.Dx() || int(p.GetHeight()) != img.Rect.Dy() {
			t.Errorf("page %d: %d×%d, want the upright page's %d×%d", n, p.GetWidth(), p.GetHeight(), img.Rect.Dx(), img.Rect.Dy())
		}
		// The first word, "The", starts the first line: top left.
		words := p.GetBlocks()[0].GetParagraphs()[0].GetWords()
		var first strings.Builder
		for _, s := range words[0].GetSymbols() {
			first.WriteString(s.GetText())
		}
		v := words[0].GetBoundingBox().GetNormalizedVertices()
		if first.String() != "The" || len(v) != 4 || v[0].GetX() > 0.2 || v[0].GetY() > 0.5 || v[2].GetY() > 0.5 {
			t.Errorf("page %d: first word %q at %v, want \"The\" in the top left", n, first.String(), v)
		}
	}
}
