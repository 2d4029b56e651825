package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"testing"
)

func FuzzSplitPages(f *testing.F) {
	f.Add(21, 20)
	f.Add(1, 1)
	f.Add(100, 100)
	f.Add(2000, 7)
	f.Fuzz(func(t *testing.T, pageCount, batch int) {
		if pageCount > 1<<20 || batch > 1<<20 {
			t.Skip()
		}
		ranges, err := SplitPages(pageCount, batch)
		if pageCount < 1 || batch < 1 {
			if err == nil {
				t.Fatalf("SplitPages(%d, %d): no error", pageCount, batch)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		next := 1
		for i, r := range ranges {
			if r.First != next || r.Last < r.First || r.Last-r.First+1 > batch {
				t.Fatalf("range %d = %+v after page %d, batch %d", i, r, next-1, batch)
			}
			if i < len(ranges)-1 && r.Last-r.First+1 != batch {
				t.Fatalf("range %d = %+v is short", i, r)
			}
			if got, want := OutputName("gs://b/o/", r), fmt.Sprintf("gs://b/o/output-%d-to-%d.json", r.First, r.Last); got != want {
				t.Fatalf("OutputName = %q, want %q", got, want)
			}
			next = r.Last + 1
		}
		if next != pageCount+1 {
			t.Fatalf("ranges end at %d, want %d", next-1, pageCount)
		}
	})
}

func FuzzOpenPDF(f *testing.F) {
	good := makePDF(genPage{Runs: []textRun{{X: 72, Y: 700, Text: "Hello fuzz"}}}, twoColumnPage())
	f.Add(good)
	for _, n := range []int{9, 100, len(good) / 2, len(good) - 10} {
		f.Add(good[:n])
	}
	f.Add([]byte("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj trailer << /Root 1 0 R >>"))
	// Pages that are one image, drawn directly and from inside a form.
	f.Add(imagePage{w: 17, h: 22, gray: 200}.pdf())
	f.Add(imagePage{w: 17, h: 22, rgb: []byte{1, 2, 3}, form: true}.pdf())
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := openBytes(t, data)
		if err != nil {
			return
		}
		defer doc.Close()
		for n := 1; n <= min(doc.PageCount(), 3); n++ {
			p, err := doc.Page(context.Background(), n)
			if err != nil {
				continue
			}
			ta := BuildTextAnnotation(p)
			if spell(ta) != ta.Text {
				t.Fatalf("page %d: text differs from symbols+breaks", n)
			}
			// The page as an OCR image, small: rendered at 10 DPI, or an
			// image of its own within 1M pixels.
			r, err := doc.Raster(context.Background(), n, RasterOptions{DPI: 10, MaxPixels: 1 << 20})
			if err == nil && r.Gray != nil && len(r.Gray.Pix) > 1<<20 {
				t.Fatalf("page %d: raster of %v over the pixel limit", n, r.Gray.Rect)
			}
		}
	})
}

// FuzzChildWire decodes frames as the worker decodes its PDFium children's
// responses: whatever a confused child sends is an error, never a panic or
// an allocation beyond the frame's size, and what the child encodes
// decodes to itself.
func FuzzChildWire(f *testing.F) {
	page := &Page{Number: 3, Width: 612, Height: 792, ImageCover: 0.25, InvisibleText: 0.5, Unmapped: 1,
		Chars: []Char{{Rune: 'A', Box: Rect{1, 2, 3, 4}, Angle: 0.5}, {Rune: 'é', Box: Rect{5, 6, 7, 8}}}}
	f.Add(appendPage(nil, page))
	f.Add(appendRaster(nil, &Raster{Gray: image.NewGray(image.Rect(0, 0, 3, 2)), DPI: 300}))
	f.Add(appendRaster(nil, &Raster{Data: []byte("\xff\xd8jpeg"), DPI: 200}))
	f.Add(appendError(nil, fmt.Errorf("pipeline: read pdf page 2: damaged page: %w", ErrInvalidInput)))
	f.Add([]byte{respReady})
	f.Add(appendFonts(nil, &Fonts{Sizes: []float64{8.97, 10.91}, XHeight: 0.47, Ascent: 0.905, Descent: 0.212}))
	f.Add(appendFonts(nil, nil))
	f.Add(appendFonts(nil, &Fonts{Sizes: []float64{10, 12}, XHeight: 0.48,
		Styles: []Style{{Size: 10, XHeight: 0.547}, {Size: 12, XHeight: 0.478}}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		if fo, err := decodeFonts(b); err == nil {
			if fo != nil && (len(fo.Sizes)*8 > len(b) || len(fo.Styles)*16 > len(b)) {
				t.Fatalf("%d sizes and %d styles from %d bytes", len(fo.Sizes), len(fo.Styles), len(b))
			}
			if again := appendFonts(nil, fo); !bytes.Equal(again, b) {
				t.Fatalf("fonts do not round-trip: % x from % x", again, b)
			}
		}
		if p, err := decodePage(b); err == nil {
			if len(p.Chars)*charWireSize > len(b) {
				t.Fatalf("%d chars from %d bytes", len(p.Chars), len(b))
			}
			if again, err := decodePage(appendPage(nil, p)); err != nil || !samePage(again, p) {
				t.Fatalf("page does not round-trip: %v", err)
			}
		}
		if r, err := decodeRaster(b); err == nil {
			if r.Gray != nil && len(r.Gray.Pix) != r.Gray.Rect.Dx()*r.Gray.Rect.Dy() {
				t.Fatalf("raster %v with %d pixels", r.Gray.Rect, len(r.Gray.Pix))
			}
			if _, err := decodeRaster(appendRaster(nil, r)); err != nil {
				t.Fatalf("raster does not round-trip: %v", err)
			}
		}
		if err := decodeResponseError(b); err == nil {
			t.Fatal("decodeResponseError: nil")
		}
	})
}

// samePage compares pages bit for bit (NaN included).
func samePage(a, b *Page) bool {
	return bytes.Equal(appendPage(nil, a), appendPage(nil, b))
}
