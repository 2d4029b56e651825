package pipeline

import (
	"math"
	"slices"
	"sort"
	"strings"
	"unicode"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
)

// Layout of a text layer into Vision's hierarchy.
//
// Characters are grouped by direction (the glyph angle rounded to a quarter
// turn) and each group is laid out in its own reading frame, a coordinate
// system in which its text runs left to right with y up; boxes are mapped
// back to the page at the end, so vertices come out top-left, top-right,
// bottom-right, bottom-left in reading orientation, as Vision's do.
//
// In a frame:
//  1. Runs: consecutive characters in content-stream order that move right
//     on the same line form a run.
//  2. Lines: runs that sit on the same line and nearly touch are merged, so
//     superscripts and pieces drawn out of order join their line. A wide
//     horizontal gap (a column gutter, a table cell) keeps lines apart.
//  3. Words: whitespace in the content stream, or a wide gap, splits a line.
//  4. Blocks and paragraphs: a line joins the block whose last line is just
//     above it, overlaps it horizontally and has a similar size; a larger
//     gap, a change of size or no overlap starts a new block. Inside a block
//     a first-line indent after a short line, or a gap clearly above the
//     block's usual pitch, starts a new paragraph.
//  5. Reading order of blocks (Breuel's rule, as in pdfminer-style layout
//     analysis): a block comes before another that it overlaps horizontally
//     and lies above, and before one entirely to its right unless a third
//     block spanning both lies between them vertically. A topological sort
//     of that order reads a two-column page column by column, with headers
//     and full-width sections in place.

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

// Limits that keep hostile pages (hundreds of thousands of tiny runs) away
// from quadratic behaviour; normal pages never reach them.
const (
	mergeWindow   = 64  // runs compared forward when merging lines
	activeBlocks  = 256 // open blocks a line is compared with
	maxSortBlocks = 400 // above this, blocks are ordered top to bottom only
)

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
	vis, lastK := 0, -1
	for _, c := range p.Chars {
		if isBreakRune(c.Rune) {
			if lastK >= 0 {
				g := groups[lastK]
				g[len(g)-1].spaceAfter = true
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
		k := quarterTurns(c.Angle)
		groups[k] = append(groups[k], glyph{r: c.Rune, box: toFrame(k, box), idx: vis})
		lastK = k
		vis++
	}

	var sb strings.Builder
	for _, k := range [4]int{0, 1, 3, 2} {
		if len(groups[k]) == 0 {
			continue
		}
		for _, b := range layout(groups[k]) {
			page.Blocks = append(page.Blocks, emitBlock(b, k, norm, &sb))
		}
	}
	ta.Text = sb.String()
	return ta
}

func isBreakRune(r rune) bool {
	return r == 0 || unicode.IsSpace(r) || unicode.IsControl(r) || r == '\u200b' || r == '\ufeff'
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

// layout turns the glyphs of one frame into ordered blocks.
func layout(gs []glyph) []*tblock {
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
	lines := mergeRuns(runs(gs))
	for _, l := range lines {
		sort.SliceStable(l.gs, func(i, j int) bool { return l.gs[i].box.Left < l.gs[j].box.Left })
	}
	return orderBlocks(buildBlocks(lines))
}

// runs cuts glyphs (content order) into runs on one line moving right.
func runs(gs []glyph) []*tline {
	var out []*tline
	var cur *tline
	for i := range gs {
		g := gs[i]
		if cur != nil && continues(cur, &cur.gs[len(cur.gs)-1], &g) {
			cur.gs = append(cur.gs, g)
			cur.box = union(cur.box, g.box)
			continue
		}
		cur = &tline{gs: []glyph{g}, box: g.box, seq: g.idx}
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

// mergeRuns joins runs on the same line that nearly touch.
func mergeRuns(rs []*tline) []*tline {
	if len(rs) < 2 {
		return rs
	}
	order := make([]int, len(rs))
	for i := range order {
		order[i] = i
	}
	cy := func(l *tline) float64 { return (l.box.Top + l.box.Bottom) / 2 }
	sort.SliceStable(order, func(a, b int) bool { return cy(rs[order[a]]) > cy(rs[order[b]]) })
	parent := make([]int, len(rs))
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	boxes := make([]Rect, len(rs))
	for i, r := range rs {
		boxes[i] = r.box
	}
	for oi, i := range order {
		a := rs[i]
		for oj := oi + 1; oj < len(order) && oj <= oi+mergeWindow; oj++ {
			j := order[oj]
			b := rs[j]
			if cy(a)-cy(b) > max(a.h(), b.h()) {
				break
			}
			ri, rj := find(i), find(j)
			if ri == rj {
				continue
			}
			h := min(a.h(), b.h())
			if vOverlap(a.box, b.box) < 0.5*h {
				continue
			}
			// Nearly touching, and not overlapping the other line's
			// extent (which would be text printed over text).
			ba, bb := boxes[ri], boxes[rj]
			gap := max(bb.Left-ba.Right, ba.Left-bb.Right)
			if gap < -0.2*h || gap > 0.6*max(a.h(), b.h()) {
				continue
			}
			parent[rj] = ri
			boxes[ri] = union(ba, bb)
		}
	}
	byRoot := map[int]*tline{}
	var out []*tline
	for i, r := range rs {
		root := find(i)
		l, ok := byRoot[root]
		if !ok {
			l = &tline{box: r.box, seq: r.seq}
			byRoot[root] = l
			out = append(out, l)
		}
		l.gs = append(l.gs, r.gs...)
		l.box = union(l.box, r.box)
		l.seq = min(l.seq, r.seq)
	}
	return out
}

// buildBlocks groups lines into blocks and paragraphs.
func buildBlocks(lines []*tline) []*tblock {
	sort.SliceStable(lines, func(i, j int) bool {
		if lines[i].box.Top != lines[j].box.Top {
			return lines[i].box.Top > lines[j].box.Top
		}
		return lines[i].box.Left < lines[j].box.Left
	})
	var blocks []*tblock
	var active []*tblock
	for _, l := range lines {
		var best *tblock
		bestGap := math.Inf(1)
		for i := len(active) - 1; i >= 0 && i >= len(active)-activeBlocks; i-- {
			b := active[i]
			para := b.paras[len(b.paras)-1]
			prev := para[len(para)-1]
			ph, lh := prev.h(), l.h()
			if max(ph, lh) > 1.5*min(ph, lh) {
				continue // a change of size: heading, caption, footnote
			}
			gap := prev.box.Bottom - l.box.Top
			if gap < -0.3*min(ph, lh) || gap > 0.9*max(ph, lh) {
				continue
			}
			// Horizontal overlap with the block, or a shared left edge.
			if hOverlap(b.box, l.box) < 0.3*min(b.box.Right-b.box.Left, l.box.Right-l.box.Left) &&
				math.Abs(b.box.Left-l.box.Left) > lh {
				continue
			}
			if gap < bestGap {
				best, bestGap = b, gap
			}
		}
		if best == nil {
			b := &tblock{paras: [][]*tline{{l}}, box: l.box, seq: l.seq}
			blocks = append(blocks, b)
			active = append(active, b)
			continue
		}
		if newParagraph(best, l) {
			best.paras = append(best.paras, []*tline{l})
		} else {
			best.paras[len(best.paras)-1] = append(best.paras[len(best.paras)-1], l)
		}
		best.box = union(best.box, l.box)
		best.seq = min(best.seq, l.seq)
		// Keep the most recently extended blocks at the end.
		if i := slices.Index(active, best); i >= 0 {
			active = append(slices.Delete(active, i, i+1), best)
		}
	}
	return blocks
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

// orderBlocks sorts blocks into reading order (see the package comment at
// the top of this file).
func orderBlocks(bs []*tblock) []*tblock {
	sort.SliceStable(bs, func(i, j int) bool {
		if bs[i].box.Top != bs[j].box.Top {
			return bs[i].box.Top > bs[j].box.Top
		}
		return bs[i].box.Left < bs[j].box.Left
	})
	n := len(bs)
	if n < 2 || n > maxSortBlocks {
		return bs
	}
	// before[i][j]: i must be read before j.
	before := make([][]bool, n)
	for i := range before {
		before[i] = make([]bool, n)
	}
	indeg := make([]int, n)
	for i := range n {
		for j := range n {
			if i == j {
				continue
			}
			a, b := bs[i].box, bs[j].box
			tol := 0.1 * min(a.Right-a.Left, b.Right-b.Left)
			switch {
			case hOverlap(a, b) > tol:
				// Same column: the upper one first.
				if (a.Top+a.Bottom)/2 > (b.Top+b.Bottom)/2 {
					before[i][j] = true
				}
			case a.Right <= b.Left+tol && a.Top > b.Bottom:
				// a left of b and not entirely below it, unless a block
				// between them vertically spans both.
				if !separated(bs, i, j) {
					before[i][j] = true
				}
			}
			if before[i][j] {
				indeg[j]++
			}
		}
	}
	out := make([]*tblock, 0, n)
	done := make([]bool, n)
	last := -1
	for len(out) < n {
		// Among the free blocks, continue the column of the last one when
		// a free block sits just below it; otherwise take the topmost
		// (bs is sorted top to bottom).
		pick := -1
		for i := range n {
			if done[i] || indeg[i] != 0 {
				continue
			}
			if pick < 0 {
				pick = i
			}
			if last < 0 {
				break
			}
			a, b := bs[last].box, bs[i].box
			h := min(bs[last].paras[0][0].h(), bs[i].paras[0][0].h())
			if hOverlap(a, b) > 0 && a.Bottom-b.Top < 3*h && b.Top < a.Top {
				pick = i
				break
			}
		}
		if pick < 0 { // a cycle (overlapping blocks): take the topmost left
			for i := range n {
				if !done[i] {
					pick = i
					break
				}
			}
		}
		done[pick] = true
		last = pick
		out = append(out, bs[pick])
		for j := range n {
			if before[pick][j] && !done[j] {
				indeg[j]--
			}
		}
	}
	return out
}

// separated reports whether some block lies vertically between blocks i and
// j and overlaps both horizontally.
func separated(bs []*tblock, i, j int) bool {
	a, b := bs[i].box, bs[j].box
	ya, yb := (a.Top+a.Bottom)/2, (b.Top+b.Bottom)/2
	hi, lo := max(ya, yb), min(ya, yb)
	for k, c := range bs {
		if k == i || k == j {
			continue
		}
		cb := c.box
		if cy := (cb.Top + cb.Bottom) / 2; cy < hi && cy > lo && hOverlap(cb, a) > 0 && hOverlap(cb, b) > 0 {
			return true
		}
	}
	return false
}

// normalizer maps displayed page points to Vision's normalized vertices.
type normalizer struct{ w, h float64 }

func (n normalizer) vertex(x, y float64) *visionpb.NormalizedVertex {
	w, h := n.w, n.h
	if !(w > 0) || math.IsInf(w, 0) {
		w = 1
	}
	if !(h > 0) || math.IsInf(h, 0) {
		h = 1
	}
	return &visionpb.NormalizedVertex{
		X: float32(clampF(x/w, 0, 1)),
		Y: float32(clampF((h-y)/h, 0, 1)),
	}
}

// poly returns the box of frame k as four vertices, top-left first in
// reading orientation.
func (n normalizer) poly(k int, b Rect) *visionpb.BoundingPoly {
	corners := [4][2]float64{{b.Left, b.Top}, {b.Right, b.Top}, {b.Right, b.Bottom}, {b.Left, b.Bottom}}
	vs := make([]*visionpb.NormalizedVertex, 4)
	for i, c := range corners {
		x, y := fromFrame(k, c[0], c[1])
		vs[i] = n.vertex(x, y)
	}
	return &visionpb.BoundingPoly{NormalizedVertices: vs}
}

func clampF(v, lo, hi float64) float64 {
	if math.IsNaN(v) {
		return lo
	}
	return max(lo, min(hi, v))
}

// A word under construction: glyph indexes into a line.
type tword struct{ from, to int } // gs[from:to]

// words splits a line (glyphs sorted left to right) into words.
func words(l *tline) []tword {
	var out []tword
	start := 0
	lh := l.h()
	for i := 1; i < len(l.gs); i++ {
		a, b := &l.gs[i-1], &l.gs[i]
		gap := b.box.Left - a.box.Right
		split := false
		switch {
		case b.idx == a.idx+1:
			split = a.spaceAfter || gap > 0.8*lh
		case a.idx == b.idx+1: // drawn right to left
			split = b.spaceAfter || gap > 0.8*lh
		default: // not neighbours in the content stream
			split = gap > 0.15*lh || (gap > -0.1*lh && (a.spaceAfter || b.spaceAfter))
		}
		if split {
			out = append(out, tword{start, i})
			start = i
		}
	}
	return append(out, tword{start, len(l.gs)})
}

var ligatures = map[rune]string{
	'\ufb00': "ff", '\ufb01': "fi", '\ufb02': "fl", '\ufb03': "ffi", '\ufb04': "ffl", '\ufb05': "st", '\ufb06': "st",
}

func isHyphen(r rune) bool { return r == '-' || r == '\u2010' || r == '\u00ad' }

func newBreak(t visionpb.TextAnnotation_DetectedBreak_BreakType) *visionpb.TextAnnotation_TextProperty {
	return &visionpb.TextAnnotation_TextProperty{DetectedBreak: &visionpb.TextAnnotation_DetectedBreak{Type: t}}
}

// emitBlock converts a block of frame k and appends its text to sb.
func emitBlock(b *tblock, k int, n normalizer, sb *strings.Builder) *visionpb.Block {
	vb := &visionpb.Block{
		BoundingBox: n.poly(k, b.box),
		BlockType:   visionpb.Block_TEXT,
		Confidence:  1,
	}
	for _, para := range b.paras {
		vp := &visionpb.Paragraph{Confidence: 1}
		pbox := para[0].box
		for li, l := range para {
			pbox = union(pbox, l.box)
			lastLine := li == len(para)-1
			ws := words(l)
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
				vw := &visionpb.Word{BoundingBox: n.poly(k, wbox), Confidence: 1}
				for _, g := range gs {
					if lig, ok := ligatures[g.r]; ok {
						for _, r := range lig {
							vw.Symbols = append(vw.Symbols, &visionpb.Symbol{Text: string(r), Confidence: 1})
						}
						continue
					}
					vw.Symbols = append(vw.Symbols, &visionpb.Symbol{Text: string(g.r), Confidence: 1})
				}
				for _, s := range vw.Symbols {
					sb.WriteString(s.Text)
				}
				last := vw.Symbols[len(vw.Symbols)-1]
				last.Property = newBreak(brk)
				sb.WriteString(BreakText(brk))
				vp.Words = append(vp.Words, vw)
			}
		}
		vp.BoundingBox = n.poly(k, pbox)
		vb.Paragraphs = append(vb.Paragraphs, vp)
	}
	return vb
}
