package pipeline

import (
	"math"
	"slices"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
)

// Layout of a text layer into Vision's hierarchy.
//
// Characters are grouped by direction (the glyph angle rounded to a quarter
// turn) and each group is laid out in its own reading frame, a coordinate
// system in which its text runs left to right with y up; boxes are mapped
// back to the page at the end, so vertices come out top-left, top-right,
// bottom-right, bottom-left in reading orientation, as Vision's do. Blocks
// of all frames are ordered together on their page boxes (step 4), so that
// a rotated label reads where it stands, as in pdftotext.
//
// In a frame the layout follows pdftotext (poppler's TextOutputDev), whose
// text the output is measured against:
//  1. Runs: consecutive characters in content-stream order that move right
//     on the same line form a run; runs are cut at spaces into pieces, each
//     with a font size and baseline estimated from its glyphs' heights
//     (tight boxes carry no font size): from the x-height letters when
//     there are any, as capitals and digits differ more between faces. A
//     piece of capitals or digits only takes the size of a piece measured
//     on x-height letters on its baseline, when close; a piece with no
//     letter or digit (dots, an underscore, an accent) takes the size and
//     baseline of its neighbour on the line. Pieces left with a rough or
//     guessed size take the page's body size when close to it. Characters
//     wholly off the page are dropped, as pdftotext drops them.
//  2. Blocks grow from the top-left piece: pieces on the lines just above
//     and below that overlap the block and have the same size (within 6%,
//     or 20% when either size rests on capitals or digits), pieces on
//     the block's lines that overlap or nearly touch it, and up to three
//     outlying pieces beside it.
//  3. Lines: inside a block, a line takes the next piece to its right while
//     the gap is under 1.5 em; a farther piece on the same baseline starts a
//     line of its own, so tables and code with comments read row by row.
//     Lines are ordered by baseline, then x; baselines within 0.1 em count
//     as one (a table row set in two faces).
//  4. Reading order of blocks: blocks aligned in a grid are a table, read
//     row by row; the others are sorted topologically by Breuel's rules (a
//     block comes before one below that it overlaps horizontally, and before
//     one entirely to its right unless a block between them vertically
//     overlaps both), on boxes widened to the blocks below them that stay
//     clear of their neighbours; "to its right" follows each turned
//     block's own reading direction. Two columns of prose read column by
//     column.
//  5. Words (emitted): whitespace in the content stream, or a gap wide for
//     the piece's font size, splits a line; a line of single characters
//     (letter-spaced text, tight dot leaders) keeps only the gaps clearly
//     wider than its narrowest, as pdftotext does. Paragraphs start at a
//     first-line indent after a short line or at a gap clearly above the
//     block's usual pitch.

// Break spelling: the characters that a symbol's detectedBreak adds to
// fullTextAnnotation.text.
const (
	spaceText  = " "
	eolText    = "\n"
	hyphenText = "-\n"
)

// BreakText returns the text that a detectedBreak of type t adds after its
// symbol in fullTextAnnotation.text: a space for SPACE and SURE_SPACE, a
// newline for EOL_SURE_SPACE and LINE_BREAK, "-\n" for HYPHEN (the hyphen
// that ends a line inside a word is not a symbol of its own, as Vision's
// proto documents), and "" otherwise.
func BreakText(t visionpb.TextAnnotation_DetectedBreak_BreakType) string {
	switch t {
	case visionpb.TextAnnotation_DetectedBreak_SPACE, visionpb.TextAnnotation_DetectedBreak_SURE_SPACE:
		return spaceText
	case visionpb.TextAnnotation_DetectedBreak_EOL_SURE_SPACE, visionpb.TextAnnotation_DetectedBreak_LINE_BREAK:
		return eolText
	case visionpb.TextAnnotation_DetectedBreak_HYPHEN:
		return hyphenText
	}
	return ""
}

// glyph is a visible character in a reading frame.
type glyph struct {
	r          rune
	box        Rect // in the frame
	idx        int  // index among the page's visible characters, content order
	spaceAfter bool // whitespace follows in the content stream
	// newlineAfter tells that the whitespace after it is a line break
	// alone (CR, LF), which PDFium puts wherever the baseline moves, a
	// superscript's included.
	newlineAfter bool
	mark         rune    // a combining accent drawn over it as a glyph of its own; 0 if none
	em           float32 // estimated font size of its piece, set by tblock
}

func (g *glyph) h() float64  { return g.box.Top - g.box.Bottom }
func (g *glyph) cy() float64 { return (g.box.Top + g.box.Bottom) / 2 }

type tline struct {
	gs  []glyph
	box Rect
	seq int // position of the first glyph, for stable ordering
}

func (l *tline) h() float64 { return max(l.box.Top-l.box.Bottom, minSize) }

type tblock struct {
	paras [][]*tline
	box   Rect
	seq   int
}

// minSize is the floor of any height used as a unit, in points, so that
// degenerate boxes cannot make every gap look huge.
const minSize = 0.5

// BuildTextAnnotation assembles the text layer of p into Vision's hierarchy:
// one page of blocks, paragraphs, words and symbols, with normalized
// bounding boxes (no boxes on symbols, as in Vision's file output),
// detectedBreak on the last symbol of each word, confidence 1 everywhere and
// text equal to what the symbols and breaks spell (see [BreakText]). Page
// width and height are p's, rounded. A page without visible characters gives
// one page with no blocks and empty text. Whitespace and control characters
// only separate words; ligatures such as U+FB01 become one symbol per letter.
func BuildTextAnnotation(p *Page) *visionpb.TextAnnotation {
	page := &visionpb.Page{
		Width:      int32(math.Round(clampF(p.Width, 0, math.MaxInt32))),
		Height:     int32(math.Round(clampF(p.Height, 0, math.MaxInt32))),
		Confidence: 1,
	}
	ta := &visionpb.TextAnnotation{Pages: []*visionpb.Page{page}}
	norm := normalizer{w: p.Width, h: p.Height}

	var groups [4][]glyph
	groups[0] = make([]glyph, 0, len(p.Chars)) // most text is upright
	vis, lastK := 0, -1
	for _, c := range p.Chars {
		if isBreakRune(c.Rune) {
			if lastK >= 0 {
				g := &groups[lastK][len(groups[lastK])-1]
				nl := c.Rune == '\r' || c.Rune == '\n'
				g.newlineAfter = nl && (g.newlineAfter || !g.spaceAfter)
				g.spaceAfter = true
			}
			continue
		}
		box := c.Box
		if !finite(box.Left, box.Bottom, box.Right, box.Top) {
			continue
		}
		if box.Left > box.Right {
			box.Left, box.Right = box.Right, box.Left
		}
		if box.Bottom > box.Top {
			box.Bottom, box.Top = box.Top, box.Bottom
		}
		if offPage(p, box) {
			continue
		}
		k := quarterTurns(c.Angle)
		groups[k] = append(groups[k], glyph{r: c.Rune, box: toFrame(k, box), idx: vis})
		lastK = k
		vis++
	}

	for k := range groups {
		groups[k] = attachAccents(groups[k])
	}
	e := &emitter{norm: norm, xRatio: p.Fonts.tallestXHeight()}
	e.text.Grow(len(p.Chars) + len(p.Chars)/8) // the characters and the breaks between words
	for _, fb := range pageOrder(groups, p.Fonts) {
		page.Blocks = append(page.Blocks, e.block(fb.b.tblock(), fb.k))
	}
	ta.Text = e.text.String()
	return ta
}

// frameBlock is a laid-out block of reading frame k.
type frameBlock struct {
	b *lblock
	k int
}

// pageOrder lays out each direction's glyphs in its own frame and orders
// the blocks of all frames together, as pdftotext does, so that a rotated
// label (a plot's axis title) reads where it stands on the page rather than
// after all upright text. With one direction, or too many blocks to sort,
// frames follow one another: upright, then turned left, right and upside
// down.
func pageOrder(groups [4][]glyph, fonts *Fonts) []frameBlock {
	var out []frameBlock
	frames := 0
	for _, k := range [4]int{0, 1, 3, 2} {
		if len(groups[k]) == 0 {
			continue
		}
		frames++
		for _, b := range layoutBlocks(groups[k], fonts) {
			out = append(out, frameBlock{b, k})
		}
	}
	if frames < 2 || len(out) > maxSortBlocks {
		return out
	}
	proxies := make([]*lblock, len(out))
	index := make(map[*lblock]int, len(out))
	for i, fb := range out {
		proxies[i] = uprightProxy(fb)
		index[proxies[i]] = i
	}
	sorted := make([]frameBlock, 0, len(out))
	for _, p := range readingOrder(proxies) {
		sorted = append(sorted, out[index[p]])
	}
	return sorted
}

// uprightProxy returns a stand-in for a block with its box in the upright
// frame's layout coordinates (y down), for ordering blocks across frames.
func uprightProxy(fb frameBlock) *lblock {
	b := fb.b
	// Layout coordinates have y down: the frame box is x0..x1, -y1..-y0.
	x1, y1 := fromFrame(fb.k, b.x0, -b.y1)
	x2, y2 := fromFrame(fb.k, b.x1, -b.y0)
	return &lblock{x0: min(x1, x2), x1: max(x1, x2), y0: -max(y1, y2), y1: -min(y1, y2), fs: b.fs, table: -1, k: fb.k}
}

// offPage reports whether box, whichever way round its corners are given,
// lies wholly outside page p (text parked off
// the page, as slides do with hidden overlays): pdftotext drops such
// characters, and nobody sees them. Pages of unknown size keep everything.
func offPage(p *Page, box Rect) bool {
	if !(p.Width > 0 && p.Height > 0) {
		return false
	}
	return max(box.Left, box.Right) < 0 || min(box.Left, box.Right) > p.Width ||
		max(box.Bottom, box.Top) < 0 || min(box.Bottom, box.Top) > p.Height
}

func isBreakRune(r rune) bool {
	return r == 0 || unicode.IsSpace(r) || unicode.IsControl(r) || r == '\u200b' || r == '\ufeff'
}

// combiningAccents maps the spacing accents that TeX (and others) draw as
// glyphs of their own above a letter (math's \hat, \tilde, \bar) to their
// combining forms. ASCII's ^, ~ and ` stay: code sets them beside letters.
var combiningAccents = map[rune]rune{
	'\u00a8': '\u0308', // diaeresis
	'\u00af': '\u0304', // macron
	'\u00b4': '\u0301', // acute
	'\u02c6': '\u0302', // circumflex
	'\u02c7': '\u030c', // caron
	'\u02c9': '\u0304', // modifier macron
	'\u02d8': '\u0306', // breve
	'\u02d9': '\u0307', // dot above
	'\u02da': '\u030a', // ring above
	'\u02dc': '\u0303', // small tilde
}

// accentReach is how far in content order an accent's letter is looked
// for: TeX draws an accent next to its letter, and a bound keeps a page of
// accents linear.
const accentReach = 8

// attachAccents joins each spacing accent that sits just above a letter
// (its centre over the letter, its bottom within half the letter's height
// of the letter's top) to that letter, as the letter's combining mark, and
// drops the accent's own glyph: pdftotext reads "Ω̂" where the accent would
// otherwise be a line of its own above the text.
func attachAccents(gs []glyph) []glyph {
	drop := 0
	for i := range gs {
		if gs[i].r < '\u00a8' || gs[i].r > '\u02dc' { // most glyphs, without a map lookup
			continue
		}
		mark, ok := combiningAccents[gs[i].r]
		if !ok {
			continue
		}
		a := gs[i].box
		cx := (a.Left + a.Right) / 2
		best, bestD := -1, math.Inf(1)
		for j := max(i-accentReach, 0); j <= min(i+accentReach, len(gs)-1); j++ {
			b := &gs[j]
			if j == i || b.mark != 0 || b.r == 0 || !unicode.IsLetter(b.r) {
				continue
			}
			h := b.h()
			d := a.Bottom - b.box.Top
			if cx < b.box.Left || cx > b.box.Right || d < -0.2*h || d > 0.5*h {
				continue
			}
			if d = math.Abs(d); d < bestD {
				best, bestD = j, d
			}
		}
		if best >= 0 {
			gs[best].mark = mark
			gs[i].r = 0 // dropped below
			drop++
		}
	}
	if drop == 0 {
		return gs
	}
	out := gs[:0]
	for _, g := range gs {
		if g.r != 0 {
			out = append(out, g)
		}
	}
	return out
}

// quarterTurns rounds a counter-clockwise angle in radians to 0..3 quarter
// turns.
func quarterTurns(a float64) int {
	if math.IsNaN(a) || math.IsInf(a, 0) {
		return 0
	}
	k := int(math.Round(math.Mod(a, 2*math.Pi) / (math.Pi / 2)))
	return ((k % 4) + 4) % 4
}

// toFrame maps a page box into the reading frame of text turned k quarter
// turns counter-clockwise (rotating the page by -k quarter turns).
func toFrame(k int, b Rect) Rect {
	x1, y1 := rotPoint(k, b.Left, b.Bottom)
	x2, y2 := rotPoint(k, b.Right, b.Top)
	return Rect{Left: min(x1, x2), Bottom: min(y1, y2), Right: max(x1, x2), Top: max(y1, y2)}
}

func rotPoint(k int, x, y float64) (float64, float64) {
	switch k {
	case 1:
		return y, -x
	case 2:
		return -x, -y
	case 3:
		return -y, x
	}
	return x, y
}

// fromFrame is the inverse of rotPoint.
func fromFrame(k int, u, v float64) (float64, float64) {
	switch k {
	case 1:
		return -v, u
	case 2:
		return -u, -v
	case 3:
		return v, -u
	}
	return u, v
}

func union(a, b Rect) Rect {
	return Rect{Left: min(a.Left, b.Left), Bottom: min(a.Bottom, b.Bottom), Right: max(a.Right, b.Right), Top: max(a.Top, b.Top)}
}

func vOverlap(a, b Rect) float64 { return min(a.Top, b.Top) - max(a.Bottom, b.Bottom) }
func hOverlap(a, b Rect) float64 { return min(a.Right, b.Right) - max(a.Left, b.Left) }

// layoutBlocks groups the glyphs of one frame into blocks of lines in
// reading order.
func layoutBlocks(gs []glyph, fonts *Fonts) []*lblock {
	// Thin glyphs (hyphens, dots, rules) have tight boxes far shorter than
	// the font size, which would make every gap next to them look wide:
	// give each glyph at least 60% of the median glyph height, centred.
	hs := make([]float64, len(gs))
	for i := range gs {
		hs[i] = gs[i].h()
	}
	slices.Sort(hs)
	if floor := 0.6 * hs[len(hs)/2]; floor > 0 {
		for i := range gs {
			if h := gs[i].h(); h < floor {
				c := gs[i].cy()
				gs[i].box.Bottom, gs[i].box.Top = c-floor/2, c+floor/2
			}
		}
	}
	rs := runs(gs)
	frags := fragments(rs, flatFont(rs), fonts)
	var bs []*lblock
	if len(frags) > maxFrags {
		bs = []*lblock{simpleBlock(frags)}
	} else {
		bs = growBlocks(frags)
		for _, b := range bs {
			b.buildLines()
		}
		bs = readingOrder(bs)
	}
	return bs
}

// runs cuts glyphs (content order) into runs on one line moving right.
func runs(gs []glyph) []*tline {
	// Runs share gs's storage: they are consecutive pieces of it.
	var out []*tline
	var cur *tline
	start := 0
	for i := range gs {
		g := &gs[i]
		if cur != nil && continues(cur, &gs[i-1], g) {
			cur.gs = gs[start : i+1 : i+1]
			cur.box = union(cur.box, g.box)
			continue
		}
		start = i
		cur = &tline{gs: gs[i : i+1 : i+1], box: g.box, seq: g.idx}
		out = append(out, cur)
	}
	return out
}

func continues(l *tline, prev, g *glyph) bool {
	lh := l.h()
	h := max(lh, g.h(), minSize)
	// Same line: the glyph's centre lies within the run's band, widened a
	// little for quotes, superscript-like accents and punctuation.
	cy := g.cy()
	if cy < l.box.Bottom-0.25*lh || cy > l.box.Top+0.25*lh {
		return false
	}
	// Moving right, allowing kerning and overstrikes.
	if g.box.Left < prev.box.Left-0.3*h {
		return false
	}
	// Not across a gutter; an explicit space in the content stream allows
	// the wide spaces of justified lines.
	limit := 1.2 * h
	if prev.spaceAfter {
		limit = 3 * h
	}
	return g.box.Left-prev.box.Right <= limit
}

// A fragment is a piece of a run between spaces: the unit that blocks and
// lines are built from. Layout works top down: base and y grow downwards.
type frag struct {
	gs     []glyph
	x0, x1 float64 // horizontal extent
	y0, y1 float64 // font box: top and bottom
	base   float64 // baseline
	em     float64 // estimated font size
	sure   bool    // em was measured on x-height letters
	// guessed tells that the piece has no glyph of a known class (dots,
	// dashes, accents): em is a guess from box heights.
	guessed bool
	used    bool
	box     fontBox // the document's font box, which setSize scales
}

// fontBox is how far a font's box reaches above and below the baseline,
// as fractions of the font size. The zero fontBox is Computer Modern's
// (fontAscent, fontDescent), for which layout's rules were tuned.
type fontBox struct{ ascent, descent float64 }

// extent returns the box's ascent and descent.
func (b fontBox) extent() (ascent, descent float64) {
	if b.ascent == 0 {
		return fontAscent, fontDescent
	}
	return b.ascent, b.descent
}

// box returns the font box of the document's text: its own, when the
// sample found one far from Computer Modern's, or the zero fontBox.
func (f *Fonts) box() fontBox {
	if f == nil {
		return fontBox{}
	}
	return fontBox{f.Ascent, f.Descent}
}

func (f *frag) bucket() int { return int(math.Floor(f.base / poolStep)) }

// xHeightRatio is the height of an x-height letter's tight box as a
// fraction of the font size.
const xHeightRatio = 0.45

// emRatio is the height of a glyph's tight box as a fraction of the font
// size, for glyphs whose height is typical of their class; 0 for others.
// sitsOnBase tells whether the glyph's bottom is the baseline.
func emRatio(r rune) (ratio float64, sitsOnBase bool) {
	switch r {
	case 'a', 'c', 'e', 'm', 'n', 'o', 'r', 's', 'u', 'v', 'w', 'x', 'z':
		return xHeightRatio, true
	case 'b', 'd', 'h', 'k', 'l':
		return 0.70, true
	case 'g', 'p', 'q', 'y':
		return 0.64, false
	}
	switch {
	case r >= 'A' && r <= 'Z' && r != 'Q' && r != 'J':
		return 0.69, true
	case r >= '0' && r <= '9':
		return 0.66, true
	}
	return 0, false
}

// metrics estimates the font size and baseline (frame coordinates, y up)
// of glyphs; ok is false when none of them has a known class. In a flat
// font (no x-height is visible, as in synthetic text) every class counts as
// an ascender. sure tells whether an x-height letter was measured: the
// heights of capitals, digits and ascenders vary from font to font (a
// typewriter face's capitals are some 10% shorter than a roman's), the
// x-height much less.
func metrics(gs []glyph, flat bool) (em, base float64, sure, ok bool) {
	var emBuf, xBuf, baseBuf [64]float64
	ems, xems, bases := emBuf[:0], xBuf[:0], baseBuf[:0]
	for i := range gs {
		ratio, onBase := emRatio(gs[i].r)
		if ratio == 0 {
			continue
		}
		if flat {
			ratio = 0.7
			if !onBase {
				ratio = 0.9
			}
		}
		if ratio == xHeightRatio {
			xems = append(xems, gs[i].h()/ratio)
		} else {
			ems = append(ems, gs[i].h()/ratio)
		}
		if onBase {
			bases = append(bases, gs[i].box.Bottom)
		}
	}
	// The x-height letters alone, when there are any.
	sure = flat || len(xems) > 0
	if len(xems) > 0 {
		ems = xems
	}
	if len(ems) == 0 {
		return 0, 0, false, false
	}
	slices.Sort(ems)
	em = max(ems[len(ems)/2], minSize)
	if len(bases) > 0 {
		slices.Sort(bases)
		base = bases[len(bases)/2]
	} else {
		base = math.Inf(1)
		for i := range gs {
			base = min(base, gs[i].box.Bottom)
		}
		base += 0.2 * em
	}
	return em, base, sure, true
}

// snapBand is how far, as a fraction, a size estimated from glyph heights
// may be from one of the document's font sizes to be taken for it.
const snapBand = 0.07

// snap returns the font size of em, a size estimated with an x-height
// ratio of xHeightRatio: when em was measured on x-height letters
// (xMeasured) and f has Styles, the size of the style that fits it (see
// style); otherwise the document's size nearest to em when one lies
// within snapBand of it, or em rescaled to the document's x-height ratio
// if it has its own. A nil f returns em.
func (f *Fonts) snap(em float64, xMeasured bool) float64 {
	if f == nil {
		return em
	}
	if xMeasured && len(f.Styles) > 0 {
		if s, ok := f.style(em * xHeightRatio); ok {
			return s
		}
	}
	if f.XHeight > 0 {
		em *= xHeightRatio / f.XHeight
	}
	best, bestD := em, snapBand*em
	for _, s := range f.Sizes {
		if d := math.Abs(s - em); d < bestD {
			best, bestD = s, d
		}
	}
	return best
}

// styleBand is how far, as a fraction, a measured x-height may be from a
// Style's to be taken for it.
const styleBand = 0.04

// style returns the size of the Style whose x-height (its size times its
// ratio) is nearest to x, the x-height measured on some glyphs, in points:
// when it is within styleBand and no Style of another size is nearly as
// near (within twice the distance, or styleBand/2): a piece's letters
// measure its x-height within a few percent, and a wrong size costs more
// than the document's ratio does.
func (f *Fonts) style(x float64) (float64, bool) {
	best, bestD, nextD := 0.0, math.Inf(1), math.Inf(1)
	for _, s := range f.Styles {
		d := math.Abs(x/(s.Size*s.XHeight) - 1)
		switch {
		case d < bestD:
			if s.Size != best {
				nextD = bestD
			}
			best, bestD = s.Size, d
		case d < nextD && s.Size != best:
			nextD = d
		}
	}
	if bestD > styleBand || nextD < max(2*bestD, styleBand/2) {
		return 0, false
	}
	return best, true
}

// flatFont reports whether the x-height letters of the runs are about as
// tall as their ascenders and capitals, so that their heights say nothing
// about the font size (synthetic text). Each run with both votes, its
// letters against its own: medians over a whole page would weigh one
// size's x-height against another's capitals where a page mixes sizes (a
// table of 9-point names over 6-point notes). A page where no run has both
// compares all of its glyphs, and one without ascenders or capitals is flat.
func flatFont(rs []*tline) bool {
	var xs, as []float64
	flat, upright := 0, 0
	for _, r := range rs {
		x0, a0 := len(xs), len(as)
		xs, as = heightsByClass(r.gs, xs, as)
		if len(xs) == x0 || len(as) == a0 {
			continue
		}
		if flatHeights(xs[x0:], as[a0:]) {
			flat++
		} else {
			upright++
		}
	}
	if flat+upright > 0 {
		return flat > upright
	}
	if len(xs) == 0 || len(as) == 0 {
		return len(as) == 0
	}
	return flatHeights(xs, as)
}

// heightsByClass appends the heights of the x-height letters of gs to xs
// and those of its ascenders and capitals to as.
func heightsByClass(gs []glyph, xs, as []float64) ([]float64, []float64) {
	for i := range gs {
		switch ratio, _ := emRatio(gs[i].r); ratio {
		case xHeightRatio:
			xs = append(xs, gs[i].h())
		case 0.69, 0.70:
			as = append(as, gs[i].h())
		}
	}
	return xs, as
}

// flatHeights reports whether the median of the x-height letters' heights
// xs is over 80% of the ascenders' as. It sorts both.
func flatHeights(xs, as []float64) bool {
	slices.Sort(xs)
	slices.Sort(as)
	return xs[len(xs)/2] > 0.8*as[len(as)/2]
}

// fragments cuts runs at spaces and wide gaps and estimates the font size
// and baseline of each piece.
func fragments(rs []*tline, flat bool, fonts *Fonts) []*frag {
	out := make([]*frag, 0, len(rs))
	var slab []frag
	box := fonts.box()
	for _, r := range rs {
		em, base, sure, ok := metrics(r.gs, flat)
		if ok {
			em = fonts.snap(em, sure && !flat)
		} else {
			em = max(r.h()/0.7, minSize)
			base = r.box.Bottom
			for i := range r.gs {
				base = min(base, r.gs[i].box.Bottom)
			}
		}
		start := 0
		var prev frag     // the run's last piece's size and base (frame, y up)
		touching := false // the piece follows it with no space or gap
		for i := 1; i <= len(r.gs); i++ {
			next := false
			if i < len(r.gs) {
				a, b := &r.gs[i-1], &r.gs[i]
				if !a.spaceAfter && b.box.Left-a.box.Right <= 0.25*em {
					if math.Abs(b.cy()-a.cy()) <= 0.3*em {
						continue
					}
					next = true
				}
			}
			gs := r.gs[start:i]
			start = i
			if len(slab) == 0 {
				slab = make([]frag, 64)
			}
			f := &slab[0]
			slab = slab[1:]
			*f = frag{gs: gs, em: em, base: base, sure: sure, guessed: !ok, x0: gs[0].box.Left, x1: gs[0].box.Right, box: box}
			for j := range gs {
				f.x0, f.x1 = min(f.x0, gs[j].box.Left), max(f.x1, gs[j].box.Right)
			}
			fem, fbase, fsure, ok := metrics(gs, flat)
			if ok {
				fem = fonts.snap(fem, fsure && !flat)
			}
			switch {
			case ok && (math.Abs(fem-em) > pieceDelta(gs)*em || math.Abs(fbase-base) > 0.15*em):
				f.em, f.base, f.sure, f.guessed = fem, fbase, fsure, false
			case !ok && touching:
				// Punctuation with nothing to measure, set right after
				// the piece before but low or high enough to be cut
				// from it (a comma after a digit): its size and base,
				// not the run's, which may lie on another line.
				f.em, f.base, f.sure, f.guessed = prev.em, prev.base, prev.sure, prev.guessed
			}
			prev, touching = *f, next
			// Tight boxes stop short of the advance widths that pdftotext
			// measures gaps with.
			f.x0, f.x1 = f.x0-sideBearing*f.em, f.x1+sideBearing*f.em
			f.base = -f.base
			f.setSize(f.em)
			out = append(out, f)
		}
	}
	borrowLineSizes(out)
	return out
}

// pieceDelta is how far the size measured on a piece may be from its
// run's before the piece keeps its own: a run in content order may cross
// from one font to another on a line (a margin note set beside a body
// line, in a smaller size), which pdftotext, knowing each glyph's font,
// tells apart. A piece with several x-height letters measures its size
// well enough to keep it at 10%; one with fewer only at 20%.
func pieceDelta(gs []glyph) float64 {
	n := 0
	for i := range gs {
		if r, _ := emRatio(gs[i].r); r == xHeightRatio {
			n++
		}
	}
	if n >= 4 {
		return 0.1
	}
	return 0.2
}

// setSize sets the font size of f and the font box it implies.
func (f *frag) setSize(em float64) {
	f.em = em
	ascent, descent := f.box.extent()
	f.y0, f.y1 = f.base-ascent*em, f.base+descent*em
}

// borrowLineSizes gives each piece whose size rests on capitals, digits or
// ascenders only (a typewriter "M_E", a column of numbers) the size of the
// nearest piece on its baseline that was measured on x-height letters, when
// the two are within sizeDeltaLoose: a line mixing faces is usually set in
// one size, and pdftotext, which knows the sizes, keeps such a table in one
// block. A piece with no glyph of a known class (a leader dot after an
// accent, a leading underscore) takes the size and baseline of a sized
// piece beside it on its line, within word spacing, so that sizes spread
// along a leader from either end. Pieces still unsized take the page's
// body size when close to it. It sorts fs by baseline; pieces given a new
// baseline may then be out of that order.
func borrowLineSizes(fs []*frag) {
	sortByBaseline(fs)
	// Donors lie within sameBaseline of their size from a piece's
	// baseline, or intraLine for a guessed piece (see sizeDonor).
	maxEm := 0.0
	for _, f := range fs {
		if !f.guessed {
			maxEm = max(maxEm, f.em)
		}
	}
	band := intraLine * maxEm
	for i, f := range fs {
		if f.sure || f.guessed {
			continue
		}
		if g := nearestSizeOnBaseline(fs, i, sameBaseline*max(maxEm, f.em)); g != nil {
			f.setSize(g.em)
		}
	}
	for i := range fs {
		borrowGuessedSize(fs, i, band)
	}
	for i := len(fs) - 1; i >= 0; i-- {
		borrowGuessedSize(fs, i, band)
	}
	// A piece left with a guessed size (a lone "\t"), or sized on
	// capitals, digits or ascenders only (a column of numbers), with no
	// measured piece beside it, takes the page's body size when close to
	// it: most such text is set in the body size, which pdftotext reads
	// from the font. A rough size must be within sizeDeltaBody, a guess
	// within sizeDeltaLoose, and a piece of marks too short to tell a size
	// (a line of "...") takes it however far.
	body := bodySize(fs)
	if body == 0 {
		return
	}
	for _, f := range fs {
		tol := sizeDeltaBody
		if f.guessed {
			tol = sizeDeltaLoose
		}
		if (f.guessed || !f.sure) && (math.Abs(f.em-body) < tol*body || f.guessed && shapeless(f.gs)) {
			f.setSize(body)
			f.guessed = false
		}
	}
}

// shapeless reports whether gs are all marks whose height tells nothing
// of the font size (dots, commas, dashes, quotes, an underscore): a piece
// of them alone on its line ("..." in code) takes the body size however
// far its guess is from it.
func shapeless(gs []glyph) bool {
	for i := range gs {
		if !strings.ContainsRune(".,:;_-'`\"\u2018\u2019\u201c\u201d\u2013\u2014\u2026\u00b7", gs[i].r) {
			return false
		}
	}
	return true
}

// bodySize returns the most common font size of the pieces measured on
// x-height letters, counted by glyphs in steps of 1%, as the mean size of
// that step; 0 if there is none.
func bodySize(fs []*frag) float64 {
	type bin struct {
		n   int
		sum float64
	}
	bins := map[int]*bin{}
	var best *bin
	for _, f := range fs {
		if !f.sure || f.guessed {
			continue
		}
		k := int(math.Round(math.Log(f.em) * 100))
		b := bins[k]
		if b == nil {
			b = &bin{}
			bins[k] = b
		}
		b.n += len(f.gs)
		b.sum += f.em * float64(len(f.gs))
		if best == nil || b.n > best.n {
			best = b
		}
	}
	if best == nil {
		return 0
	}
	return best.sum / float64(best.n)
}

// borrowGuessedSize gives fs[i], if its size is a guess, the size and
// baseline of the nearest sized piece beside it on its line (an underscore
// or an accent has no baseline of its own to go by).
func borrowGuessedSize(fs []*frag, i int, band float64) {
	if f := fs[i]; f.guessed {
		if g := nearestSizeOnBaseline(fs, i, band); g != nil {
			f.base = g.base
			f.setSize(g.em)
			f.guessed = false
		}
	}
}

// nearestSizeOnBaseline returns the piece of fs (sorted by baseline)
// closest to fs[i] horizontally among those whose size it may take (see
// sizeDonor). It looks at the pieces whose baselines lie within band of
// fs[i]'s, all of them on a line however many pieces it has (an index
// line of leader dots in two columns): a fixed number of neighbours in
// baseline order misses the line's first word when fs[i] sits a little
// above or below it (an underscore starting an index entry), as that
// word sorts after all pieces on its own baseline.
func nearestSizeOnBaseline(fs []*frag, i int, band float64) *frag {
	const maxReach = 512 // pieces on each side, against pathological pages
	f := fs[i]
	var best *frag
	bestGap := math.Inf(1)
	for _, dir := range [2]int{-1, 1} {
		for j, n := i+dir, 0; j >= 0 && j < len(fs) && n < maxReach; j, n = j+dir, n+1 {
			g := fs[j]
			if math.Abs(g.base-f.base) > band {
				break
			}
			if !sizeDonor(f, g) {
				continue
			}
			if gap := max(g.x0-f.x1, f.x0-g.x1, 0); gap < bestGap {
				best, bestGap = g, gap
			}
		}
	}
	return best
}

// sizeDonor reports whether piece f may take the size of piece g: g shares
// its baseline and was measured on x-height letters with a size close to
// f's, or f's size is a mere guess and g, sized, is its neighbour on the
// line (within word spacing and half an em of its baseline).
func sizeDonor(f, g *frag) bool {
	if f.guessed {
		return !g.guessed && max(g.x0-f.x1, f.x0-g.x1) < wordSpacing*g.em && math.Abs(g.base-f.base) < intraLine*g.em
	}
	if math.Abs(g.base-f.base) > sameBaseline*max(f.em, g.em) {
		return false
	}
	return g.sure && math.Abs(g.em-f.em) < sizeDeltaLoose*f.em
}

// Layout constants, as fractions of the font size unless noted; they follow
// the values pdftotext (poppler's TextOutputDev) uses.
const (
	poolStep    = 4.0 // points: baselines are bucketed this finely
	lineSpacing = 1.5 // max baseline distance between lines of a block
	intraLine   = 0.5 // max baseline distance of pieces of one line
	colSpacing1 = 0.7 // max gap that pulls a piece into a block (poppler ≥ 21.08; 0.3 before)
	colSpacing2 = 1.0 // max gap for a few outlying pieces
	// outlyingReach is colSpacing2 as applied to gaps between padded tight
	// boxes: TeX sets a table of contents' titles exactly 1 em after the
	// widest section number, a knife edge that pdftotext's advance widths
	// resolve as "apart" and our estimates would not.
	outlyingReach  = 0.9 * colSpacing2
	wordSpacing    = 1.5  // max gap inside a line
	sizeDeltaLines = 0.06 // font size difference allowed above and below
	sizeDeltaLoose = 0.2  // ... above and below when a size is a rough estimate
	sizeDeltaBody  = 0.08 // max distance of a rough size from the body size it takes
	sameBaseline   = 0.1  // max baseline distance of pieces that share a size
	sizeDeltaSame  = 0.6  // ... on the block's own lines
	sizeDeltaOut   = 0.2  // ... for outlying pieces
	sideBearing    = 0.05 // padding of tight boxes
	fontAscent     = 0.69 // font box above the baseline (a TeX font's ascent)
	fontDescent    = 0.19 // font box below the baseline (its descent)
	maxFrags       = 20000
	maxSortBlocks  = 200 // above this, blocks keep their creation order
)

// lblock is a block under construction.
type lblock struct {
	frags          []*frag
	x0, x1, y0, y1 float64
	fs             float64
	lines          [][]*frag
	ex0, ex1       float64 // extended horizontal extent, for reading order
	ey0, ey1       float64
	table          int
	k              int // reading frame, for proxies ordered across frames
}

func (b *lblock) add(f *frag) {
	f.used = true
	if len(b.frags) == 0 {
		b.x0, b.x1, b.y0, b.y1 = f.x0, f.x1, f.y0, f.y1
	} else {
		b.x0, b.x1, b.y0, b.y1 = min(b.x0, f.x0), max(b.x1, f.x1), min(b.y0, f.y0), max(b.y1, f.y1)
	}
	b.frags = append(b.frags, f)
}

// sameSize reports whether piece f has about the font size of a block
// started by piece start: within delta of it, or within sizeDeltaLoose when
// either size rests on capitals, digits or ascenders only, whose heights
// differ between faces.
func sameSize(start, f *frag, delta float64) bool {
	if !start.sure || !f.sure {
		delta = max(delta, sizeDeltaLoose)
	}
	return math.Abs(f.em-start.em) < delta*start.em
}

// span returns the indexes [i, j) of fs (sorted by base) with lo <= base <= hi.
func span(fs []*frag, lo, hi float64) (int, int) {
	i := sort.Search(len(fs), func(k int) bool { return fs[k].base >= lo })
	j := sort.Search(len(fs), func(k int) bool { return fs[k].base > hi })
	return i, max(i, j)
}

// growBlocks builds blocks the way pdftotext does: start at the top left
// and repeatedly pull in pieces on the lines just above and below that
// overlap the block and have the same size, pieces on the block's lines
// that overlap or nearly touch it, and up to three outlying pieces.
func growBlocks(fs []*frag) []*lblock {
	sortByBaseline(fs)
	var blocks []*lblock
	first := 0
	for {
		start := nextStart(fs, &first)
		if start == nil {
			break
		}
		b := &lblock{fs: start.em, table: -1}
		b.add(start)
		em := start.em
		minBase, maxBase := start.base, start.base
		for {
			found := false
			// Lines above and below.
			i, j := span(fs, minBase-lineSpacing*em, maxBase+lineSpacing*em)
			newMin, newMax := minBase, maxBase
			for _, f := range fs[i:j] {
				if f.used || (f.base >= minBase && f.base <= maxBase) {
					continue
				}
				if f.x0 < b.x1 && f.x1 > b.x0 && sameSize(start, f, sizeDeltaLines) {
					b.add(f)
					found = true
					newMin, newMax = min(newMin, f.base), max(newMax, f.base)
				}
			}
			minBase, maxBase = newMin, newMax
			// Pieces on the block's lines.
			i, j = span(fs, minBase-intraLine*em, maxBase+intraLine*em)
			for _, f := range fs[i:j] {
				if !f.used && f.x0 < b.x1+colSpacing1*em && f.x1 > b.x0-colSpacing1*em && math.Abs(f.em-em) < sizeDeltaSame*em {
					b.add(f)
					found = true
				}
			}
			if found {
				continue
			}
			// A few outlying pieces on the left, then on the right.
			for side := 0; side < 2; side++ {
				i, j = span(fs, minBase-intraLine*em, maxBase+intraLine*em)
				out := func(f *frag) bool {
					if f.used || math.Abs(f.em-em) >= sizeDeltaOut*em {
						return false
					}
					if side == 0 {
						return f.x1 <= b.x0 && f.x1 > b.x0-outlyingReach*em
					}
					return f.x0 >= b.x1 && f.x0 < b.x1+outlyingReach*em
				}
				// One candidate per baseline bucket, the left-most.
				var picks []*frag
				for _, f := range fs[i:j] {
					if !out(f) {
						continue
					}
					if n := len(picks); n > 0 && picks[n-1].bucket() == f.bucket() {
						if f.x0 < picks[n-1].x0 {
							picks[n-1] = f
						}
						continue
					}
					picks = append(picks, f)
				}
				if len(picks) > 0 && len(picks) <= 3 {
					for _, f := range picks {
						b.add(f)
						minBase, maxBase = min(minBase, f.base), max(maxBase, f.base)
					}
					found = true
				}
			}
			if !found {
				break
			}
		}
		blocks = append(blocks, b)
	}
	return blocks
}

// buildLines orders a block's pieces into lines: from the top left, a line
// takes the next piece to the right on its baseline while the gap stays
// under wordSpacing; pieces farther right start lines of their own, so a
// table row reads cell by cell. Lines are sorted by baseline, then x.
func (b *lblock) buildLines() {
	fs := b.frags
	sortByBaseline(fs)
	for _, f := range fs {
		f.used = false
	}
	first := 0
	for {
		start := nextStart(fs, &first)
		if start == nil {
			break
		}
		start.used = true
		line := []*frag{start}
		last := start
		em := start.em
		i, j := span(fs, start.base-intraLine*em, start.base+intraLine*em)
		type head struct {
			k int
			f *frag
		}
		var heads []head
		for {
			// Only the left-most remaining piece of each baseline bucket
			// counts, as in pdftotext.
			heads = heads[:0]
			for _, f := range fs[i:j] {
				if f.used {
					continue
				}
				k := f.bucket()
				found := false
				for h := range heads {
					if heads[h].k == k {
						if f.x0 < heads[h].f.x0 {
							heads[h].f = f
						}
						found = true
						break
					}
				}
				if !found {
					heads = append(heads, head{k, f})
				}
			}
			var best *frag
			overlap := false
			for _, h := range heads {
				d := h.f.x0 - last.x1
				if d < -0.5*em {
					overlap = true
					break
				}
				if d < wordSpacing*em && (best == nil || h.f.x0 < best.x0) {
					best = h.f
				}
			}
			if overlap || best == nil {
				break
			}
			best.used = true
			line = append(line, best)
			last = best
		}
		b.lines = append(b.lines, line)
	}
	sort.SliceStable(b.lines, func(i, j int) bool { return lineLess(b.lines[i][0], b.lines[j][0]) })
}

// lineLess orders the lines of a block, given their first pieces, top to
// bottom, then left to right: baselines closer than sameBaseline count as
// one, since estimates from glyph boxes differ a little between faces where
// pdftotext, reading the text matrix, sees one baseline and orders by x.
func lineLess(a, b *frag) bool {
	if math.Abs(a.base-b.base) > sameBaseline*min(a.em, b.em) {
		return a.base < b.base
	}
	return a.x0 < b.x0
}

// baselineLess orders pieces top to bottom, then left to right.
func baselineLess(a, b *frag) bool {
	if a.base != b.base {
		return a.base < b.base
	}
	return a.x0 < b.x0
}

// sortByBaseline sorts pieces top to bottom, then left to right, keeping
// the content order of equal ones.
func sortByBaseline(fs []*frag) {
	sort.SliceStable(fs, func(i, j int) bool { return baselineLess(fs[i], fs[j]) })
}

// nextStart returns the piece a new block or line starts from: the
// left-most unused piece within three baseline buckets of the first unused
// one, so that a superscript does not start it. It advances *first past
// used pieces of fs (sorted by baseline) and returns nil when all are used.
func nextStart(fs []*frag, first *int) *frag {
	for *first < len(fs) && fs[*first].used {
		*first++
	}
	if *first == len(fs) {
		return nil
	}
	start := fs[*first]
	lim := start.bucket() + 3
	for _, f := range fs[*first:] {
		if f.bucket() > lim {
			break
		}
		if !f.used && f.x0 < start.x0 {
			start = f
		}
	}
	return start
}

// simpleBlock lays out a pathological page (too many pieces) as one block
// of lines, top to bottom and left to right.
func simpleBlock(fs []*frag) *lblock {
	sort.SliceStable(fs, func(i, j int) bool { return fs[i].base < fs[j].base })
	b := &lblock{table: -1}
	for i := 0; i < len(fs); {
		j := i + 1
		for j < len(fs) && fs[j].base-fs[i].base <= intraLine*fs[i].em {
			j++
		}
		line := slices.Clone(fs[i:j])
		sort.SliceStable(line, func(a, c int) bool { return line[a].x0 < line[c].x0 })
		b.lines = append(b.lines, line)
		i = j
	}
	return b
}

// readingOrder sorts blocks (in creation order) the way pdftotext does:
// blocks aligned in a grid are read as a table, row by row; others are
// topologically sorted by Breuel's rules on boxes widened to the blocks
// below them that they do not collide with.
func readingOrder(bs []*lblock) []*lblock {
	n := len(bs)
	if n < 2 || n > maxSortBlocks {
		return bs
	}
	for _, b := range bs {
		b.ex0, b.ex1, b.ey0, b.ey1 = b.x0, b.x1, b.y0, b.y1
	}
	tables := detectTables(bs)
	type env struct{ x0, x1, y0, y1 float64 }
	envs := make([]env, tables)
	for i := range envs {
		envs[i] = env{math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)}
	}
	for _, b := range bs {
		if t := b.table; t >= 0 {
			e := &envs[t]
			e.x0, e.x1, e.y0, e.y1 = min(e.x0, b.x0), max(e.x1, b.x1), min(e.y0, b.y0), max(e.y1, b.y1)
		}
	}
	for _, b := range bs {
		if t := b.table; t >= 0 {
			b.ex0, b.ex1, b.ey0, b.ey1 = envs[t].x0, envs[t].x1, envs[t].y0, envs[t].y1
			continue
		}
		// Widen to the blocks below that stay clear of the neighbours on
		// the left and right.
		lo, hi := math.Inf(-1), math.Inf(1)
		for _, c := range bs {
			if c != b && b.y0 <= c.y1 && b.y1 >= c.y0 {
				if c.x0 < hi && c.x0 > b.x1 {
					hi = c.x0
				}
				if c.x1 > lo && c.x1 < b.x0 {
					lo = c.x1
				}
			}
		}
		for _, c := range bs {
			if c == b || c.y0 < b.y1 {
				continue
			}
			if c.x1 > b.ex1 && c.x1 <= hi {
				b.ex1 = c.x1
			}
			if c.x0 < b.ex0 && c.x0 >= lo {
				b.ex0 = c.x0
			}
		}
	}
	// rule1: a overlaps b horizontally and is above it. rule2: a is left
	// of b. Tops closer than sameBaseline em count as level: pdftotext
	// takes a top from the font's ascent, the same for a row of labels on
	// one baseline (a navigation bar), where our estimates differ by a
	// hair and would put a label before the one on its left.
	rule1 := func(a, b *lblock) bool {
		overlap := (a.ex0 <= b.ex0 && b.ex0 <= a.ex1) || (b.ex0 <= a.ex0 && a.ex0 <= b.ex1)
		return overlap && a.ey0 < b.ey0-sameBaseline*min(a.fs, b.fs)
	}
	// rule2 looks along a's own reading direction, as pdftotext's does:
	// text turned a quarter left reads upwards, so a label on a plot's
	// y axis comes before the one above it (the comparisons for turned
	// text are pdftotext's, which for them do not ask the boxes to be
	// apart).
	rule2 := func(a, b *lblock) bool {
		switch a.k {
		case 1: // reading upwards (layout y grows downwards)
			return a.ey1 >= b.ey0
		case 2: // upside down, reading leftwards
			return b.ex1 <= a.ex0
		case 3: // reading downwards
			return a.ey0 <= b.ey1
		}
		return a.ex1 <= b.ex0
	}
	out := make([]*lblock, 0, n)
	visited := make([]bool, n)
	var visit func(i int)
	visit = func(i int) {
		visited[i] = true
		b1 := bs[i]
		for j, b2 := range bs {
			if visited[j] {
				continue
			}
			before := false
			if b1.table >= 0 && b1.table == b2.table {
				before = (b2.x1 <= b1.x0 && b2.y0 <= b1.y1 && b2.y1 >= b1.y0) || b2.y1 <= b1.y0
			} else if rule1(b2, b1) {
				before = true
			} else if rule2(b2, b1) {
				before = true
				for k, b3 := range bs {
					if k != i && k != j && rule1(b1, b3) && rule1(b3, b2) {
						before = false
						break
					}
				}
			}
			if before {
				visit(j)
			}
		}
		out = append(out, b1)
	}
	for i := range bs {
		if !visited[i] {
			visit(i)
		}
	}
	return out
}

// detectTables marks blocks that sit in a grid with their neighbours to the
// right, below and diagonally (aligned in both directions) as cells of a
// table, and returns the number of tables.
func detectTables(bs []*lblock) int {
	tables := 0
	yOver := func(a, b *lblock) bool { return a.y0 <= b.y1 && a.y1 >= b.y0 }
	xOver := func(a, b *lblock) bool { return a.x0 <= b.x1 && a.x1 >= b.x0 }
	for _, b1 := range bs {
		var right, below, diag *lblock
		bx0, by0, bx1, by1 := math.Inf(1), math.Inf(1), math.Inf(1), math.Inf(1)
		for _, b2 := range bs {
			if b2 == b1 {
				continue
			}
			switch {
			case b2.y0 <= b1.y1 && b2.y1 >= b1.y0 && b2.x0 > b1.x1 && b2.x0 < bx0:
				bx0, right = b2.x0, b2
			case b2.x0 <= b1.x1 && b2.x1 >= b1.x0 && b2.y0 > b1.y1 && b2.y0 < by0:
				by0, below = b2.y0, b2
			case b2.x0 > b1.x1 && b2.x0 < bx1 && b2.y0 > b1.y1 && b2.y0 < by1:
				bx1, by1, diag = b2.x0, b2.y0, b2
			}
		}
		if right == nil || below == nil || diag == nil {
			continue
		}
		if xOver(below, diag) || yOver(right, diag) || xOver(right, below) || yOver(right, below) ||
			!(xOver(diag, right) && yOver(diag, below)) {
			continue
		}
		fs := min(b1.fs, right.fs, below.fs, diag.fs)
		dx, dy := colSpacing1*fs, intraLine*fs
		cx := func(b *lblock) float64 { return (b.x0 + b.x1) / 2 }
		cy := func(b *lblock) float64 { return (b.y0 + b.y1) / 2 }
		nx, ny := 0, 0
		if math.Abs(cx(b1)-cx(below)) <= dx && math.Abs(cx(right)-cx(diag)) <= dx {
			nx++
		}
		if math.Abs(cy(b1)-cy(right)) <= dy && math.Abs(cy(below)-cy(diag)) <= dy {
			ny++
		}
		if math.Abs(b1.x0-below.x0) <= dx && math.Abs(right.x0-diag.x0) <= dx {
			nx++
		}
		if math.Abs(b1.x1-below.x1) <= dx && math.Abs(right.x1-diag.x1) <= dx {
			nx++
		}
		if math.Abs(b1.y0-right.y0) <= dy && math.Abs(below.y0-diag.y0) <= dy {
			ny++
		}
		if math.Abs(b1.y1-right.y1) <= dy && math.Abs(below.y1-diag.y1) <= dy {
			ny++
		}
		if nx == 0 || ny == 0 {
			continue
		}
		id := max(b1.table, right.table, below.table, diag.table)
		if id < 0 {
			id = tables
			tables++
		}
		b1.table, right.table, below.table, diag.table = id, id, id, id
	}
	return tables
}

// tblock converts a laid-out block into lines and paragraphs.
func (b *lblock) tblock() *tblock {
	tb := &tblock{}
	for _, line := range b.lines {
		n := 0
		for _, f := range line {
			n += len(f.gs)
		}
		l := &tline{gs: make([]glyph, 0, n)}
		for _, f := range line {
			from := len(l.gs)
			l.gs = append(l.gs, f.gs...)
			for i := from; i < len(l.gs); i++ {
				l.gs[i].em = float32(f.em)
			}
		}
		sort.SliceStable(l.gs, func(i, j int) bool { return l.gs[i].box.Left < l.gs[j].box.Left })
		l.box, l.seq = l.gs[0].box, l.gs[0].idx
		for _, g := range l.gs[1:] {
			l.box = union(l.box, g.box)
			l.seq = min(l.seq, g.idx)
		}
		switch {
		case tb.paras == nil:
			tb.paras, tb.box, tb.seq = [][]*tline{{l}}, l.box, l.seq
		case newParagraph(tb, l):
			tb.paras = append(tb.paras, []*tline{l})
		default:
			tb.paras[len(tb.paras)-1] = append(tb.paras[len(tb.paras)-1], l)
		}
		tb.box = union(tb.box, l.box)
		tb.seq = min(tb.seq, l.seq)
	}
	return tb
}

// newParagraph reports whether l, joining block b, starts a paragraph: it is
// indented after a line that ended short, or the gap above it is clearly
// larger than the block's usual gap.
func newParagraph(b *tblock, l *tline) bool {
	para := b.paras[len(b.paras)-1]
	prev := para[len(para)-1]
	h := max(prev.h(), l.h())
	if l.box.Left > prev.box.Left+0.8*h && prev.box.Right < b.box.Right-2*h {
		return true
	}
	if len(para) >= 2 {
		before := para[len(para)-2]
		usual := before.box.Bottom - prev.box.Top
		gap := prev.box.Bottom - l.box.Top
		if gap > usual+0.4*h {
			return true
		}
	}
	return false
}

// normalizer maps displayed page points to Vision's normalized vertices.
type normalizer struct{ w, h float64 }

// vertex is the normalized vertex of page point (x, y).
func (n normalizer) vertex(x, y float64) visionpb.NormalizedVertex {
	w, h := n.w, n.h
	if !(w > 0) || math.IsInf(w, 0) {
		w = 1
	}
	if !(h > 0) || math.IsInf(h, 0) {
		h = 1
	}
	return visionpb.NormalizedVertex{
		X: float32(clampF(x/w, 0, 1)),
		Y: float32(clampF((h-y)/h, 0, 1)),
	}
}

// slab hands out zeroed values of T from slices allocated a batch at a
// time, so that a page's thousands of symbols, words and boxes cost a few
// allocations instead of one each. The values live as long as any of
// their batch does, which for one page's annotation is as long as the
// annotation.
type slab[T any] struct{ free []T }

// slabBatch is how many values a slab allocates at once.
const slabBatch = 256

func (s *slab[T]) next() *T {
	if len(s.free) == 0 {
		s.free = make([]T, slabBatch)
	}
	v := &s.free[0]
	s.free = s.free[1:]
	return v
}

// take returns n values as a slice of its own (appending to it copies).
func (s *slab[T]) take(n int) []T {
	if n > slabBatch/4 {
		return make([]T, n)
	}
	if len(s.free) < n {
		s.free = make([]T, slabBatch)
	}
	v := s.free[:n:n]
	s.free = s.free[n:]
	return v
}

// boxAlloc is a BoundingPoly with its four vertices, allocated together.
type boxAlloc struct {
	poly visionpb.BoundingPoly
	vs   [4]visionpb.NormalizedVertex
	ptrs [4]*visionpb.NormalizedVertex
}

// breakAlloc is a symbol's property holding a detected break, allocated
// together.
type breakAlloc struct {
	prop visionpb.TextAnnotation_TextProperty
	brk  visionpb.TextAnnotation_DetectedBreak
}

// emitter builds one page's Vision blocks and full text.
type emitter struct {
	norm    normalizer
	xRatio  float64 // x-height ratio that grows sizes x-height letters by
	text    strings.Builder
	boxes   slab[boxAlloc]
	breaks  slab[breakAlloc]
	words   slab[visionpb.Word]
	symbols slab[visionpb.Symbol]
	symPtrs slab[*visionpb.Symbol]
}

// poly returns the box of frame k as four vertices, top-left first in
// reading orientation.
func (e *emitter) poly(k int, b Rect) *visionpb.BoundingPoly {
	a := e.boxes.next()
	corners := [4][2]float64{{b.Left, b.Top}, {b.Right, b.Top}, {b.Right, b.Bottom}, {b.Left, b.Bottom}}
	for i, c := range corners {
		x, y := fromFrame(k, c[0], c[1])
		a.vs[i] = e.norm.vertex(x, y)
		a.ptrs[i] = &a.vs[i]
	}
	a.poly.NormalizedVertices = a.ptrs[:]
	return &a.poly
}

// newBreak is a symbol property holding a break of type t.
func (e *emitter) newBreak(t visionpb.TextAnnotation_DetectedBreak_BreakType) *visionpb.TextAnnotation_TextProperty {
	a := e.breaks.next()
	a.brk.Type = t
	a.prop.DetectedBreak = &a.brk
	return &a.prop
}

// symbolText is the text of a symbol: ASCII from a table, anything else
// allocated.
func symbolText(r rune) string {
	if r >= 0 && r < utf8.RuneSelf {
		return asciiText[r]
	}
	return string(r)
}

// asciiText holds the one-character strings of ASCII.
var asciiText = func() (t [utf8.RuneSelf]string) {
	for i := range t {
		t[i] = string(rune(i))
	}
	return t
}()

func clampF(v, lo, hi float64) float64 {
	if math.IsNaN(v) {
		return lo
	}
	return max(lo, min(hi, v))
}

// A word under construction: glyph indexes into a line.
type tword struct{ from, to int } // gs[from:to]

// words splits a line (glyphs sorted left to right) into words; xRatio is
// the x-height ratio [grows] sizes x-height letters by.
func words(l *tline, xRatio float64) []tword {
	var out []tword
	start := 0
	for i := 1; i < len(l.gs); i++ {
		a, b := &l.gs[i-1], &l.gs[i]
		em := float64(max(a.em, b.em, minSize))
		gap := (b.box.Left - a.box.Right) / em
		split := false
		switch {
		case b.idx == a.idx+1 || a.idx == b.idx+1:
			first := a
			if a.idx == b.idx+1 {
				first = b
			}
			// A line break alone between glyphs on one line (a prime
			// raised after its letter) parts them only at a gap, as
			// for glyphs that are not neighbours.
			sp := first.spaceAfter && (!first.newlineAfter || gap > 0.15)
			split = sp || gap > 0.6 || gap > 0.15 && grows(a, b, xRatio)
		default: // not neighbours in the content stream
			split = gap > 0.15 || (gap > -0.1 && (a.spaceAfter || b.spaceAfter))
		}
		if split {
			out = append(out, tword{start, i})
			start = i
		}
	}
	out = append(out, tword{start, len(l.gs)})
	return letterSpaced(l, out)
}

// grows reports whether glyph b, after a on a line, is set in a font size
// more than 20% larger than a's, both of a class whose height tells the
// size: a word after its footnote or affiliation mark ("¹Universität").
// pdftotext starts a word where the size changes, and spaces it from the
// last at a gap; an exponent set right after its base ("2³¹") has none.
// x-height letters are sized with xRatio: in a face with a tall x-height
// (a typewriter or sans-serif face's 0.55) an "a" after an "I" would
// otherwise look 20% larger.
func grows(a, b *glyph, xRatio float64) bool {
	ra, _ := emRatio(a.r)
	rb, _ := emRatio(b.r)
	if ra == 0 || rb == 0 {
		return false
	}
	if ra == xHeightRatio {
		ra = xRatio
	}
	if rb == xHeightRatio {
		rb = xRatio
	}
	return a.h()/ra < 0.8*b.h()/rb
}

// letterSpaced rejoins a line whose words are all single characters, as
// letter-spaced text and tight dot leaders are: as in pdftotext, only gaps
// clearly wider than the narrowest one (by 30%, and at most 0.4 em) stay
// word breaks.
func letterSpaced(l *tline, ws []tword) []tword {
	if len(ws) < 3 {
		return ws
	}
	minGap := math.Inf(1)
	for i, w := range ws {
		if w.to-w.from != 1 {
			return ws
		}
		if i > 0 {
			minGap = min(minGap, l.gs[w.from].box.Left-l.gs[w.from-1].box.Right)
		}
	}
	if !(minGap > 0) {
		return ws
	}
	out := ws[:1]
	for _, w := range ws[1:] {
		a, b := &l.gs[w.from-1], &l.gs[w.from]
		em := float64(max(a.em, b.em, minSize))
		if gap := b.box.Left - a.box.Right; gap < min(1.3*minGap, 0.4*em) {
			out[len(out)-1].to = w.to
			continue
		}
		out = append(out, w)
	}
	return out
}

var ligatures = map[rune]string{
	'\ufb00': "ff", '\ufb01': "fi", '\ufb02': "fl", '\ufb03': "ffi", '\ufb04': "ffl", '\ufb05': "st", '\ufb06': "st",
}

func isHyphen(r rune) bool { return r == '-' || r == '\u2010' || r == '\u00ad' }

// block converts a block of frame k and appends its text to the page's.
func (e *emitter) block(b *tblock, k int) *visionpb.Block {
	vb := &visionpb.Block{
		BoundingBox: e.poly(k, b.box),
		BlockType:   visionpb.Block_TEXT,
		Confidence:  1,
	}
	for _, para := range b.paras {
		vp := &visionpb.Paragraph{Confidence: 1}
		pbox := para[0].box
		for li, l := range para {
			pbox = union(pbox, l.box)
			lastLine := li == len(para)-1
			ws := words(l, e.xRatio)
			for wi, w := range ws {
				gs := l.gs[w.from:w.to]
				wbox := gs[0].box
				for _, g := range gs[1:] {
					wbox = union(wbox, g.box)
				}
				lastWord := wi == len(ws)-1
				brk := visionpb.TextAnnotation_DetectedBreak_SPACE
				if lastWord {
					brk = visionpb.TextAnnotation_DetectedBreak_EOL_SURE_SPACE
					if lastLine {
						brk = visionpb.TextAnnotation_DetectedBreak_LINE_BREAK
					}
					// A hyphen ending a line inside a word: the break says
					// so and the hyphen is not a symbol (Vision's HYPHEN).
					if !lastLine && len(gs) >= 2 && isHyphen(gs[len(gs)-1].r) && unicode.IsLetter(gs[len(gs)-2].r) {
						brk = visionpb.TextAnnotation_DetectedBreak_HYPHEN
						gs = gs[:len(gs)-1]
					}
				}
				vp.Words = append(vp.Words, e.word(gs, k, wbox, brk))
			}
		}
		vp.BoundingBox = e.poly(k, pbox)
		vb.Paragraphs = append(vb.Paragraphs, vp)
	}
	return vb
}

// word converts the glyphs of a word in frame k, with box wbox and the
// break brk after it, and appends its text to the page's.
func (e *emitter) word(gs []glyph, k int, wbox Rect, brk visionpb.TextAnnotation_DetectedBreak_BreakType) *visionpb.Word {
	n := 0
	for _, g := range gs {
		if lig, ok := ligatures[g.r]; ok {
			n += len(lig)
		} else {
			n++
		}
	}
	vw := e.words.next()
	vw.BoundingBox, vw.Confidence = e.poly(k, wbox), 1
	vw.Symbols = e.symPtrs.take(n)[:0]
	add := func(text string) {
		s := e.symbols.next()
		s.Text, s.Confidence = text, 1
		vw.Symbols = append(vw.Symbols, s)
		e.text.WriteString(text)
	}
	for _, g := range gs {
		text := symbolText(g.r)
		if lig, ok := ligatures[g.r]; ok {
			last, size := utf8.DecodeLastRuneInString(lig)
			for _, r := range lig[:len(lig)-size] {
				add(symbolText(r))
			}
			text = symbolText(last)
		}
		if g.mark != 0 { // on a ligature, the accent goes on its last letter
			text += string(g.mark)
		}
		add(text)
	}
	vw.Symbols[len(vw.Symbols)-1].Property = e.newBreak(brk)
	e.text.WriteString(BreakText(brk))
	return vw
}
