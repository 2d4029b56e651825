package pipeline

import (
	"math"
	"strings"
	"testing"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"github.com/google/go-cmp/cmp"
)

// spell re-spells a text annotation from its symbols and breaks, the way a
// client would.
func spell(ta *visionpb.TextAnnotation) string {
	var sb strings.Builder
	for _, p := range ta.GetPages() {
		for _, b := range p.GetBlocks() {
			for _, para := range b.GetParagraphs() {
				for _, w := range para.GetWords() {
					for _, s := range w.GetSymbols() {
						sb.WriteString(s.GetText())
						sb.WriteString(BreakText(s.GetProperty().GetDetectedBreak().GetType()))
					}
				}
			}
		}
	}
	return sb.String()
}

// checkInvariants asserts what must hold for any annotation: text equals the
// spelling, every box has four vertices in [0,1], confidences are 1, and
// every word has symbols with a break on the last one only.
func checkInvariants(t *testing.T, ta *visionpb.TextAnnotation) {
	t.Helper()
	if got := spell(ta); got != ta.GetText() {
		t.Errorf("text differs from symbols+breaks (-text +spelled):\n%s", cmp.Diff(ta.GetText(), got))
	}
	if n := len(ta.GetPages()); n != 1 {
		t.Fatalf("got %d pages, want 1", n)
	}
	checkBox := func(what string, bp *visionpb.BoundingPoly) {
		t.Helper()
		vs := bp.GetNormalizedVertices()
		if len(vs) != 4 || len(bp.GetVertices()) != 0 {
			t.Errorf("%s: %d normalized vertices, %d vertices; want 4, 0", what, len(vs), len(bp.GetVertices()))
		}
		for _, v := range vs {
			if v.X < 0 || v.X > 1 || v.Y < 0 || v.Y > 1 || math.IsNaN(float64(v.X)) || math.IsNaN(float64(v.Y)) {
				t.Errorf("%s: vertex %v outside [0,1]", what, v)
			}
		}
	}
	p := ta.Pages[0]
	if p.Confidence != 1 {
		t.Errorf("page confidence %v", p.Confidence)
	}
	for _, b := range p.Blocks {
		checkBox("block", b.BoundingBox)
		if b.BlockType != visionpb.Block_TEXT || b.Confidence != 1 {
			t.Errorf("block type %v confidence %v", b.BlockType, b.Confidence)
		}
		for _, para := range b.Paragraphs {
			checkBox("paragraph", para.BoundingBox)
			for _, w := range para.Words {
				checkBox("word", w.BoundingBox)
				if len(w.Symbols) == 0 {
					t.Fatalf("word without symbols")
				}
				for i, s := range w.Symbols {
					hasBreak := s.GetProperty().GetDetectedBreak() != nil
					if hasBreak != (i == len(w.Symbols)-1) {
						t.Errorf("symbol %d of %d of word %q: break %v", i, len(w.Symbols), wordText(w), hasBreak)
					}
					if s.BoundingBox != nil || s.Confidence != 1 || s.Text == "" {
						t.Errorf("symbol %+v", s)
					}
				}
			}
		}
	}
}

func wordText(w *visionpb.Word) string {
	var sb strings.Builder
	for _, s := range w.GetSymbols() {
		sb.WriteString(s.GetText())
	}
	return sb.String()
}

// typeset lays out text lines as chars of a fixed-pitch font: each line is
// {x, y(baseline), text}; size 10, advance 6, glyph box 0..7 above the
// baseline (-2 for descenders). Spaces are emitted as chars with empty boxes
// like PDFium's generated spaces.
type tl struct {
	x, y float64
	text string
}

func typeset(lines ...tl) []Char {
	var cs []Char
	for _, l := range lines {
		x := l.x
		for _, r := range l.text {
			b := Rect{Left: x + 0.5, Bottom: l.y, Right: x + 5.5, Top: l.y + 7}
			if strings.ContainsRune("gjpqy", r) {
				b.Bottom -= 2
			}
			if r == ' ' {
				b = Rect{Left: x, Bottom: l.y, Right: x, Top: l.y}
			}
			cs = append(cs, Char{Rune: r, Box: b})
			x += 6
		}
		cs = append(cs, Char{Rune: '\r', Box: Rect{Left: x, Bottom: l.y, Right: x, Top: l.y}}, Char{Rune: '\n'})
	}
	return cs
}

func TestBuildTextAnnotation(t *testing.T) {
	tests := []struct {
		name  string
		chars []Char
		text  string
		// blocks/paragraphs/words counts, checked when non-nil
		shape [][]int // per block, words per paragraph
	}{
		{
			name:  "empty page",
			chars: nil,
			text:  "",
			shape: [][]int{},
		},
		{
			name:  "only spaces",
			chars: typeset(tl{72, 700, "   "}),
			text:  "",
			shape: [][]int{},
		},
		{
			name:  "one line",
			chars: typeset(tl{72, 700, "Hello big world"}),
			text:  "Hello big world\n",
			shape: [][]int{{3}},
		},
		{
			name:  "paragraph of three lines",
			chars: typeset(tl{72, 700, "one two"}, tl{72, 688, "three four"}, tl{72, 676, "five"}),
			text:  "one two\nthree four\nfive\n",
			shape: [][]int{{5}},
		},
		{
			name:  "two blocks separated by a blank line",
			chars: typeset(tl{72, 700, "first block"}, tl{72, 688, "goes on"}, tl{72, 650, "second block"}),
			text:  "first block\ngoes on\nsecond block\n",
			shape: [][]int{{4}, {2}},
		},
		{
			name: "big gap splits words without a space char",
			// no space char between the words, a gap of one glyph height
			chars: append(typeset(tl{72, 700, "left"})[:4], typeset(tl{72 + 24 + 7, 700, "right"})...),
			text:  "left right\n",
			shape: [][]int{{2}},
		},
		{
			name: "two columns drawn row by row read column by column",
			chars: typeset(
				tl{72, 720, "Heading across both"},
				tl{72, 700, "left a"}, tl{320, 700, "right a"},
				tl{72, 688, "left b"}, tl{320, 688, "right b"},
				tl{72, 676, "left c"}, tl{320, 676, "right c"},
				tl{72, 100, "footer"},
			),
			// pdftotext reads the footer, which sits under the left
			// column and clear of the right one, before the right column.
			text:  "Heading across both\nleft a\nleft b\nleft c\nfooter\nright a\nright b\nright c\n",
			shape: [][]int{{3}, {6}, {1}, {6}},
		},
		{
			name: "hyphenated line end",
			chars: typeset(
				tl{72, 700, "an impor-"}, tl{72, 688, "tant word"},
			),
			text:  "an impor-\ntant word\n",
			shape: [][]int{{4}},
		},
		{
			name:  "hyphen ending a paragraph stays a symbol",
			chars: typeset(tl{72, 700, "minus -"}),
			text:  "minus -\n",
			shape: [][]int{{2}},
		},
		{
			name: "indented first line starts a paragraph",
			chars: typeset(
				tl{72, 700, "a full line of text here"},
				tl{72, 688, "short end"},
				tl{90, 676, "indented start of text"},
				tl{72, 664, "continues here"},
			),
			text:  "a full line of text here\nshort end\nindented start of text\ncontinues here\n",
			shape: [][]int{{8, 6}},
		},
		{
			name:  "ligature becomes letters",
			chars: typeset(tl{72, 700, "\ufb01ne"}),
			text:  "fine\n",
			shape: [][]int{{1}},
		},
		{
			name: "content order scrambled",
			chars: func() []Char {
				cs := typeset(tl{72, 700, "abc def"}, tl{72, 688, "ghi"})
				// draw the second line first
				return append(cs[9:], cs[:9]...)
			}(),
			text:  "abc def\nghi\n",
			shape: [][]int{{3}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ta := BuildTextAnnotation(&Page{Number: 1, Width: 612, Height: 792, Chars: tt.chars})
			checkInvariants(t, ta)
			if diff := cmp.Diff(tt.text, ta.Text); diff != "" {
				t.Errorf("text (-want +got):\n%s", diff)
			}
			if tt.shape != nil {
				if diff := cmp.Diff(tt.shape, shapeOf(ta)); diff != "" {
					t.Errorf("shape (-want +got):\n%s", diff)
				}
			}
			if p := ta.Pages[0]; p.Width != 612 || p.Height != 792 {
				t.Errorf("page size %dx%d", p.Width, p.Height)
			}
		})
	}
}

func shapeOf(ta *visionpb.TextAnnotation) [][]int {
	out := [][]int{}
	for _, b := range ta.Pages[0].Blocks {
		var ps []int
		for _, p := range b.Paragraphs {
			ps = append(ps, len(p.Words))
		}
		out = append(out, ps)
	}
	return out
}

func TestBreaks(t *testing.T) {
	ta := BuildTextAnnotation(&Page{Width: 612, Height: 792, Chars: typeset(
		tl{72, 700, "an impor-"}, tl{72, 688, "tant word"}, tl{72, 640, "end"})})
	checkInvariants(t, ta)
	type sym struct {
		Text  string
		Break string
	}
	var got []sym
	for _, b := range ta.Pages[0].Blocks {
		for _, p := range b.Paragraphs {
			for _, w := range p.Words {
				last := w.Symbols[len(w.Symbols)-1]
				got = append(got, sym{wordText(w), last.GetProperty().GetDetectedBreak().GetType().String()})
			}
		}
	}
	want := []sym{{"an", "SPACE"}, {"impor", "HYPHEN"}, {"tant", "SPACE"}, {"word", "LINE_BREAK"}, {"end", "LINE_BREAK"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("words and breaks (-want +got):\n%s", diff)
	}
}

func TestBoxes(t *testing.T) {
	// One word "ab" at x 100..112, baseline 692 on a 200x800 page.
	ta := BuildTextAnnotation(&Page{Width: 200, Height: 800, Chars: []Char{
		{Rune: 'a', Box: Rect{Left: 100, Bottom: 692, Right: 106, Top: 700}},
		{Rune: 'b', Box: Rect{Left: 106, Bottom: 692, Right: 112, Top: 700}},
	}})
	checkInvariants(t, ta)
	w := ta.Pages[0].Blocks[0].Paragraphs[0].Words[0]
	want := []*visionpb.NormalizedVertex{{X: 0.5, Y: 0.125}, {X: 0.56, Y: 0.125}, {X: 0.56, Y: 0.135}, {X: 0.5, Y: 0.135}}
	if diff := cmp.Diff(want, w.BoundingBox.NormalizedVertices, cmp.Comparer(func(a, b *visionpb.NormalizedVertex) bool {
		return math.Abs(float64(a.X-b.X)) < 1e-6 && math.Abs(float64(a.Y-b.Y)) < 1e-6
	})); diff != "" {
		t.Errorf("word box (-want +got):\n%s", diff)
	}
}

func TestRotatedText(t *testing.T) {
	// "Up" written bottom to top (90° CCW) at x=50 and "Down" top to bottom
	// (270°), plus garbage angles and boxes: nothing may crash, boxes stay
	// in [0,1] and each word reads in its own direction.
	var cs []Char
	for i, r := range "Up" {
		y := 100 + float64(i)*6
		cs = append(cs, Char{Rune: r, Angle: math.Pi / 2, Box: Rect{Left: 43, Bottom: y, Right: 50, Top: y + 6}})
	}
	for i, r := range "Down" {
		y := 700 - float64(i)*6
		cs = append(cs, Char{Rune: r, Angle: 3 * math.Pi / 2, Box: Rect{Left: 500, Bottom: y - 6, Right: 507, Top: y}})
	}
	cs = append(cs,
		Char{Rune: 'x', Angle: math.NaN(), Box: Rect{Left: 1, Bottom: 1, Right: 2, Top: 2}},
		Char{Rune: 'y', Angle: 0.7, Box: Rect{Left: -50, Bottom: -50, Right: 5000, Top: 5000}},
		Char{Rune: 'z', Box: Rect{Left: math.Inf(1), Bottom: 0, Right: 1, Top: 1}},
		Char{Rune: 'w', Box: Rect{Left: 10, Bottom: 10, Right: 5, Top: 5}},
	)
	ta := BuildTextAnnotation(&Page{Width: 612, Height: 792, Chars: cs})
	checkInvariants(t, ta)
	var words []string
	for _, e := range TextAnnotations(ta)[1:] {
		words = append(words, e.Description)
	}
	for _, w := range []string{"Up", "Down"} {
		found := false
		for _, g := range words {
			found = found || g == w
		}
		if !found {
			t.Errorf("word %q not found in %q", w, words)
		}
	}
	// "Up" runs upwards: its first vertex (top-left in reading order) is at
	// the bottom left of the page-space box.
	for _, b := range ta.Pages[0].Blocks {
		w := b.Paragraphs[0].Words[0]
		if wordText(w) != "Up" {
			continue
		}
		v := w.BoundingBox.NormalizedVertices[0]
		if v.X > 0.08 || v.Y < 0.85 {
			t.Errorf("Up: first vertex %v, want near the bottom left (43/612, 1-100/792)", v)
		}
	}
}

func TestTextAnnotations(t *testing.T) {
	ta := BuildTextAnnotation(&Page{Width: 612, Height: 792, Chars: typeset(tl{72, 700, "Hello world"})})
	got := TextAnnotations(ta)
	if len(got) != 3 {
		t.Fatalf("got %d annotations, want 3", len(got))
	}
	if got[0].Description != "Hello world\n" || got[1].Description != "Hello" || got[2].Description != "world" {
		t.Errorf("descriptions %q %q %q", got[0].Description, got[1].Description, got[2].Description)
	}
	for _, e := range got {
		if n := len(e.BoundingPoly.GetNormalizedVertices()); n != 4 {
			t.Errorf("%q: %d vertices", e.Description, n)
		}
	}
	if TextAnnotations(BuildTextAnnotation(&Page{Width: 1, Height: 1})) != nil {
		t.Errorf("empty page: want nil")
	}
}

func TestAnnotatePage(t *testing.T) {
	text := &Page{Number: 3, Width: 612, Height: 792, Chars: typeset(tl{72, 700, "Hi there"})}
	blank := &Page{Number: 7, Width: 612, Height: 792, Chars: []Char{{Rune: ' '}}}
	feat := func(ts ...visionpb.Feature_Type) []*visionpb.Feature {
		var fs []*visionpb.Feature
		for _, t := range ts {
			fs = append(fs, &visionpb.Feature{Type: t})
		}
		return fs
	}
	const uri = "gs://b/in.pdf"
	tests := []struct {
		name      string
		page      *Page
		features  []*visionpb.Feature
		full      bool
		textAnn   bool
		errCode   int32
		errSubstr string
	}{
		{"document text", text, feat(visionpb.Feature_DOCUMENT_TEXT_DETECTION), true, false, 0, ""},
		{"text", text, feat(visionpb.Feature_TEXT_DETECTION), true, true, 0, ""},
		{"both", text, feat(visionpb.Feature_TEXT_DETECTION, visionpb.Feature_DOCUMENT_TEXT_DETECTION), true, true, 0, ""},
		{"no text layer", blank, feat(visionpb.Feature_DOCUMENT_TEXT_DETECTION), false, false, 12, "page 7 has no text layer and OCR is not enabled"},
		{"unsupported", text, feat(visionpb.Feature_LABEL_DETECTION), false, false, 12, "LABEL_DETECTION is not implemented by Folio"},
		{"two unsupported, deduplicated", text, feat(visionpb.Feature_LABEL_DETECTION, visionpb.Feature_FACE_DETECTION, visionpb.Feature_LABEL_DETECTION), false, false, 12, "LABEL_DETECTION, FACE_DETECTION are not implemented by Folio"},
		{"mixed", text, feat(visionpb.Feature_DOCUMENT_TEXT_DETECTION, visionpb.Feature_LOGO_DETECTION), true, false, 12, "LOGO_DETECTION is not implemented by Folio"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := AnnotatePage(tt.page, tt.features, uri)
			if diff := cmp.Diff(&visionpb.ImageAnnotationContext{Uri: uri, PageNumber: int32(tt.page.Number)}, r.Context, cmpProto); diff != "" {
				t.Errorf("context (-want +got):\n%s", diff)
			}
			if got := len(r.GetFullTextAnnotation().GetPages()) > 0; got != tt.full {
				t.Errorf("fullTextAnnotation filled = %v, want %v", got, tt.full)
			}
			if got := len(r.TextAnnotations) > 0; got != tt.textAnn {
				t.Errorf("textAnnotations filled = %v, want %v", got, tt.textAnn)
			}
			if r.GetError().GetCode() != tt.errCode || !strings.Contains(r.GetError().GetMessage(), tt.errSubstr) {
				t.Errorf("error = %v, want code %d containing %q", r.GetError(), tt.errCode, tt.errSubstr)
			}
			if tt.full {
				checkInvariants(t, r.FullTextAnnotation)
			}
		})
	}
}

func BenchmarkBuildTextAnnotation(b *testing.B) {
	var lines []tl
	for i := range 50 {
		lines = append(lines, tl{72, 740 - float64(i)*13, "The quick brown fox jumps over the lazy dog again."})
	}
	p := &Page{Number: 1, Width: 612, Height: 792, Chars: typeset(lines...)}
	b.ReportAllocs()
	for b.Loop() {
		BuildTextAnnotation(p)
	}
}

var cmpProto = cmp.Comparer(func(a, b *visionpb.ImageAnnotationContext) bool {
	return a.GetUri() == b.GetUri() && a.GetPageNumber() == b.GetPageNumber()
})

func TestLetterSpacedLine(t *testing.T) {
	// An index entry with tight dot leaders, every character a word of its
	// own: pdftotext joins the evenly spaced dots into one run and keeps
	// the wider gaps around them. A line with longer words keeps its
	// spaces.
	var cs []Char
	add := func(r rune, x, w float64) {
		cs = append(cs, Char{Rune: r, Box: Rect{Left: x, Bottom: 500, Right: x + w, Top: 507}})
		cs = append(cs, Char{Rune: ' ', Box: Rect{Left: x + w + 0.5, Bottom: 500, Right: x + w + 0.5, Top: 500}})
	}
	add('?', 100, 4)
	for i := range 10 {
		add('.', 109+float64(i)*4, 1)
	}
	add('4', 155, 4)
	for i, w := range []string{"ab", ".", ".", ".", "9"} {
		for j, r := range w {
			x := 100 + float64(i)*12 + float64(j)*5
			cs = append(cs, Char{Rune: r, Box: Rect{Left: x, Bottom: 480, Right: x + 4, Top: 487}})
		}
		cs = append(cs, Char{Rune: ' ', Box: Rect{Left: 0, Bottom: 480, Right: 0, Top: 480}})
	}
	ta := BuildTextAnnotation(&Page{Width: 612, Height: 792, Chars: cs})
	checkInvariants(t, ta)
	if want := "? .......... 4\nab . . . 9\n"; ta.Text != want {
		t.Errorf("text %q, want %q", ta.Text, want)
	}
}

func TestPDFRotatedRuns(t *testing.T) {
	// Text drawn at 90° and 270° through PDFium: each run reads in its own
	// direction, not reversed (PDFium reports glyph angles clockwise).
	p := firstPage(t, openBytes, makePDF(genPage{Width: 600, Height: 800, Runs: []textRun{
		{X: 100, Y: 700, Text: "Upright line"},
		{X: 60, Y: 300, Text: "Relative Frequency", Angle: 90},
		{X: 540, Y: 500, Text: "Going down", Angle: 270},
	}}))
	ta := BuildTextAnnotation(p)
	checkInvariants(t, ta)
	for _, want := range []string{"Upright line\n", "Relative Frequency\n", "Going down\n"} {
		if !strings.Contains(ta.Text, want) {
			t.Errorf("text %q lacks %q", ta.Text, want)
		}
	}
}
