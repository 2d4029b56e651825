package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"github.com/googleapis/gax-go/v2/apierror"
	"google.golang.org/grpc/codes"

	"github.com/folio-ocr/folio/internal/pdfgen"
	"github.com/folio-ocr/folio/internal/textmetric"
)

// The synchronous calls, files:annotate and images:annotate, through
// Google's REST and gRPC clients against real processes: born-digital and
// scanned pages, inline and in Cloud Storage, pages chosen from either end,
// images in every format Folio reads, and the errors of each.
func TestSyncCalls(t *testing.T) {
	f := start(t, 1)
	gen := f.Upload("in/sync-gen.pdf", pdfgen.Document(7))
	scanned, err := os.ReadFile(filepath.Join(scans, "scanned.pdf"))
	if err != nil {
		t.Fatal(err)
	}
	truth := readTruth(t, "scanned.p1.txt")
	images := pageImages(t, filepath.Join(scans, "scanned.pdf"))
	gsPNG := f.Upload("in/sync-page.png", images["png"])
	for _, transport := range []string{"rest", "grpc"} {
		t.Run(transport, func(t *testing.T) {
			c := f.clientOver(transport)
			ctx := testContext(t, 3*time.Minute)

			t.Run("files:annotate born-digital pages from both ends", func(t *testing.T) {
				resp, err := c.BatchAnnotateFiles(ctx, &visionpb.BatchAnnotateFilesRequest{Requests: []*visionpb.AnnotateFileRequest{{
					InputConfig: &visionpb.InputConfig{GcsSource: &visionpb.GcsSource{Uri: gen}, MimeType: "application/pdf"},
					Features:    []*visionpb.Feature{{Type: visionpb.Feature_DOCUMENT_TEXT_DETECTION}},
					Pages:       []int32{2, -1},
				}}})
				if err != nil {
					t.Fatal(err)
				}
				fr := resp.GetResponses()[0]
				if fr.GetTotalPages() != 7 || len(fr.GetResponses()) != 2 || fr.GetError() != nil {
					t.Fatalf("response: total %d, %d pages, error %v; want 7, 2, none", fr.GetTotalPages(), len(fr.GetResponses()), fr.GetError())
				}
				for i, want := range []int32{2, 7} {
					r := fr.GetResponses()[i]
					if r.GetContext().GetPageNumber() != want || r.GetContext().GetUri() != gen ||
						!strings.HasPrefix(r.GetFullTextAnnotation().GetText(), fmt.Sprintf("Page %d of 7\n", want)) {
						t.Errorf("page %d: context %v, text %q", want, r.GetContext(), r.GetFullTextAnnotation().GetText())
					}
				}
			})

			t.Run("files:annotate scanned inline", func(t *testing.T) {
				resp, err := c.BatchAnnotateFiles(ctx, &visionpb.BatchAnnotateFilesRequest{Requests: []*visionpb.AnnotateFileRequest{{
					InputConfig: &visionpb.InputConfig{Content: scanned, MimeType: "application/pdf"},
					Features:    []*visionpb.Feature{{Type: visionpb.Feature_DOCUMENT_TEXT_DETECTION}},
				}}})
				if err != nil {
					t.Fatal(err)
				}
				fr := resp.GetResponses()[0]
				if fr.GetTotalPages() != 1 || len(fr.GetResponses()) != 1 {
					t.Fatalf("total %d, %d pages; want 1, 1 (error %v)", fr.GetTotalPages(), len(fr.GetResponses()), fr.GetError())
				}
				if len(fr.GetInputConfig().GetContent()) != 0 {
					t.Error("the inline content is echoed back")
				}
				checkCER(t, "scanned page", truth, fr.GetResponses()[0].GetFullTextAnnotation().GetText(), 0.01)
			})

			t.Run("files:annotate page out of range", func(t *testing.T) {
				resp, err := c.BatchAnnotateFiles(ctx, &visionpb.BatchAnnotateFilesRequest{Requests: []*visionpb.AnnotateFileRequest{{
					InputConfig: &visionpb.InputConfig{GcsSource: &visionpb.GcsSource{Uri: gen}, MimeType: "application/pdf"},
					Features:    []*visionpb.Feature{{Type: visionpb.Feature_DOCUMENT_TEXT_DETECTION}},
					Pages:       []int32{8},
				}}})
				if err != nil {
					t.Fatal(err)
				}
				fe := resp.GetResponses()[0].GetError()
				if fe.GetCode() != int32(codes.InvalidArgument) || !strings.Contains(fe.GetMessage(), "page 8") || !strings.Contains(fe.GetMessage(), gen) {
					t.Errorf("file error %v, want INVALID_ARGUMENT naming page 8 and the file", fe)
				}
			})

			t.Run("files:annotate invalid requests", func(t *testing.T) {
				one := &visionpb.AnnotateFileRequest{
					InputConfig: &visionpb.InputConfig{GcsSource: &visionpb.GcsSource{Uri: gen}, MimeType: "application/pdf"},
					Features:    []*visionpb.Feature{{Type: visionpb.Feature_DOCUMENT_TEXT_DETECTION}},
				}
				sixPages := &visionpb.AnnotateFileRequest{InputConfig: one.InputConfig, Features: one.Features, Pages: []int32{1, 2, 3, 4, 5, 6}}
				for name, req := range map[string]*visionpb.BatchAnnotateFilesRequest{
					"two files": {Requests: []*visionpb.AnnotateFileRequest{one, one}},
					"six pages": {Requests: []*visionpb.AnnotateFileRequest{sixPages}},
				} {
					_, err := c.BatchAnnotateFiles(ctx, req)
					var ae *apierror.APIError
					if !errors.As(err, &ae) || ae.GRPCStatus().Code() != codes.InvalidArgument || len(ae.Details().BadRequest.GetFieldViolations()) == 0 {
						t.Errorf("%s: %v, want INVALID_ARGUMENT with field violations", name, err)
					}
				}
				resp, err := c.BatchAnnotateFiles(ctx, &visionpb.BatchAnnotateFilesRequest{Requests: []*visionpb.AnnotateFileRequest{{
					InputConfig: &visionpb.InputConfig{GcsSource: &visionpb.GcsSource{Uri: "gs://" + bucket + "/in/nope.pdf"}, MimeType: "application/pdf"},
					Features:    one.Features,
				}}})
				if err != nil || resp.GetResponses()[0].GetError().GetCode() != int32(codes.NotFound) {
					t.Errorf("missing object: %v, %v; want a NOT_FOUND file error", resp, err)
				}
			})

			t.Run("images:annotate every format", func(t *testing.T) {
				// One call per format (a 300 DPI page as BMP or TIFF is 8 MB,
				// near the 10 MB request limit), then PNG, JPEG and a gs://
				// PNG in one call.
				calls := map[string][]*visionpb.AnnotateImageRequest{}
				text := []*visionpb.Feature{{Type: visionpb.Feature_TEXT_DETECTION}}
				for _, format := range []string{"bmp", "webp", "gif", "tiff", "pdf"} {
					if data := images[format]; data != nil { // nil: the converter lacks this format
						calls[format] = []*visionpb.AnnotateImageRequest{{Image: &visionpb.Image{Content: data}, Features: text}}
					}
				}
				calls["png, jpeg, gs:// png"] = []*visionpb.AnnotateImageRequest{
					{Image: &visionpb.Image{Content: images["png"]}, Features: text},
					{Image: &visionpb.Image{Content: images["jpeg"]}, Features: text},
					{Image: &visionpb.Image{Source: &visionpb.ImageSource{GcsImageUri: gsPNG}},
						Features: []*visionpb.Feature{{Type: visionpb.Feature_DOCUMENT_TEXT_DETECTION}}},
				}
				for name, reqs := range calls {
					resp, err := c.BatchAnnotateImages(ctx, &visionpb.BatchAnnotateImagesRequest{Requests: reqs})
					if err != nil {
						t.Errorf("%s: %v", name, err)
						continue
					}
					if len(resp.GetResponses()) != len(reqs) {
						t.Fatalf("%s: %d responses for %d images", name, len(resp.GetResponses()), len(reqs))
					}
					for i, r := range resp.GetResponses() {
						what := fmt.Sprintf("%s, image %d", name, i)
						if r.GetError() != nil || r.GetContext() != nil {
							t.Errorf("%s: error %v, context %v", what, r.GetError(), r.GetContext())
							continue
						}
						checkCER(t, what, truth, r.GetFullTextAnnotation().GetText(), 0.02)
						if reqs[i].GetFeatures()[0].GetType() != visionpb.Feature_TEXT_DETECTION {
							continue
						}
						ta := r.GetTextAnnotations()
						if len(ta) < 2 || ta[0].GetDescription() != r.GetFullTextAnnotation().GetText() {
							t.Errorf("%s: textAnnotations must start with the whole text, then words (%d entries)", what, len(ta))
							continue
						}
						// Images get pixel vertices, as Vision answers them.
						if b := ta[1].GetBoundingPoly(); len(b.GetVertices()) != 4 || len(b.GetNormalizedVertices()) != 0 || ta[0].GetLocale() != "en" {
							t.Errorf("%s: first word's box %v, locale %q; want 4 pixel vertices and en", what, b, ta[0].GetLocale())
						}
					}
				}
			})

			t.Run("images:annotate errors per image", func(t *testing.T) {
				resp, err := c.BatchAnnotateImages(ctx, &visionpb.BatchAnnotateImagesRequest{Requests: []*visionpb.AnnotateImageRequest{
					{Image: &visionpb.Image{Content: []byte("not an image at all")}, Features: []*visionpb.Feature{{Type: visionpb.Feature_TEXT_DETECTION}}},
					{Image: &visionpb.Image{Content: images["png"]}, Features: []*visionpb.Feature{{Type: visionpb.Feature_LABEL_DETECTION}}},
					{Image: &visionpb.Image{Source: &visionpb.ImageSource{ImageUri: "gs://" + bucket + "/in/nope.png"}}, Features: []*visionpb.Feature{{Type: visionpb.Feature_TEXT_DETECTION}}},
				}})
				if err != nil {
					t.Fatal(err)
				}
				want := []struct {
					code codes.Code
					says string
				}{{codes.InvalidArgument, "requests[0].image.content"}, {codes.Unimplemented, "LABEL_DETECTION"}, {codes.NotFound, "nope.png"}}
				for i, w := range want {
					e := resp.GetResponses()[i].GetError()
					if e.GetCode() != int32(w.code) || !strings.Contains(e.GetMessage(), w.says) {
						t.Errorf("image %d: error %v, want %v naming %s", i, e, w.code, w.says)
					}
				}
				_, err = c.BatchAnnotateImages(ctx, &visionpb.BatchAnnotateImagesRequest{Requests: []*visionpb.AnnotateImageRequest{
					{Image: &visionpb.Image{Source: &visionpb.ImageSource{ImageUri: "https://example.com/a.png"}}, Features: []*visionpb.Feature{{Type: visionpb.Feature_TEXT_DETECTION}}},
				}})
				var ae *apierror.APIError
				if !errors.As(err, &ae) || ae.GRPCStatus().Code() != codes.InvalidArgument {
					t.Errorf("https image: %v, want INVALID_ARGUMENT", err)
				}
			})
		})
	}
}

// readTruth reads a ground-truth text of testdata/scans.
func readTruth(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(scans, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// checkCER fails t when got's character error rate against want exceeds max.
func checkCER(t *testing.T, what, want, got string, max float64) {
	t.Helper()
	cer := textmetric.CER(textmetric.Normalize(want), textmetric.Normalize(got))
	if cer > max {
		t.Errorf("%s: CER %.2f%%, over %.2f%%; text %q", what, 100*cer, 100*max, got)
	}
}

// pageImages renders the first page of the PDF at path with pdftoppm (300
// DPI, gray PNG) and converts it with ImageMagick into the other formats
// images:annotate reads (at 200 DPI); a format the converter lacks is left out. "pdf" is
// the file itself.
func pageImages(t *testing.T, path string) map[string][]byte {
	t.Helper()
	dir := t.TempDir()
	run := func(name string, args ...string) error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s %v: %v: %s", name, args, err, out)
		}
		return nil
	}
	png := filepath.Join(dir, "page.png")
	if err := run("pdftoppm", "-r", "300", "-gray", "-png", "-singlefile", "-f", "1", path, strings.TrimSuffix(png, ".png")); err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	read := func(format, p string) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[format] = b
	}
	read("png", png)
	read("pdf", path)
	// 200 DPI, 8 bits a pixel, so that every format fits in one request;
	// BMP as an uncompressed palette image, the kind most readers take.
	for format, args := range map[string][]string{
		"jpeg": {"-type", "Grayscale"},
		"bmp":  {"-type", "Palette", "-colors", "256", "-compress", "None"},
		"webp": {"-type", "Grayscale"},
		"gif":  {"-type", "Grayscale"},
		"tiff": {"-type", "Grayscale", "-compress", "LZW"},
	} {
		p := filepath.Join(dir, "page."+format)
		out := p
		if format == "bmp" {
			out = "BMP3:" + p
		}
		if err := run("convert", append(append([]string{png, "-resize", "66.7%"}, args...), out)...); err != nil {
			t.Logf("no %s: %v", format, err)
			continue
		}
		read(format, p)
	}
	return out
}
