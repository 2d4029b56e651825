package pipeline

import (
	"context"
	"fmt"
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
