package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"

	"github.com/folio-ocr/folio/internal/textmetric"
	"github.com/folio-ocr/folio/pipeline"
)

// scans holds the committed OCR fixtures and their ground truth
// (testdata/scans/README.md).
const scans = "../testdata/scans"

// scanCase is one fixture of the golden OCR test.
type scanCase struct {
	file    string
	mime    string
	pages   int
	feature visionpb.Feature_Type
	batch   int32
	maxCER  float64 // per page, against <name>.p<N>.txt
	// textLayer lists the pages expected to come from the PDF's text layer
	// (symbol confidence 1); every other page is OCR'd.
	textLayer []int
	// pixels is the page size expected for image files; PDF pages are in
	// points.
	pixels [2]int32
}

// The CER bounds are about twice what Folio measured, which is what the
// tesseract command gets on the same pages (testdata/scans/README.md).
var scanCases = []scanCase{
	{file: "scanned.pdf", mime: "application/pdf", pages: 1, feature: visionpb.Feature_DOCUMENT_TEXT_DETECTION, maxCER: 0.01},
	{file: "rotated.pdf", mime: "application/pdf", pages: 2, feature: visionpb.Feature_DOCUMENT_TEXT_DETECTION, maxCER: 0.015},
	{file: "two-column.pdf", mime: "application/pdf", pages: 1, feature: visionpb.Feature_DOCUMENT_TEXT_DETECTION, maxCER: 0.01},
	{file: "mixed.pdf", mime: "application/pdf", pages: 3, feature: visionpb.Feature_DOCUMENT_TEXT_DETECTION, maxCER: 0.01, textLayer: []int{1, 3}},
	// An invisible OCR layer over a scan is not trusted: the page is OCR'd
	// again, and the garbage of the bad layer does not show.
	{file: "ocr-layer.pdf", mime: "application/pdf", pages: 1, feature: visionpb.Feature_DOCUMENT_TEXT_DETECTION, maxCER: 0.01},
	{file: "ocr-layer-bad.pdf", mime: "application/pdf", pages: 1, feature: visionpb.Feature_DOCUMENT_TEXT_DETECTION, maxCER: 0.01},
	// Scans stored as CCITT G4 and 1-bit Flate images, and a JPEG scan
	// wrapped in a form XObject: read at their own resolution.
	{file: "embedded.pdf", mime: "application/pdf", pages: 3, feature: visionpb.Feature_DOCUMENT_TEXT_DETECTION, maxCER: 0.02},
	{file: "g4.tiff", mime: "image/tiff", pages: 3, feature: visionpb.Feature_TEXT_DETECTION, batch: 2, maxCER: 0.02},
	{file: "jpeg.tiff", mime: "image/tiff", pages: 2, feature: visionpb.Feature_DOCUMENT_TEXT_DETECTION, maxCER: 0.01},
	{file: "animated.gif", mime: "image/gif", pages: 3, feature: visionpb.Feature_DOCUMENT_TEXT_DETECTION, batch: 3, maxCER: 0.04},
}

// Scanned PDFs, multi-page TIFFs and an animated GIF, submitted in one
// operation with Google's client: every page OCR'd (or read from its text
// layer where it has a real one) within its stated CER of the ground truth,
// with a well-formed hierarchy.
func TestScannedFiles(t *testing.T) {
	f := start(t, 2)
	c := f.client()
	ctx := testContext(t, 10*time.Minute)
	var reqs []*visionpb.AsyncAnnotateFileRequest
	for _, sc := range scanCases {
		data, err := os.ReadFile(filepath.Join(scans, sc.file))
		if err != nil {
			t.Fatal(err)
		}
		uri := f.Upload("in/"+sc.file, data)
		r := request(uri, "gs://"+bucket+"/out/"+sc.file+"/", sc.batch)
		r.InputConfig.MimeType = sc.mime
		r.Features = []*visionpb.Feature{{Type: sc.feature}}
		reqs = append(reqs, r)
	}
	op, err := c.AsyncBatchAnnotateFiles(ctx, &visionpb.AsyncBatchAnnotateFilesRequest{Requests: reqs})
	if err != nil {
		t.Fatalf("AsyncBatchAnnotateFiles: %v", err)
	}
	if _, err := wait(ctx, t, op); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	for _, sc := range scanCases {
		t.Run(sc.file, func(t *testing.T) {
			outs := f.Outputs("out/" + sc.file + "/")
			byPage := map[int]*visionpb.AnnotateImageResponse{}
			for _, o := range outs {
				for _, r := range o.GetResponses() {
					byPage[int(r.GetContext().GetPageNumber())] = r
				}
			}
			if len(byPage) != sc.pages {
				t.Fatalf("%d pages in %d outputs, want %d", len(byPage), len(outs), sc.pages)
			}
			for n := 1; n <= sc.pages; n++ {
				checkScanPage(t, sc, n, byPage[n])
			}
		})
	}
}

func checkScanPage(t *testing.T, sc scanCase, n int, r *visionpb.AnnotateImageResponse) {
	t.Helper()
	if r.GetError() != nil {
		t.Errorf("page %d: error %v", n, r.GetError())
		return
	}
	want, err := os.ReadFile(filepath.Join(scans, fmt.Sprintf("%s.p%d.txt", strings.TrimSuffix(sc.file, filepath.Ext(sc.file)), n)))
	if err != nil {
		t.Fatal(err)
	}
	ta := r.GetFullTextAnnotation()
	cer := textmetric.CER(textmetric.Normalize(string(want)), textmetric.Normalize(ta.GetText()))
	t.Logf("page %d: CER %.2f%%", n, 100*cer)
	if cer > sc.maxCER {
		t.Errorf("page %d: CER %.2f%% over %.0f%%; text:\n%s", n, 100*cer, 100*sc.maxCER, ta.GetText())
	}
	if len(ta.GetPages()) != 1 {
		t.Fatalf("page %d: %d pages in fullTextAnnotation", n, len(ta.GetPages()))
	}
	page := ta.GetPages()[0]
	short, long := min(page.GetWidth(), page.GetHeight()), max(page.GetWidth(), page.GetHeight())
	if sc.mime == "application/pdf" {
		if short < 580 || short > 620 || long < 780 || long > 850 {
			t.Errorf("page %d: %d×%d, want the points of a Letter or A4 page", n, page.GetWidth(), page.GetHeight())
		}
	} else if short < 800 {
		t.Errorf("page %d: %d×%d, want pixels", n, page.GetWidth(), page.GetHeight())
	}
	textLayer := false
	for _, p := range sc.textLayer {
		textLayer = textLayer || p == n
	}
	var spelled strings.Builder
	var minConf float32 = 1
	for _, b := range page.GetBlocks() {
		checkPoly(t, n, "block", b.GetBoundingBox(), nil)
		for _, p := range b.GetParagraphs() {
			checkPoly(t, n, "paragraph", p.GetBoundingBox(), b.GetBoundingBox())
			for _, w := range p.GetWords() {
				checkPoly(t, n, "word", w.GetBoundingBox(), p.GetBoundingBox())
				for _, s := range w.GetSymbols() {
					spelled.WriteString(s.GetText())
					spelled.WriteString(pipeline.BreakText(s.GetProperty().GetDetectedBreak().GetType()))
					minConf = min(minConf, s.GetConfidence())
				}
			}
		}
	}
	if spelled.String() != ta.GetText() {
		t.Errorf("page %d: text is not what the symbols and breaks spell", n)
	}
	if textLayer && minConf != 1 {
		t.Errorf("page %d: symbol confidence %.2f, want 1 (text layer)", n, minConf)
	}
	if !textLayer && minConf == 1 {
		t.Errorf("page %d: every symbol has confidence 1: not OCR'd", n)
	}
	if sc.feature == visionpb.Feature_TEXT_DETECTION {
		ann := r.GetTextAnnotations()
		if len(ann) < 2 || ann[0].GetDescription() != ta.GetText() {
			t.Errorf("page %d: textAnnotations missing or first entry is not the whole text", n)
		}
	}
}

// checkPoly checks that p is four normalized vertices within [0,1] and,
// when outer is given, within outer's extent (with a little slack). The
// vertices of rotated text start at the text's top left, wherever that is
// on the page, as in Vision's output.
func checkPoly(t *testing.T, page int, what string, p, outer *visionpb.BoundingPoly) {
	t.Helper()
	vs := p.GetNormalizedVertices()
	if len(vs) != 4 || len(p.GetVertices()) != 0 {
		t.Errorf("page %d: %s box %v is not four normalized vertices", page, what, p)
		return
	}
	const slack = 0.01
	var ol, ot, or, ob float32 = 0, 0, 1, 1
	if o := outer.GetNormalizedVertices(); len(o) == 4 {
		ol, ot, or, ob = 1, 1, 0, 0
		for _, v := range o {
			ol, or = min(ol, v.GetX()), max(or, v.GetX())
			ot, ob = min(ot, v.GetY()), max(ob, v.GetY())
		}
	}
	for _, v := range vs {
		x, y := v.GetX(), v.GetY()
		if x < 0 || x > 1 || y < 0 || y > 1 || x < ol-slack || x > or+slack || y < ot-slack || y > ob+slack {
			t.Errorf("page %d: %s vertex (%.3f, %.3f) outside [%.3f,%.3f]×[%.3f,%.3f]", page, what, x, y, ol, or, ot, ob)
			return
		}
	}
}
