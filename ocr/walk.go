package ocr

/*
#cgo pkg-config: tesseract lept
#include <tesseract/capi.h>
*/
import "C"

import (
	"math"
	"strings"
	"unicode"
	"unicode/utf8"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"

	"github.com/folio-ocr/folio/pipeline"
)

// frame is the image Tesseract saw: w×h pixels, the original turned by
// quads quarter turns clockwise (and maybe scaled, which normalized
// coordinates do not see).
type frame struct {
	vertical bool // the languages include a script written top to bottom (CJK)
	w, h     int
	quads    int
}

// poly converts a pixel box in the frame (left, top, right, bottom; y down)
// into four normalized vertices in the original image: the box's top-left,
// top-right, bottom-right and bottom-left corners as the text reads, so a
// word of a page turned by 90° starts at its reading top-left, as Vision
// orders vertices of rotated text.
//
// up is where the text's top points in the frame, as Tesseract reports a
// block's orientation (0 up, 1 right, 2 down, 3 left): the vertices start at
// the text's top-left corner and go clockwise, as Vision orders them for
// rotated text.
func (f frame) poly(l, t, r, b, up int) *visionpb.BoundingPoly {
	nx := func(x int) float64 { return min(max(float64(x)/float64(f.w), 0), 1) }
	ny := func(y int) float64 { return min(max(float64(y)/float64(f.h), 0), 1) }
	corners := [4][2]float64{{nx(l), ny(t)}, {nx(r), ny(t)}, {nx(r), ny(b)}, {nx(l), ny(b)}}
	vs := make([]*visionpb.NormalizedVertex, 4)
	for i := range corners {
		c := corners[(i+up)%4]
		x, y := f.unturn(c[0], c[1])
		vs[i] = &visionpb.NormalizedVertex{X: float32(x), Y: float32(y)}
	}
	return &visionpb.BoundingPoly{NormalizedVertices: vs}
}

// unturn maps a normalized point of the turned image back to the
// original. Turning by one quarter clockwise sends (x, y) to (1-y, x).
func (f frame) unturn(x, y float64) (float64, float64) {
	switch f.quads % 4 {
	case 1:
		return y, 1 - x
	case 2:
		return 1 - x, 1 - y
	case 3:
		return 1 - y, x
	}
	return x, y
}

// breakRank orders word boundaries by strength.
type breakRank int

const (
	noBreak breakRank = iota
	spaceBreak
	lineBreak
	paraBreak
)

func (r breakRank) breakType() visionpb.TextAnnotation_DetectedBreak_BreakType {
	switch r {
	case spaceBreak:
		return visionpb.TextAnnotation_DetectedBreak_SPACE
	case lineBreak:
		return visionpb.TextAnnotation_DetectedBreak_EOL_SURE_SPACE
	case paraBreak:
		return visionpb.TextAnnotation_DetectedBreak_LINE_BREAK
	}
	return visionpb.TextAnnotation_DetectedBreak_UNKNOWN
}

// walk reads the last recognition's results in one pass at symbol level.
// The page is w×h pixels (the original image); f is what Tesseract saw.
func walk(api *C.TessBaseAPI, f frame, w, h int) *visionpb.TextAnnotation {
	page := &visionpb.Page{Width: int32(w), Height: int32(h)}
	ta := &visionpb.TextAnnotation{Pages: []*visionpb.Page{page}}

	ri := C.TessBaseAPIGetIterator(api)
	if ri == nil { // nothing recognized
		return ta
	}
	defer C.TessResultIteratorDelete(ri)
	// The page iterator is a view of ri (its base class), not a separate
	// allocation: it is not deleted on its own.
	pi := C.TessResultIteratorGetPageIterator(ri)

	var (
		blk      *visionpb.Block
		par      *visionpb.Paragraph
		wrd      *visionpb.Word
		wrdLang  string
		langs    = map[*visionpb.Word]string{}
		lastSym  *visionpb.Symbol
		lastWrd  *visionpb.Word
		pending  breakRank
		blockNew bool
		paraNew  bool
		up       int // the block's orientation
	)
	box := func(level C.TessPageIteratorLevel) *visionpb.BoundingPoly {
		var l, t, r, bt C.int
		if C.TessPageIteratorBoundingBox(pi, level, &l, &t, &r, &bt) == 0 {
			return nil
		}
		return f.poly(int(l), int(t), int(r), int(bt), up)
	}
	conf := func(level C.TessPageIteratorLevel) float32 {
		return clampConf(float64(C.TessResultIteratorConfidence(ri, level)) / 100)
	}

	for {
		atBlock := C.TessPageIteratorIsAtBeginningOf(pi, C.RIL_BLOCK) != 0
		atPara := atBlock || C.TessPageIteratorIsAtBeginningOf(pi, C.RIL_PARA) != 0
		atLine := atPara || C.TessPageIteratorIsAtBeginningOf(pi, C.RIL_TEXTLINE) != 0
		atWord := atLine || C.TessPageIteratorIsAtBeginningOf(pi, C.RIL_WORD) != 0

		switch {
		case atPara:
			pending = max(pending, paraBreak)
		case atLine:
			pending = max(pending, lineBreak)
		case atWord:
			pending = max(pending, spaceBreak)
		}
		// Nodes are created here but attached only once they hold a
		// symbol, so empty words, paragraphs and blocks never appear.
		if atBlock || blk == nil {
			var orient C.TessOrientation
			var dir C.TessWritingDirection
			var order C.TessTextlineOrder
			var deskew C.float
			C.TessPageIteratorOrientation(pi, &orient, &dir, &order, &deskew)
			up = int(orient) & 3
			if up == 0 && dir == C.WRITING_DIRECTION_TOP_TO_BOTTOM && !f.vertical {
				// Tesseract reads a horizontal script turned a quarter
				// clockwise as vertical writing: its top is to the right.
				up = 1
			}
			blk = &visionpb.Block{BoundingBox: box(C.RIL_BLOCK), BlockType: visionpb.Block_TEXT, Confidence: conf(C.RIL_BLOCK)}
			blockNew = true
		}
		if atPara || par == nil {
			par = &visionpb.Paragraph{BoundingBox: box(C.RIL_PARA), Confidence: conf(C.RIL_PARA)}
			paraNew = true
		}
		if atWord || wrd == nil {
			wrd = &visionpb.Word{BoundingBox: box(C.RIL_WORD), Confidence: conf(C.RIL_WORD)}
			wrdLang = ""
			if l := C.TessResultIteratorWordRecognitionLanguage(ri); l != nil {
				wrdLang = C.GoString(l) // owned by Tesseract: not freed
			}
		}

		if txt := C.TessResultIteratorGetUTF8Text(ri, C.RIL_SYMBOL); txt != nil {
			s := C.GoString(txt)
			C.TessDeleteText(txt)
			// Tesseract reads some blank marks (dot leaders, rules) as
			// symbols of whitespace: they are not text, and a word of only
			// them would put " \n" lines into the page's text.
			if strings.TrimSpace(s) != "" {
				if lastSym != nil && pending != noBreak {
					endWord(lastWrd, pending)
				}
				pending = noBreak
				if blockNew {
					page.Blocks = append(page.Blocks, blk)
					blockNew = false
				}
				if paraNew {
					blk.Paragraphs = append(blk.Paragraphs, par)
					paraNew = false
				}
				if len(wrd.Symbols) == 0 {
					par.Words = append(par.Words, wrd)
					langs[wrd] = wrdLang
				}
				sym := &visionpb.Symbol{Text: s, Confidence: conf(C.RIL_SYMBOL)}
				wrd.Symbols = append(wrd.Symbols, sym)
				lastSym, lastWrd = sym, wrd
			}
		}
		if C.TessResultIteratorNext(ri, C.RIL_SYMBOL) == 0 {
			break
		}
	}
	if lastWrd != nil {
		endWord(lastWrd, paraBreak)
	}
	setLanguages(page, langs)
	page.Confidence = meanWordConf(page)
	ta.Text = spell(ta)
	return ta
}

// endWord sets the break after word w, which the next word follows with a
// boundary of strength r. A word that ends a line inside a paragraph with a
// hyphen after a letter is a word split across lines: its hyphen symbol is
// dropped and the letter before it gets a HYPHEN break, which spells the
// hyphen and the newline (as pipeline's text-layer assembly does).
func endWord(w *visionpb.Word, r breakRank) {
	syms := w.Symbols
	last := syms[len(syms)-1]
	if r == lineBreak && len(syms) >= 2 && isHyphen(last.Text) && endsWithLetter(syms[len(syms)-2].Text) {
		w.Symbols = syms[:len(syms)-1]
		w.Symbols[len(w.Symbols)-1].Property = newBreak(visionpb.TextAnnotation_DetectedBreak_HYPHEN)
		return
	}
	last.Property = newBreak(r.breakType())
}

// isHyphen reports whether a symbol is a hyphen that may split a word:
// hyphen-minus, U+2010 HYPHEN or U+00AD SOFT HYPHEN.
func isHyphen(s string) bool { return s == "-" || s == "\u2010" || s == "\u00ad" }

func endsWithLetter(s string) bool {
	r, _ := utf8.DecodeLastRuneInString(s)
	return unicode.IsLetter(r)
}

// meanWordConf is the page confidence: the mean of its words'.
func meanWordConf(page *visionpb.Page) float32 {
	var sum float64
	var n int
	for _, b := range page.Blocks {
		for _, p := range b.Paragraphs {
			for _, w := range p.Words {
				sum += float64(w.Confidence)
				n++
			}
		}
	}
	if n == 0 {
		return 0
	}
	return clampConf(sum / float64(n))
}

// spell returns what the symbols and their breaks spell, the convention of
// fullTextAnnotation.text.
func spell(ta *visionpb.TextAnnotation) string {
	var sb []byte
	for _, p := range ta.GetPages() {
		for _, b := range p.GetBlocks() {
			for _, pa := range b.GetParagraphs() {
				for _, w := range pa.GetWords() {
					for _, s := range w.GetSymbols() {
						sb = append(sb, s.GetText()...)
						sb = append(sb, pipeline.BreakText(s.GetProperty().GetDetectedBreak().GetType())...)
					}
				}
			}
		}
	}
	return string(sb)
}

func newBreak(t visionpb.TextAnnotation_DetectedBreak_BreakType) *visionpb.TextAnnotation_TextProperty {
	return &visionpb.TextAnnotation_TextProperty{DetectedBreak: &visionpb.TextAnnotation_DetectedBreak{Type: t}}
}

func clampConf(v float64) float32 {
	if math.IsNaN(v) || v < 0 {
		return 0
	}
	if v > 1 {
		return 1
	}
	return float32(v)
}
