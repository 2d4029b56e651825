package pipeline

import (
	"context"
	"fmt"
	"image"
	"strconv"
	"testing"

	"github.com/folio-ocr/folio/internal/pdfgen"
)

// quadrantScan is a one-page scan: a 102×132 gray image covering the page,
// black in its top-left quadrant and white elsewhere, under /Rotate
// rotate.
func quadrantScan(rotate int) []byte {
	const w, h = 102, 132 // 12 dpi on a letter page
	px := make([]byte, w*h)
	for y := range h {
		for x := range w {
			if x >= w/2 || y >= h/2 {
				px[y*w+x] = 255
			}
		}
	}
	return pdfgen.Raw([]string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		fmt.Sprintf("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Rotate %d /Resources << /XObject << /Im0 5 0 R >> >> /Contents 4 0 R >>", rotate),
		"<< /Length 29 >>\nstream\nq 612 0 0 792 0 0 cm /Im0 Do Q\nendstream",
		fmt.Sprintf("<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray /BitsPerComponent 8 /Length %d >>\nstream\n%s\nendstream",
			w, h, len(px), px),
	})
}

// turnGray turns g by quads quarter turns clockwise, as the recognizer
// does with a raster's Turn.
func turnGray(g *image.Gray, quads int) *image.Gray {
	for range quads % 4 {
		w, h := g.Rect.Dx(), g.Rect.Dy()
		t := image.NewGray(image.Rect(0, 0, h, w))
		for y := range h {
			for x := range w {
				t.SetGray(h-1-y, x, g.GrayAt(g.Rect.Min.X+x, g.Rect.Min.Y+y))
			}
		}
		g = t
	}
	return g
}

// A scan stored turned under a /Rotate is extracted as stored, not
// rendered, and its Turn shows it as the page is displayed: /Rotate 90
// (clockwise) puts the stored top-left quadrant at the top right.
func TestTurnedScanRaster(t *testing.T) {
	for _, tc := range []struct {
		rotate int
		black  image.Point // the black quadrant as displayed: 0 left/top, 1 right/bottom
	}{{0, image.Pt(0, 0)}, {90, image.Pt(1, 0)}, {180, image.Pt(1, 1)}, {270, image.Pt(0, 1)}} {
		t.Run(strconv.Itoa(tc.rotate), func(t *testing.T) {
			for name, open := range engines {
				doc, err := open(t, quadrantScan(tc.rotate))
				if err != nil {
					t.Fatal(err)
				}
				r, err := doc.Raster(context.Background(), 1, RasterOptions{})
				doc.Close()
				if err != nil {
					t.Fatal(err)
				}
				if r.Gray == nil || r.Gray.Rect.Dx() != 102 || r.Gray.Rect.Dy() != 132 {
					t.Fatalf("%s: raster %s %v, want the 102×132 image as stored", name, r.Kind(), r.Gray.Bounds())
				}
				if r.Turn != tc.rotate/90 {
					t.Errorf("%s: Turn %d, want %d", name, r.Turn, tc.rotate/90)
				}
				g := turnGray(r.Gray, r.Turn)
				w, h := g.Rect.Dx(), g.Rect.Dy()
				for qy := range 2 {
					for qx := range 2 {
						want := uint8(255)
						if qx == tc.black.X && qy == tc.black.Y {
							want = 0
						}
						if got := g.GrayAt(w/4+qx*w/2, h/4+qy*h/2).Y; got != want {
							t.Errorf("%s: quadrant (%d,%d) as displayed is %d, want %d", name, qx, qy, got, want)
						}
					}
				}
			}
		})
	}
}
