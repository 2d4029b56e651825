package pipeline

import (
	"context"
	"fmt"
	"image"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klippa-app/go-pdfium/requests"
)

// chars returns a text layer of n visible characters.
func chars(n int) []Char {
	cs := make([]Char, n)
	for i := range cs {
		cs[i] = Char{Rune: 'a'}
	}
	return cs
}

func TestRoute(t *testing.T) {
	tests := []struct {
		name   string
		router Router
		page   Page
		want   Route
	}{
		{"born-digital page", Router{}, Page{Chars: chars(2000)}, RouteText},
		{"empty page", Router{}, Page{}, RouteOCR},
		{"whitespace only", Router{}, Page{Chars: []Char{{Rune: ' '}, {Rune: '\n'}}}, RouteOCR},
		{"a page number only", Router{}, Page{Chars: chars(3)}, RouteOCR},
		{"fewer than MinTextChars", Router{MinTextChars: 100}, Page{Chars: chars(99)}, RouteOCR},
		{"image file", Router{Policy: TextLayerAlways}, Page{Image: true}, RouteOCR},
		{"scan with an OCR layer", Router{}, Page{Chars: chars(2000), ImageCover: 1, InvisibleText: 1}, RouteOCR},
		{"scan with an OCR layer, trusted", Router{Policy: TextLayerAlways}, Page{Chars: chars(2000), ImageCover: 1, InvisibleText: 1}, RouteText},
		{"stamp over a scan", Router{}, Page{Chars: chars(40), ImageCover: 0.99}, RouteOCR},
		{"text over a background image", Router{}, Page{Chars: chars(2000), ImageCover: 0.9}, RouteText},
		{"small figure on a text page", Router{}, Page{Chars: chars(2000), ImageCover: 0.3, InvisibleText: 1}, RouteText},
		{"policy never", Router{Policy: TextLayerNever}, Page{Chars: chars(2000)}, RouteOCR},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, why := tt.router.Route(&tt.page)
			if got != tt.want {
				t.Errorf("Route = %v (%s), want %v", got, why, tt.want)
			}
			if why == "" {
				t.Error("no reason given")
			}
		})
	}
}

func TestParseTextLayerPolicy(t *testing.T) {
	for in, want := range map[string]TextLayerPolicy{"auto": TextLayerAuto, "": TextLayerAuto, "Always": TextLayerAlways, " never ": TextLayerNever} {
		got, err := ParseTextLayerPolicy(in)
		if err != nil || got != want {
			t.Errorf("ParseTextLayerPolicy(%q) = %v, %v; want %v", in, got, err, want)
		}
		if want.String() != strings.ToLower(strings.TrimSpace(in)) && in != "" {
			t.Errorf("%v.String() = %q", want, want.String())
		}
	}
	if _, err := ParseTextLayerPolicy("sometimes"); err == nil {
		t.Error("ParseTextLayerPolicy(sometimes) succeeded")
	}
}

// The committed scans go the way their manifest says, and a scanned page's
// raster is its own JPEG while a text page is rendered.
func TestScanFixturesRouteAndRaster(t *testing.T) {
	tests := []struct {
		file   string
		page   int
		route  Route
		raster string // Raster.Kind
	}{
		{"scanned.pdf", 1, RouteOCR, "encoded"},
		{"ocr-layer.pdf", 1, RouteOCR, "encoded"},
		{"ocr-layer-bad.pdf", 1, RouteOCR, "encoded"},
		{"mixed.pdf", 1, RouteText, "pixels"},
		{"mixed.pdf", 2, RouteOCR, "encoded"},
		{"mixed.pdf", 3, RouteText, "pixels"},
		{"embedded.pdf", 1, RouteOCR, "pixels"},  // CCITT G4, decoded by PDFium
		{"embedded.pdf", 2, RouteOCR, "pixels"},  // 1-bit Flate
		{"embedded.pdf", 3, RouteOCR, "encoded"}, // the JPEG inside a form XObject
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%d", tt.file, tt.page), func(t *testing.T) {
			doc := openScan(t, tt.file)
			ctx := context.Background()
			p, err := doc.Page(ctx, tt.page)
			if err != nil {
				t.Fatal(err)
			}
			if got, why := (Router{}).Route(p); got != tt.route {
				t.Errorf("route %v (%s; cover %.2f, invisible %.2f), want %v", got, why, p.ImageCover, p.InvisibleText, tt.route)
			}
			r, err := doc.Raster(ctx, tt.page, RasterOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if r.Kind() != tt.raster {
				t.Errorf("raster %s, want %s", r.Kind(), tt.raster)
			}
			if r.Gray != nil && (r.Gray.Rect.Dx() != 2550 || r.Gray.Rect.Dy() < 3300 || r.Gray.Rect.Dy() > 3301 || math.Abs(r.DPI-DefaultDPI) > 0.5) {
				t.Errorf("pixels %v at %v DPI, want a Letter page at 300", r.Gray.Rect, r.DPI)
			}
			if r.Data != nil && (r.DPI < 290 || r.DPI > 310) {
				t.Errorf("embedded JPEG at %.1f DPI, want the scan's 300", r.DPI)
			}
		})
	}
}

// An image PDFium decodes for OCR (CCITT G4, 1-bit Flate) has the pixels
// of the page as PDFium renders it at the image's resolution: not
// inverted, flipped or shifted.
func TestEmbeddedBitmapMatchesRendering(t *testing.T) {
	doc := openScan(t, "embedded.pdf")
	for _, n := range []int{1, 2} {
		r, err := doc.Raster(context.Background(), n, RasterOptions{})
		if err != nil || r.Gray == nil {
			t.Fatalf("page %d: raster %v, %v", n, r, err)
		}
		rendered, err := renderPage(doc, n, 300)
		if err != nil {
			t.Fatal(err)
		}
		// PDFium rounds the rendered page up to 3301 rows.
		if got, want := r.Gray.Rect, rendered.Rect; got.Dx() != want.Dx() || want.Dy()-got.Dy() > 1 || got.Dy() > want.Dy() {
			t.Fatalf("page %d: extracted %v, rendered %v", n, got, want)
		}
		// Compare 10×10-pixel block means: the rendering is resampled to
		// one more row, which shifts edges by a pixel.
		const blk = 10
		differ, ink, total := 0, 0, 0
		for y := 0; y+blk <= r.Gray.Rect.Dy(); y += blk {
			for x := 0; x+blk <= r.Gray.Rect.Dx(); x += blk {
				var a, b int
				for dy := range blk {
					for dx := range blk {
						a += int(r.Gray.GrayAt(x+dx, y+dy).Y)
						b += int(rendered.GrayAt(x+dx, y+dy).Y)
					}
				}
				a, b = a/(blk*blk), b/(blk*blk)
				if a-b > 32 || b-a > 32 {
					differ++
				}
				if a < 224 {
					ink++
				}
				total++
			}
		}
		if differ > total/100 || ink == 0 || ink > total/2 {
			t.Errorf("page %d: %d of %d blocks differ from the rendering, %d inked", n, differ, total, ink)
		}
	}
}

// renderPage renders page n of doc in gray at dpi, as Raster does for a
// page that is not one image.
func renderPage(doc Document, n, dpi int) (*image.Gray, error) {
	d := doc.(*pdfDoc)
	var g *image.Gray
	err := d.withPage(n, func(ref requests.Page, _ pageTransform) error {
		res, err := d.inst.RenderPageInDPI(&requests.RenderPageInDPI{
			Page: ref, DPI: dpi, ImageFormat: requests.RenderImageFormatGrayscale})
		if err != nil {
			return err
		}
		defer res.Cleanup()
		src := res.Result.RenderedImage.(*image.Gray)
		g, err = grayFromBitmap(src.Pix[src.PixOffset(src.Rect.Min.X, src.Rect.Min.Y):], src.Rect.Dx(), src.Rect.Dy(), src.Stride, 1)
		return err
	})
	return g, err
}

// openScan opens a PDF of testdata/scans, closed when the test ends.
func openScan(tb testing.TB, name string) Document {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join("..", "testdata", "scans", name))
	if err != nil {
		tb.Fatal(err)
	}
	doc, err := openBytes(tb, data)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { doc.Close() })
	return doc
}
