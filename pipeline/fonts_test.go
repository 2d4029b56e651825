package pipeline

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/klippa-app/go-pdfium/references"
	"github.com/klippa-app/go-pdfium/requests"
)

func TestFontSamplePages(t *testing.T) {
	for _, c := range []struct {
		n    int
		want []int
	}{
		{0, nil}, {1, []int{1}}, {2, []int{1}}, {3, []int{1, 2}}, {4, []int{1, 2, 3}}, {100, []int{25, 50, 75}},
	} {
		if got := FontSamplePages(c.n); !slices.Equal(got, c.want) {
			t.Errorf("FontSamplePages(%d) = %v, want %v", c.n, got, c.want)
		}
	}
}

func TestFontsSnap(t *testing.T) {
	body := &Fonts{Sizes: []float64{10, 10.91, 14.35}}
	for _, c := range []struct {
		name string
		f    *Fonts
		em   float64
		want float64
	}{
		{"no fonts", nil, 10.4, 10.4},
		{"nearest size", body, 10.6, 10.91},
		{"within 7%", body, 10.2, 10},
		{"too far from any", body, 12.4, 12.4},
		{"above the largest", body, 15.8, 15.8},
		{"own x-height, then snapped", &Fonts{Sizes: []float64{10}, XHeight: 0.5}, 11.2, 10},
		{"own x-height, nothing near", &Fonts{XHeight: 0.5}, 12, 10.8},
	} {
		if got := c.f.snap(c.em, false); abs(got-c.want) > 1e-9 {
			t.Errorf("%s: snap(%g) = %g, want %g", c.name, c.em, got, c.want)
		}
	}
}

func abs(x float64) float64 { return max(x, -x) }

// LibreOffice's defaults: a roman body (x-height 0.478) at 12 pt, code in a
// typewriter face (0.547) at 10 pt, and both at 14 pt.
var officeFonts = &Fonts{Sizes: []float64{10, 12, 14}, XHeight: 0.48, Styles: []Style{
	{Size: 10, XHeight: 0.547}, {Size: 12, XHeight: 0.478}, {Size: 12, XHeight: 0.547}, {Size: 14, XHeight: 0.478},
}}

func TestFontsStyle(t *testing.T) {
	for _, c := range []struct {
		name string
		x    float64 // measured x-height, points
		want float64 // 0: no style
	}{
		{"10 pt typewriter", 5.47, 10},
		{"10 pt typewriter, its flat letters", 5.37, 10},
		{"12 pt roman", 5.74, 12},
		{"12 pt typewriter, 2% from 14 pt roman", 6.56, 0},
		{"14 pt roman, 2% from 12 pt typewriter", 6.69, 0},
		{"12 pt typewriter, nearer it", 6.50, 12},
		{"nothing near", 4.2, 0},
	} {
		got, ok := officeFonts.style(c.x)
		if !ok {
			got = 0
		}
		if got != c.want {
			t.Errorf("%s: style(%g) = %g, %v; want %g", c.name, c.x, got, ok, c.want)
		}
	}
	// snap takes the style only for sizes measured on x-height letters.
	if got := officeFonts.snap(5.47/xHeightRatio, true); got != 10 {
		t.Errorf("snap of a 10 pt typewriter x-height = %g, want 10", got)
	}
	if got := officeFonts.snap(5.47/xHeightRatio, false); got != 12 {
		t.Errorf("snap of the same size measured otherwise = %g, want 12 (the document's ratio)", got)
	}
	if got := (&Fonts{Sizes: []float64{10}}).tallestXHeight(); got != xHeightRatio {
		t.Errorf("tallestXHeight without styles = %g, want %g", got, xHeightRatio)
	}
	if got := officeFonts.tallestXHeight(); got != 0.547 {
		t.Errorf("tallestXHeight = %g, want 0.547", got)
	}
}

func TestFontTally(t *testing.T) {
	var empty fontTally
	if f := empty.fonts(); f != nil {
		t.Errorf("no characters gave %+v, want nil", f)
	}
	// 200 characters at 10 pt, one at 7 pt (under 1%), x-height letters
	// 0.52 of their size (a Helvetica-like face).
	var sans fontTally
	for i := 0; i < 100; i++ {
		sans.add('x', 10, 5.2)
		sans.add('T', 10, -1)
	}
	sans.add('a', 7, 3.64)
	sans.add('b', 0, 3)   // no size: not counted
	sans.add('c', 1e9, 3) // absurd size: not counted
	f := sans.fonts()
	if !slices.Equal(f.Sizes, []float64{10}) || abs(f.XHeight-0.52) > 1e-9 {
		t.Errorf("sans: %+v, want sizes [10] and x-height 0.52", f)
	}
	// Computer Modern's x-height (0.44) is within 3% of the assumed 0.45:
	// layout keeps its own.
	var cm fontTally
	for i := 0; i < 60; i++ {
		cm.add('e', 10.91, 0.44*10.91)
	}
	if f := cm.fonts(); f.XHeight != 0 {
		t.Errorf("Computer Modern: XHeight %g, want 0", f.XHeight)
	}
	// Boxes that do not measure the glyphs (all 0.1 of the size high).
	var flat fontTally
	for i := 0; i < 60; i++ {
		flat.add('e', 12, 1.2)
	}
	if f := flat.fonts(); f.XHeight != 0 {
		t.Errorf("boxes 0.1 of the size: XHeight %g, want 0", f.XHeight)
	}
	// Font boxes: a TrueType face's (0.905 em above the baseline, 0.212
	// below) is its own; Computer Modern's (0.694, within 10% of the
	// assumed 0.69) and a nonsense one are not; nor are too few.
	boxes := []struct {
		name            string
		n               int
		ascent, descent float64
		wantA, wantD    float64
	}{
		{"TrueType", minXHeights, 0.905, 0.212, 0.905, 0.212},
		{"Computer Modern", minXHeights, 0.694, 0.194, 0, 0},
		{"ascent of 3 em", minXHeights, 3, 0.2, 0, 0},
		{"descent of 0.8 em", minXHeights, 0.9, 0.8, 0, 0},
		{"too few", minXHeights - 1, 0.905, 0.212, 0, 0},
	}
	for _, tc := range boxes {
		var bt fontTally
		for i := 0; i < tc.n; i++ {
			bt.add('e', 12, 0.5*12)
			bt.addFontBox(12, tc.ascent*12, tc.descent*12)
		}
		if f := bt.fonts(); abs(f.Ascent-tc.wantA) > 1e-9 || abs(f.Descent-tc.wantD) > 1e-9 {
			t.Errorf("%s: font box %g, %g; want %g, %g", tc.name, f.Ascent, f.Descent, tc.wantA, tc.wantD)
		}
	}
	// Styles: two faces of different x-heights, each in the sizes it is
	// set in with at least minSizeLetters letters.
	var office fontTally
	for i := 0; i < 100; i++ {
		office.add('e', 12, []float64{0.470, 0.478, 0.485}[i%3]*12)
	}
	for i := 0; i < 30; i++ {
		office.add('a', 10, []float64{0.537, 0.547}[i%2]*10)
		office.add('n', 12, 0.547*12)
	}
	for i := 0; i < minSizeLetters-1; i++ {
		office.add('o', 9, 0.547*9)
	}
	want := []Style{{Size: 10, XHeight: 0.547}, {Size: 12, XHeight: 0.478}, {Size: 12, XHeight: 0.547}}
	if f := office.fonts(); !slices.Equal(f.Styles, want) {
		t.Errorf("two faces: styles %+v, want %+v", f.Styles, want)
	}
	// No styles where the faces are close (a roman and its italic), where
	// the second face has too few letters, or with one face.
	for _, c := range []struct {
		name   string
		second float64
		n      int
	}{
		{"close faces", 0.50, 40},
		{"too few letters", 0.547, minStyleLetters - 1},
		{"one face", 0.478, 40},
		{"a second face of boxes that do not measure it", 0.9, 40},
	} {
		var tl fontTally
		for i := 0; i < 100; i++ {
			tl.add('e', 12, 0.478*12)
		}
		for i := 0; i < c.n; i++ {
			tl.add('a', 10, c.second*10)
		}
		if f := tl.fonts(); f.Styles != nil {
			t.Errorf("%s: styles %+v, want none", c.name, f.Styles)
		}
	}
	// Too few x-height letters to tell.
	var few fontTally
	for i := 0; i < minXHeights-1; i++ {
		few.add('e', 12, 6.5)
	}
	if f := few.fonts(); f.XHeight != 0 {
		t.Errorf("%d letters: XHeight %g, want 0", minXHeights-1, f.XHeight)
	}
}

// fontsPDF is a four-page document of Helvetica text at 10 and 14 points.
func fontsPDF() []byte {
	var pages []genPage
	for i := 0; i < 4; i++ {
		var runs []textRun
		runs = append(runs, textRun{X: 72, Y: 720, Size: 14, Text: "A heading in a larger size"})
		for l := 0; l < 20; l++ {
			runs = append(runs, textRun{X: 72, Y: 690 - 12*float64(l), Size: 10, Text: "some running text across the measure of this page"})
		}
		pages = append(pages, genPage{Runs: runs})
	}
	return makePDF(pages...)
}

// twoFacesPDF is a four-page document of Times-Roman prose at 12 points
// with notes in Helvetica, whose x-height is 17% taller, at 10 points.
func twoFacesPDF() []byte {
	var pages []genPage
	for i := 0; i < 4; i++ {
		var runs []textRun
		for l := 0; l < 20; l++ {
			runs = append(runs, textRun{X: 72, Y: 700 - 28*float64(l), Size: 12, Font: "Times-Roman",
				Text: "some running text across the measure of this page"})
			runs = append(runs, textRun{X: 72, Y: 686 - 28*float64(l), Size: 10, Text: "a note in a sans serif face"})
		}
		pages = append(pages, genPage{Runs: runs})
	}
	return makePDF(pages...)
}

// TestSampleFontStyles: a document of two faces of different x-heights
// has a Style for each face in its size, through either engine.
func TestSampleFontStyles(t *testing.T) {
	for name, open := range engines {
		t.Run(name, func(t *testing.T) {
			doc, err := open(t, twoFacesPDF())
			if err != nil {
				t.Fatal(err)
			}
			defer doc.Close()
			f, err := SampleFonts(context.Background(), doc)
			if err != nil {
				t.Fatal(err)
			}
			if len(f.Styles) != 2 || f.Styles[0].Size != 10 || f.Styles[1].Size != 12 ||
				f.Styles[0].XHeight < 1.1*f.Styles[1].XHeight {
				t.Errorf("styles %+v, want Helvetica's at 10 pt, some 15%% taller than Times' at 12 pt", f.Styles)
			}
		})
	}
}

// TestSampleFonts: PDF documents, in process and isolated, report the font
// sizes their sampled pages are set in and Helvetica's x-height, which is
// far enough from the assumed 0.45 to count, and no font box for a font
// that is not embedded; bad requests name the page.
func TestSampleFonts(t *testing.T) {
	for name, open := range engines {
		t.Run(name, func(t *testing.T) {
			doc, err := open(t, fontsPDF())
			if err != nil {
				t.Fatal(err)
			}
			defer doc.Close()
			fs := doc.(FontSampler)
			f, err := fs.SampleFonts(context.Background(), FontSamplePages(doc.PageCount()))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(f.Sizes, []float64{10, 14}) {
				t.Errorf("sizes %v, want [10 14]", f.Sizes)
			}
			if f.XHeight < 0.49 || f.XHeight > 0.56 {
				t.Errorf("x-height %g, want Helvetica's, about 0.52", f.XHeight)
			}
			// Helvetica is not embedded: PDFium's box would be its
			// substitute's, so the document has no font box of its own.
			if f.Ascent != 0 || f.Descent != 0 {
				t.Errorf("font box %g, %g of a font not embedded, want none", f.Ascent, f.Descent)
			}
			if _, err := fs.SampleFonts(context.Background(), []int{1, 2, 3, 4}); !errors.Is(err, ErrInvalidInput) {
				t.Errorf("four pages: %v, want ErrInvalidInput", err)
			}
			_, err = fs.SampleFonts(context.Background(), []int{9})
			if err == nil || !strings.Contains(err.Error(), "page 9") {
				t.Errorf("page 9 of 4: %v, want an error naming page 9", err)
			}
			// The document still reads pages after a bad request.
			p, err := doc.Page(context.Background(), 2)
			if err != nil || len(p.Chars) == 0 {
				t.Errorf("page 2 after bad samples: %v, %d characters", err, len(p.Chars))
			}
		})
	}
}

// TestFontsDecideBlocks: two lines of 10-point text in a face whose
// x-height is 0.47 of its size (a Times-like face), 9.85 points apart, a
// distance between the limits (about 0.97 em) that 10 and 10.4 points give.
// Estimated with the assumed 0.45 they look 10.4 points tall, and the
// second line joins the first's block. With the document's fonts they are
// 10 points, as pdftotext, which reads the size from the font, sees them:
// the second line is too far, another block.
func TestFontsDecideBlocks(t *testing.T) {
	line := func(y float64, text string) []Char {
		var cs []Char
		x := 72.0
		for _, r := range text {
			cs = append(cs, Char{Rune: r, Box: Rect{Left: x, Bottom: y, Right: x + 4.5, Top: y + 4.7}})
			x += 5
		}
		return cs
	}
	chars := append(line(700, "sum"), line(690.15, "ace")...)
	for _, c := range []struct {
		fonts  *Fonts
		blocks int
	}{
		{nil, 1},
		{&Fonts{Sizes: []float64{10}, XHeight: 0.47}, 2},
	} {
		p := &Page{Number: 1, Width: 612, Height: 792, Chars: chars, Fonts: c.fonts}
		if got := len(BuildTextAnnotation(p).GetPages()[0].GetBlocks()); got != c.blocks {
			t.Errorf("fonts %+v: %d blocks, want %d", c.fonts, got, c.blocks)
		}
	}
}

// TestFontBoxOfEmbeddedFont: the font box of a letter in an embedded font
// is the ascent and descent the font declares, in points: R-intro's
// Computer Modern declares 0.694 em above the baseline and 0.194 below.
func TestFontBoxOfEmbeddedFont(t *testing.T) {
	d := openRIntroWith(t, testPDF(t)).(*pdfDoc)
	measured := false
	err := d.call(context.Background(), 11, "measure", func() error {
		return d.withPage(11, func(ref requests.Page, _ pageTransform) error {
			return d.withTextPage(ref, func(tp references.FPDF_TEXTPAGE) error {
				for i := 0; i < 200 && !measured; i++ {
					u, err := d.inst.FPDFText_GetUnicode(&requests.FPDFText_GetUnicode{TextPage: tp, Index: i})
					if err != nil || u.Unicode != 'e' {
						continue
					}
					s, err := d.inst.FPDFText_GetFontSize(&requests.FPDFText_GetFontSize{TextPage: tp, Index: i})
					if err != nil {
						return err
					}
					a, de, ok, err := d.fontBox(tp, i)
					if err != nil {
						return err
					}
					if !ok || abs(a/s.FontSize-0.694) > 0.01 || abs(de/s.FontSize-0.194) > 0.01 {
						t.Errorf("font box of 'e' at %g pt: %g, %g (ok %v); want 0.694 and 0.194 em", s.FontSize, a, de, ok)
					}
					measured = true
				}
				return nil
			})
		})
	})
	if err != nil || !measured {
		t.Fatalf("no 'e' measured on page 11: %v", err)
	}
}

func TestDecodeFontsRefusesBadStyles(t *testing.T) {
	for _, s := range []Style{{Size: math.NaN(), XHeight: 0.5}, {Size: 10, XHeight: math.Inf(1)}, {Size: 0, XHeight: 0.5}, {Size: 10, XHeight: -0.5}} {
		b := appendFonts(nil, &Fonts{Sizes: []float64{10}, Styles: []Style{{Size: 10, XHeight: 0.48}, s}})
		if f, err := decodeFonts(b); err == nil {
			t.Errorf("style %+v decoded as %+v, want an error", s, f)
		}
	}
	good := &Fonts{Sizes: []float64{10}, Styles: []Style{{Size: 10, XHeight: 0.48}, {Size: 10, XHeight: 0.55}}}
	if f, err := decodeFonts(appendFonts(nil, good)); err != nil || !slices.Equal(f.Styles, good.Styles) {
		t.Errorf("good styles: %+v, %v", f, err)
	}
}
