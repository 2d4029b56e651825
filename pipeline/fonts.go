package pipeline

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
)

// FontSampler is a [Document] whose engine knows the font size of each
// character: PDF documents, in process and isolated.
type FontSampler interface {
	// SampleFonts reads pages (1-based, at most maxFontSamplePages) and
	// returns what their characters tell of the document's fonts. It is a
	// page call as Page is: an error, or ctx ending, may leave the
	// Document unusable.
	SampleFonts(ctx context.Context, pages []int) (*Fonts, error)
}

// SampleFonts samples the fonts of doc on [FontSamplePages]: nil, and no
// error, when doc's engine does not know font sizes (an image file).
func SampleFonts(ctx context.Context, doc Document) (*Fonts, error) {
	fs, ok := doc.(FontSampler)
	pages := FontSamplePages(doc.PageCount())
	if !ok || len(pages) == 0 {
		return nil, nil
	}
	return fs.SampleFonts(ctx, pages)
}

// maxFontSamplePages bounds the pages one SampleFonts call reads.
const maxFontSamplePages = 3

// checkSamplePages checks the number of pages a SampleFonts call is given.
func checkSamplePages(n int) error {
	if n < 1 || n > maxFontSamplePages {
		return fmt.Errorf("pipeline: sample fonts of %d pages, not 1 to %d: %w", n, maxFontSamplePages, ErrInvalidInput)
	}
	return nil
}

// FontSamplePages lists the pages of an n-page document that
// [FontSampler.SampleFonts] is given: a quarter, half and three quarters of
// the way through, each once. They depend on the document alone, so every
// range of a file lays its pages out with the same fonts.
func FontSamplePages(n int) []int {
	if n < 1 {
		return nil
	}
	var out []int
	for k := 1; k <= maxFontSamplePages; k++ {
		p := 1 + (n-1)*k/(maxFontSamplePages+1)
		if len(out) == 0 || out[len(out)-1] != p {
			out = append(out, p)
		}
	}
	return out
}

// Thresholds of a font sample.
const (
	// minSizeShare is the share of the sampled characters a size must be
	// set in to count as one of the document's.
	minSizeShare = 0.01
	// minXHeights is how many x-height letters must be measured for the
	// document's own x-height ratio to count.
	minXHeights = 50
	// maxXHeightsPerPage bounds the letters measured on a page.
	maxXHeightsPerPage = 200
	// xHeightOwn is how far, as a fraction, the measured x-height ratio
	// must be from xHeightRatio to replace it: layout's rules were tuned
	// on estimates with that ratio, and a face close to it (Computer
	// Modern, within 2%) gains nothing.
	xHeightOwn = 0.03
	// minXHeight and maxXHeight bound a plausible x-height ratio (faces
	// range from about 0.35 to 0.6): outside, the glyph boxes do not
	// measure the glyphs' shapes (a Type 3 font's), and layout keeps the
	// assumed ratio.
	minXHeight, maxXHeight = 0.25, 0.75
	// fontBoxOwn is how far, as a fraction, the sampled ascent must be
	// from Computer Modern's to replace its font box: layout's rules were
	// tuned on that box, and a two-column index of an R manual changes its
	// order at the 0.6% between its fonts' 0.694 and fontAscent. A
	// TrueType face's 0.9 is far.
	fontBoxOwn = 0.1
	// styleGap is the gap, as a fraction, between neighbouring sampled
	// x-height ratios that parts two faces; styleApart is how far apart
	// the faces' median ratios must be for Fonts.Styles, and
	// minStyleLetters how many letters each must have.
	styleGap, styleApart, minStyleLetters = 0.03, 0.08, 20
	// minSizeLetters is how many letters of a face must be set in a size
	// for the pair to be a Style.
	minSizeLetters = 5
	// minAscent, maxAscent and maxDescent bound a plausible font box:
	// outside, the font declares nonsense, and layout keeps its own.
	minAscent, maxAscent, maxDescent = 0.5, 1.3, 0.5
)

// fontTally counts what sampled characters show of their fonts.
type fontTally struct {
	sizes map[float64]int // font size, rounded to 0.01 pt → characters
	chars int
	xs    []float64 // x-height letters' heights over their font sizes
	xsize []float64 // and those font sizes, rounded as in sizes
	// ascents and descents are the font boxes of the measured letters,
	// over their font sizes.
	ascents, descents []float64
}

// addFontBox counts the font box of a measured letter of font size size
// (points), ascent and descent points above and below its baseline.
func (t *fontTally) addFontBox(size, ascent, descent float64) {
	if !finite(ascent, descent) || !plausibleSize(size) {
		return
	}
	t.ascents = append(t.ascents, ascent/size)
	t.descents = append(t.descents, descent/size)
}

// plausibleSize reports whether a font size PDFium gives, in points, can
// be counted: finite, positive and not absurd.
func plausibleSize(size float64) bool {
	return finite(size) && size > 0 && size <= 1e4
}

// add counts a character r of font size size (points); h is its tight
// box's height, or a negative number when it was not measured.
func (t *fontTally) add(r rune, size, h float64) {
	if !finite(h) || !plausibleSize(size) {
		return
	}
	if t.sizes == nil {
		t.sizes = make(map[float64]int)
	}
	t.sizes[math.Round(size*100)/100]++
	t.chars++
	if ratio, _ := emRatio(r); ratio == xHeightRatio && h > 0 {
		t.xs = append(t.xs, h/size)
		t.xsize = append(t.xsize, math.Round(size*100)/100)
	}
}

// fonts sums the tally up; nil when no character was counted.
func (t *fontTally) fonts() *Fonts {
	if t.chars == 0 {
		return nil
	}
	f := &Fonts{}
	for s, n := range t.sizes {
		if float64(n) >= minSizeShare*float64(t.chars) {
			f.Sizes = append(f.Sizes, s)
		}
	}
	slices.Sort(f.Sizes)
	if len(t.xs) >= minXHeights {
		f.Styles = t.styles()
		xs := slices.Sorted(slices.Values(t.xs)) // t.xs stays paired with t.xsize
		if x := xs[len(xs)/2]; math.Abs(x/xHeightRatio-1) > xHeightOwn && x >= minXHeight && x <= maxXHeight {
			f.XHeight = x
		}
	}
	if len(t.ascents) >= minXHeights {
		slices.Sort(t.ascents)
		slices.Sort(t.descents)
		a, d := t.ascents[len(t.ascents)/2], t.descents[len(t.descents)/2]
		if math.Abs(a/fontAscent-1) > fontBoxOwn && a >= minAscent && a <= maxAscent && d >= 0 && d <= maxDescent {
			f.Ascent, f.Descent = a, d
		}
	}
	return f
}

// styles parts the measured x-height letters into faces by their x-height
// ratios (sorted, cut where neighbours are more than styleGap apart) and
// returns each face's ratio in each size it is set in; nil unless two
// faces of minStyleLetters letters are styleApart or more. Letters of an
// implausible ratio (outside minXHeight to maxXHeight: boxes that do not
// measure the glyphs) are left out.
func (t *fontTally) styles() []Style {
	type letter struct{ ratio, size float64 }
	ls := make([]letter, 0, len(t.xs))
	for i, x := range t.xs {
		if x >= minXHeight && x <= maxXHeight {
			ls = append(ls, letter{x, t.xsize[i]})
		}
	}
	slices.SortFunc(ls, func(a, b letter) int { return cmp.Compare(a.ratio, b.ratio) })
	var faces [][]letter
	start := 0
	for i := 1; i <= len(ls); i++ {
		if i < len(ls) && ls[i].ratio <= ls[i-1].ratio*(1+styleGap) {
			continue
		}
		if i-start >= minStyleLetters {
			faces = append(faces, ls[start:i])
		}
		start = i
	}
	if len(faces) < 2 {
		return nil
	}
	median := func(f []letter) float64 { return f[len(f)/2].ratio }
	if median(faces[len(faces)-1]) < median(faces[0])*(1+styleApart) {
		return nil
	}
	var out []Style
	for _, f := range faces {
		bySize := map[float64][]float64{}
		for _, l := range f {
			bySize[l.size] = append(bySize[l.size], l.ratio)
		}
		for size, rs := range bySize {
			if len(rs) >= minSizeLetters {
				out = append(out, Style{Size: size, XHeight: rs[len(rs)/2]}) // rs is sorted
			}
		}
	}
	slices.SortFunc(out, func(a, b Style) int {
		return cmp.Or(cmp.Compare(a.Size, b.Size), cmp.Compare(a.XHeight, b.XHeight))
	})
	return out
}

// tallestXHeight is the tallest x-height ratio of the faces in f.Styles,
// or xHeightRatio when f has none: what tells a size change in a line
// from a face's tall x-height. A nil f gives xHeightRatio.
func (f *Fonts) tallestXHeight() float64 {
	r := xHeightRatio
	if f == nil {
		return r
	}
	for _, s := range f.Styles {
		r = max(r, s.XHeight)
	}
	return r
}
