package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klippa-app/go-pdfium/requests"

	"github.com/folio-ocr/folio/internal/pdfgen"
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
		{"font without Unicode mapping", Router{}, Page{Chars: chars(2000), Unmapped: 1500}, RouteOCR},
		{"a few symbols of a private-use font", Router{}, Page{Chars: chars(2000), Unmapped: 20}, RouteText},
		{"unmapped font, trusted", Router{Policy: TextLayerAlways}, Page{Chars: chars(2000), Unmapped: 1500}, RouteText},
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

// imagePage is a one-page Letter PDF whose only content is one uncompressed
// image of w×h pixels, every pixel the same: gray, or RGB when rgb is set.
type imagePage struct {
	w, h   int
	gray   byte
	rgb    []byte // 3 bytes: an RGB image of this colour instead
	extra  string // more entries of the image dictionary
	matrix string // the cm before Do; empty: the full page
	form   bool   // draw the image from inside a form XObject
	alpha  bool   // draw the image at 50% opacity
}

func (ip imagePage) pdf() []byte {
	cs, px := "/DeviceGray", bytes.Repeat([]byte{ip.gray}, ip.w*ip.h)
	if ip.rgb != nil {
		cs, px = "/DeviceRGB", bytes.Repeat(ip.rgb, ip.w*ip.h)
	}
	if strings.Contains(ip.extra, "/ImageMask true") {
		cs, px = "", bytes.Repeat([]byte{0}, (ip.w+7)/8*ip.h)
	} else {
		cs = " /ColorSpace " + cs + " /BitsPerComponent 8"
	}
	if strings.Contains(ip.extra, "/Indexed") {
		cs, px = "", bytes.Repeat([]byte{1}, ip.w*ip.h)
	}
	m := ip.matrix
	if m == "" {
		m = "612 0 0 792 0 0"
	}
	draw := fmt.Sprintf("q %s cm /Im0 Do Q", m)
	if ip.alpha {
		draw = "/GS0 gs " + draw
	}
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /XObject << /Im0 5 0 R /Fm0 6 0 R >> /ExtGState << /GS0 7 0 R >> >> /Contents 4 0 R >>",
	}
	content := draw
	if ip.form {
		content = "q /Fm0 Do Q"
	}
	objs = append(objs,
		fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(content)+1, content),
		fmt.Sprintf("<< /Type /XObject /Subtype /Image /Width %d /Height %d%s%s /Length %d >>\nstream\n%s\nendstream",
			ip.w, ip.h, cs, ip.extra, len(px), px),
		fmt.Sprintf("<< /Type /XObject /Subtype /Form /BBox [0 0 612 792] /Resources << /XObject << /Im0 5 0 R >> >> /Length %d >>\nstream\n%s\nendstream",
			len(draw)+1, draw),
		"<< /Type /ExtGState /ca 0.5 >>",
	)
	return pdfgen.Raw(objs)
}

// A page that is one image is OCR'd from the image's own pixels only when
// they are the page as displayed; otherwise it is rendered (here at 50 DPI,
// 425×550, while the images are 10 DPI).
func TestEmbeddedImageEligibility(t *testing.T) {
	tests := []struct {
		name   string
		page   imagePage
		native bool // the image's own pixels, not a rendering
		gray   byte // the pixel value expected
	}{
		{"gray", imagePage{w: 85, h: 110, gray: 200}, true, 200},
		{"gray inside a form", imagePage{w: 85, h: 110, gray: 200, form: true}, true, 200},
		{"inverted by /Decode", imagePage{w: 85, h: 110, gray: 200, extra: " /Decode [1 0]"}, true, 55},
		{"rgb", imagePage{w: 85, h: 110, rgb: []byte{200, 100, 50}}, true, 125},
		{"drawn half transparent", imagePage{w: 85, h: 110, gray: 0, alpha: true}, false, 128},
		{"stencil mask", imagePage{w: 85, h: 110, extra: " /ImageMask true"}, false, 0},
		{"indexed", imagePage{w: 85, h: 110, extra: " /ColorSpace [/Indexed /DeviceGray 1 <00FF>] /BitsPerComponent 8"}, false, 255},
		{"flipped", imagePage{w: 85, h: 110, gray: 200, matrix: "612 0 0 -792 0 792"}, false, 200},
		{"turned", imagePage{w: 110, h: 85, gray: 200, matrix: "0 792 -612 0 612 0"}, false, 200},
		{"non-square pixels", imagePage{w: 85, h: 55, gray: 200}, false, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := openBytes(t, tt.page.pdf())
			if err != nil {
				t.Fatal(err)
			}
			defer doc.Close()
			r, err := doc.Raster(context.Background(), 1, RasterOptions{DPI: 50})
			if err != nil {
				t.Fatal(err)
			}
			if r.Gray == nil {
				t.Fatalf("raster %s, want pixels", r.Kind())
			}
			size := r.Gray.Rect.Size()
			if native := size == image.Pt(tt.page.w, tt.page.h); native != tt.native {
				t.Errorf("raster of %v at %.0f DPI; native %v, want %v", size, r.DPI, native, tt.native)
			}
			if got := r.Gray.GrayAt(size.X/2, size.Y/2).Y; int(got)-int(tt.gray) > 2 || int(tt.gray)-int(got) > 2 {
				t.Errorf("pixel %d, want %d", got, tt.gray)
			}
		})
	}
}

// Text in a font without a Unicode mapping comes out of PDFium as control
// codes: the page is OCR'd, while a page of real text has nothing unmapped.
func TestUnmappedTextLayer(t *testing.T) {
	for _, tt := range []struct {
		name     string
		pdf      []byte
		unmapped bool
		route    Route
	}{
		{"type 3 font without ToUnicode", type3PDF(strings.Repeat("\x01\x02\x03\x04", 10)), true, RouteOCR},
		{"Helvetica", makePDF(genPage{Runs: []textRun{{X: 72, Y: 700, Text: "A page of ordinary text, long enough."}}}), false, RouteText},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := firstPage(t, openBytes, tt.pdf)
			if got := p.Unmapped > 0; got != tt.unmapped || (tt.unmapped && p.Unmapped != len(p.Chars)) {
				t.Errorf("%d of %d characters unmapped", p.Unmapped, len(p.Chars))
			}
			if got, why := (Router{}).Route(p); got != tt.route {
				t.Errorf("route %v (%s), want %v", got, why, tt.route)
			}
		})
	}
}

// walkLimitPDF is a Letter page whose full-page image is drawn from inside
// depth nested form XObjects, after paths filled rectangles.
func walkLimitPDF(depth, paths int) []byte {
	draw := "q 612 0 0 792 0 0 cm /Im0 Do Q"
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"", // the page, below
		"", // its content, below
		"<< /Type /XObject /Subtype /Image /Width 8 /Height 8 /ColorSpace /DeviceGray /BitsPerComponent 8 /Length 64 >>\nstream\n" +
			strings.Repeat("\xc8", 64) + "\nendstream",
	}
	inner, res := draw, "<< /XObject << /Im0 5 0 R >> >>"
	for range depth {
		objs = append(objs, fmt.Sprintf("<< /Type /XObject /Subtype /Form /BBox [0 0 612 792] /Resources %s /Length %d >>\nstream\n%s\nendstream",
			res, len(inner)+1, inner))
		inner, res = "q /Fm0 Do Q", fmt.Sprintf("<< /XObject << /Fm0 %d 0 R >> >>", len(objs))
	}
	content := strings.Repeat("0 0 1 1 re f\n", paths) + inner
	objs[2] = fmt.Sprintf("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources %s /Contents 4 0 R >>", res)
	objs[3] = fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(content)+1, content)
	return pdfgen.Raw(objs)
}

// The object walk finds a scan through up to 8 nested forms
// (maxFormDepth); deeper, or past 20,000 objects (maxScanObjects), it stops
// looking and the page counts as having no scan.
func TestScanWalkLimits(t *testing.T) {
	for _, tt := range []struct {
		name         string
		depth, paths int
		wantCover    bool
	}{
		{"on the page", 0, 0, true},
		{"8 forms deep", 8, 0, true},
		{"9 forms deep", 9, 0, false},
		{"after 100 paths", 0, 100, true},
		{"after the object budget", 0, 20000, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := openBytes(t, walkLimitPDF(tt.depth, tt.paths))
			if err != nil {
				t.Fatal(err)
			}
			defer doc.Close()
			p, err := doc.Page(context.Background(), 1)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.ImageCover > 0.98; got != tt.wantCover {
				t.Errorf("image cover %.2f; scan found %v, want %v", p.ImageCover, got, tt.wantCover)
			}
		})
	}
}

// Text parked off the page (slides hide overlays there) is no text layer:
// the layout drops it as pdftotext does, so the page goes to OCR.
func TestOffPageTextIsNoTextLayer(t *testing.T) {
	var chars []Char
	for i := range 40 {
		x := 4000 + float64(i)*6 // off a 612-point page, to the right
		chars = append(chars, Char{Rune: 'a' + rune(i%26), Box: Rect{Left: x, Bottom: 700, Right: x + 5, Top: 710}})
	}
	p := &Page{Number: 1, Width: 612, Height: 792, Chars: chars}
	if HasTextLayer(p) {
		t.Error("HasTextLayer: true for text off the page")
	}
	if route, why := (Router{}).Route(p); route != RouteOCR {
		t.Errorf("Route = %v (%s), want OCR", route, why)
	}
	// The same characters on the page are a text layer.
	for i := range chars {
		chars[i].Box.Left -= 3900
		chars[i].Box.Right -= 3900
	}
	if route, why := (Router{}).Route(p); route != RouteText || !HasTextLayer(p) {
		t.Errorf("on the page: Route = %v (%s), HasTextLayer %v", route, why, HasTextLayer(p))
	}
}
