package pipeline

import (
	"math"
	"strings"
	"testing"
)

// face sets text in a font whose glyph heights vary by class, as real fonts'
// do: x-height letters are 0.45 em tall, capitals, digits and ascenders
// 0.69 em times capScale (about 0.88 for a typewriter face next to a roman
// one), descenders reach 0.2 em below the baseline. Each glyph advances
// 0.5 em; a space is a char with an empty box.
func face(x, base, size, capScale float64, text string) []Char {
	var cs []Char
	for _, r := range text {
		top, bottom := 0.69*size*capScale, 0.0
		switch {
		case r == ' ':
			cs = append(cs, Char{Rune: r, Box: Rect{Left: x, Bottom: base, Right: x, Top: base}})
			x += 0.5 * size
			continue
		case strings.ContainsRune("acemnorsuvwxz", r):
			top = 0.45 * size
		case strings.ContainsRune("gpqy", r):
			top, bottom = 0.45*size, -0.2*size
		case r == '.':
			top = 0.1 * size
		}
		cs = append(cs, Char{Rune: r, Box: Rect{Left: x + 0.05*size, Bottom: base + bottom, Right: x + 0.45*size, Top: base + top}})
		x += 0.5 * size
	}
	return append(cs, Char{Rune: '\n', Box: Rect{Left: x, Bottom: base, Right: x, Top: base}})
}

// glyphsOf turns chars into frame glyphs the way BuildTextAnnotation does
// for upright text.
func glyphsOf(cs []Char) []glyph {
	var gs []glyph
	for _, c := range cs {
		if isBreakRune(c.Rune) {
			if len(gs) > 0 {
				gs[len(gs)-1].spaceAfter = true
			}
			continue
		}
		gs = append(gs, glyph{r: c.Rune, box: c.Box, idx: len(gs)})
	}
	return gs
}

func TestMetricsPreferXHeight(t *testing.T) {
	// Capitals of a typewriter face are shorter than a roman face's: the
	// size comes from the x-height letters when there are any, and is
	// marked unsure when there are none.
	tests := []struct {
		name     string
		text     string
		capScale float64
		wantEm   float64
		wantSure bool
	}{
		{"roman word", "Hello", 1, 10, true},
		{"typewriter word with capitals", "SEXP call", 0.88, 10, true},
		{"typewriter capitals only", "M_E", 0.88, 8.8, false},
		{"digits only", "2.7182818", 0.88, 9.2, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			em, _, sure, ok := metrics(glyphsOf(face(100, 500, 10, tc.capScale, tc.text)), false)
			if !ok || math.Abs(em-tc.wantEm) > 0.1 || sure != tc.wantSure {
				t.Errorf("em %.2f sure %v ok %v, want em %.2f sure %v", em, sure, ok, tc.wantEm, tc.wantSure)
			}
		})
	}
}

func TestBorrowLineSizes(t *testing.T) {
	// A piece sized on capitals or digits only takes the size of the
	// nearest piece on its baseline measured on x-height letters, when the
	// two are close; otherwise it keeps its own.
	mk := func(x0, base, em float64, sure bool) *frag {
		f := &frag{x0: x0, x1: x0 + 20, base: base, sure: sure}
		f.setSize(em)
		return f
	}
	tests := []struct {
		name   string
		frags  []*frag
		wantEm float64 // of the first piece
	}{
		{"same baseline, close size", []*frag{mk(100, 500, 8.8, false), mk(200, 500, 10, true)}, 10},
		{"nearest of two", []*frag{mk(100, 500, 8.8, false), mk(300, 500, 9.5, true), mk(150, 500, 10, true)}, 10},
		{"both unsure", []*frag{mk(100, 500, 8.8, false), mk(200, 500, 10, false)}, 8.8},
		{"other baseline", []*frag{mk(100, 500, 8.8, false), mk(200, 505, 10, true)}, 8.8},
		{"size too far apart", []*frag{mk(100, 500, 14, false), mk(200, 500, 10, true)}, 14},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			first := tc.frags[0]
			borrowLineSizes(tc.frags)
			if math.Abs(first.em-tc.wantEm) > 1e-9 {
				t.Errorf("em %.2f, want %.2f", first.em, tc.wantEm)
			}
			if want := first.base - fontAscent*first.em; first.y0 != want {
				t.Errorf("font box top %.2f, want %.2f", first.y0, want)
			}
		})
	}
}

func TestBorrowGuessedSizes(t *testing.T) {
	// A piece with no glyph of a known class (an underscore, leader dots
	// after an accent) takes the size and baseline of a sized neighbour
	// on its line, and passes them along a leader; one with no neighbour
	// within word spacing keeps its guess.
	measured := func(x0, base float64) *frag {
		f := &frag{x0: x0, x1: x0 + 20, base: base}
		f.setSize(10)
		return f
	}
	dot := func(x0, base float64) *frag {
		f := &frag{x0: x0, x1: x0 + 1, base: base, guessed: true}
		f.setSize(1.4)
		return f
	}
	tests := []struct {
		name     string
		frags    []*frag
		wantEm   float64 // of every guessed piece
		wantBase float64
	}{
		{"underscore before a word", []*frag{dot(96, 501), measured(100, 500)}, 10, 500},
		{"leader dots from the page number", []*frag{dot(100, 500.2), dot(104, 500.2), dot(108, 500.2), dot(112, 500.2), measured(118, 500)}, 10, 500},
		{"leader dots from the entry", []*frag{measured(80, 500), dot(104, 500.2), dot(108, 500.2)}, 10, 500},
		{"alone on its line", []*frag{dot(100, 500.2), measured(200, 500)}, 1.4, 500.2},
		{"a line away", []*frag{dot(100, 500.2), measured(104, 512)}, 1.4, 500.2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var dots []*frag
			for _, f := range tc.frags {
				if f.guessed {
					dots = append(dots, f)
				}
			}
			borrowLineSizes(tc.frags)
			for _, f := range dots {
				if f.em != tc.wantEm || f.base != tc.wantBase {
					t.Errorf("piece at %.0f: em %.2f base %.2f, want %.2f %.2f", f.x0, f.em, f.base, tc.wantEm, tc.wantBase)
				}
			}
		})
	}
}

func TestIndexEntryAfterAccent(t *testing.T) {
	// An index entry whose name is an accent or an underscore, drawn apart
	// from the letters: its leader dots and page number stay on its line,
	// in one block with the entries around it, as in pdftotext.
	const size = 9
	var cs []Char
	cs = append(cs, face(90, 600, size, 1, "abline . . . . . . . 9")...)
	cs = append(cs, Char{Rune: '^', Box: Rect{Left: 90.5, Bottom: 590 + 0.45*size, Right: 94, Top: 590 + 0.7*size}})
	for i := range 7 {
		x := 90 + float64(i+1)*2*0.5*size
		cs = append(cs, Char{Rune: ' ', Box: Rect{Left: x - 2, Bottom: 590, Right: x - 2, Top: 590}},
			Char{Rune: '.', Box: Rect{Left: x + 0.2*size, Bottom: 590, Right: x + 0.3*size, Top: 590 + 0.1*size}})
	}
	cs = append(cs, Char{Rune: ' ', Box: Rect{Left: 160, Bottom: 590, Right: 160, Top: 590}})
	cs = append(cs, face(90+16*0.5*size, 590, size, 1, "9")...)
	cs = append(cs, face(90, 580, size, 1, "arrays . . . . . . . 12")...)
	ta := BuildTextAnnotation(&Page{Width: 612, Height: 792, Chars: cs})
	checkInvariants(t, ta)
	want := "abline . . . . . . . 9\n^ . . . . . . . 9\narrays . . . . . . . 12\n"
	if ta.Text != want {
		t.Errorf("text %q, want %q", ta.Text, want)
	}
}

func TestTableWithTypewriterColumn(t *testing.T) {
	// A table whose first and last columns are set in a typewriter face
	// (capitals and digits only) above a paragraph, as texinfo's
	// multitables are: pdftotext knows all are one size, grows one block
	// through the paragraph and reads the table row by row, cell by cell.
	const size = 11
	var cs []Char
	rows := [][3]string{{"M_E", "e", "2.7182818"}, {"M_LOG2E", "log2 (e)", "1.4426950"}, {"M_LN2", "ln 2", "0.6931472"}}
	base := 600.0
	for _, r := range rows {
		cs = append(cs, face(118, base, size, 0.88, r[0])...)
		cs = append(cs, face(220, base, size, 1, r[1])...)
		cs = append(cs, face(350, base, size, 0.88, r[2])...)
		base -= 13.1
	}
	base -= 2.8
	cs = append(cs, face(90, base, size, 1, "There are some more constants here in a header of their own which is included")...)
	cs = append(cs, face(90, base-13.1, size, 1, "header file of their own.")...)
	ta := BuildTextAnnotation(&Page{Width: 612, Height: 792, Chars: cs})
	checkInvariants(t, ta)
	want := "M_E\ne\n2.7182818\nM_LOG2E\nlog2 (e)\n1.4426950\nM_LN2\nln 2\n0.6931472\n" +
		"There are some more constants here in a header of their own which is included\nheader file of their own.\n"
	if ta.Text != want {
		t.Errorf("text %q, want %q", ta.Text, want)
	}
}

func TestSizeChangeSplitsBlocks(t *testing.T) {
	// Lines measured on x-height letters are compared closely: a heading
	// 7% larger than the text under it is a block of its own, as in
	// pdftotext, while lines of one size stay together.
	var cs []Char
	cs = append(cs, face(90, 700, 10.7, 1, "void sort some more words")...)
	cs = append(cs, face(90, 687, 10, 1, "These routines sort and more")...)
	cs = append(cs, face(90, 674, 10, 1, "and some more words")...)
	ta := BuildTextAnnotation(&Page{Width: 612, Height: 792, Chars: cs})
	checkInvariants(t, ta)
	if n := len(ta.Pages[0].Blocks); n != 2 {
		t.Errorf("%d blocks, want 2 (heading, text): %q", n, ta.Text)
	}
}

func TestTableRowOnNearlyOneBaseline(t *testing.T) {
	// The cells of a table row in different faces come out with baselines
	// a few hundredths of an em apart: pdftotext, which sees one baseline,
	// reads them left to right.
	const size = 10
	var cs []Char
	cs = append(cs, face(90, 600, size, 1, "beta")...)
	cs = append(cs, face(200, 600.4, size, 0.88, "dbeta")...)
	cs = append(cs, face(300, 599.7, size, 0.88, "shape1")...)
	cs = append(cs, face(90, 587, size, 1, "and a line of prose below that runs under the whole table")...)
	ta := BuildTextAnnotation(&Page{Width: 612, Height: 792, Chars: cs})
	checkInvariants(t, ta)
	want := "beta\ndbeta\nshape1\nand a line of prose below that runs under the whole table\n"
	if ta.Text != want {
		t.Errorf("text %q, want %q", ta.Text, want)
	}
}

func TestFlatFont(t *testing.T) {
	// A font is flat, its x-height telling nothing of its size, when its
	// x-height letters are about as tall as its capitals and ascenders.
	// Each line compares its own letters: a page of 9 pt words without
	// ascenders over 6 pt notes with them is not flat, though its tallest
	// x-height letters outgrow its shortest capitals.
	lines := func(ls ...[]Char) []glyph {
		var cs []Char
		for _, l := range ls {
			cs = append(cs, l...)
		}
		return glyphsOf(cs)
	}
	tests := []struct {
		name string
		gs   []glyph
		want bool
	}{
		{"one face", lines(face(72, 700, 10, 1, "Some example text")), false},
		{"x-height letters as tall as capitals", lines(face(72, 700, 10, 0.6, "Some example text")), true},
		{"no ascenders or capitals", lines(face(72, 700, 10, 1, "some error")), true},
		{"9 pt words over 6 pt notes", lines(
			face(72, 700, 9, 1, "overview overview"),
			face(72, 690, 6, 1, "(Graphite: lldt=1)"),
			face(72, 670, 9, 1, "overview overview"),
			face(72, 660, 6, 1, "(Graphite: fdot=1)"),
		), false},
	}
	for _, tc := range tests {
		if got := flatFont(runs(tc.gs)); got != tc.want {
			t.Errorf("%s: flat %v, want %v", tc.name, got, tc.want)
		}
	}
}

// faceOf sets text as face does, in a face whose x-height letters are
// xHeight em tall, its capitals and digits capHeight and its ascenders
// ascender.
func faceOf(x, base, size, xHeight, capHeight, ascender float64, text string) []Char {
	cs := face(x, base, size, 1, text)
	for i := range cs {
		r := cs[i].Rune
		switch ratio, _ := emRatio(r); {
		case ratio == xHeightRatio:
			cs[i].Box.Top = base + xHeight*size
		case strings.ContainsRune("bdhkl", r):
			cs[i].Box.Top = base + ascender*size
		case ratio >= 0.66:
			cs[i].Box.Top = base + capHeight*size
		}
	}
	return cs
}

func TestTypewriterCodeIsItsOwnSize(t *testing.T) {
	// LibreOffice sets prose in a roman face (Liberation Serif) at 12 pt
	// and code in a typewriter face (Liberation Mono) at 10 pt, whose
	// taller x-height (0.547 against 0.478) the document's one ratio would
	// size at 12 pt, the prose's:
	// pdftotext, knowing each glyph's size, makes the code a block of
	// its own, as its styles do.
	var cs []Char
	for i, l := range []string{"Awk is frequently used to extract data", "from these types of files as shown below"} {
		cs = append(cs, faceOf(72, 700-14*float64(i), 12, 0.478, 0.67, 0.694, l)...)
	}
	for i, l := range []string{"awk some code for our examples", "and more code in a typewriter face", "more code to come"} {
		cs = append(cs, faceOf(72, 670-11.3*float64(i), 10, 0.547, 0.659, 0.73, l)...)
	}
	for _, c := range []struct {
		name   string
		fonts  *Fonts
		blocks int
	}{
		{"styles", officeFonts, 2},
		{"one ratio", &Fonts{Sizes: officeFonts.Sizes, XHeight: officeFonts.XHeight}, 1},
	} {
		ta := BuildTextAnnotation(&Page{Width: 612, Height: 792, Chars: cs, Fonts: c.fonts})
		checkInvariants(t, ta)
		if n := len(ta.Pages[0].Blocks); n != c.blocks {
			t.Errorf("%s: %d blocks, want %d:\n%s", c.name, n, c.blocks, ta.Text)
		}
	}
}

func TestGrows(t *testing.T) {
	g := func(r rune, h float64) *glyph { return &glyph{r: r, box: Rect{Bottom: 0, Top: h}} }
	for _, c := range []struct {
		name   string
		a, b   *glyph
		xRatio float64
		want   bool
	}{
		{"footnote mark before a word", g('1', 0.66*7), g('U', 0.69*10), xHeightRatio, true},
		{"same, among tall x-heights", g('1', 0.66*7), g('U', 0.69*10), 0.547, true},
		{"exponent after its base", g('2', 0.66*10), g('3', 0.66*7), xHeightRatio, false},
		{"typewriter I then a, sized as a roman face", g('I', 0.659*10), g('a', 0.547*10), xHeightRatio, true},
		{"typewriter I then a, among tall x-heights", g('I', 0.659*10), g('a', 0.547*10), 0.547, false},
		{"no class", g('(', 9), g('a', 5), xHeightRatio, false},
	} {
		if got := grows(c.a, c.b, c.xRatio); got != c.want {
			t.Errorf("%s: grows = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestCommaKeepsItsWord(t *testing.T) {
	// A table row whose cells a producer writes in one run of the content
	// stream, the second cell set 6 pt lower: the run's size and base are
	// the first cell's. A comma after a digit is cut from the digit's
	// piece (it sits low), and with nothing to measure it took the run's
	// base, a line above its word; it takes its word's.
	cs := face(72, 700, 10, 1, "supplicant for wireless")
	cs = append(cs[:len(cs)-1], Char{Rune: ' ', Box: Rect{Left: 187, Bottom: 700, Right: 187, Top: 700}})
	cs = append(cs, face(195, 694, 10, 1, "V:363")...)
	cs = cs[:len(cs)-1] // no break before the comma
	cs = append(cs, Char{Rune: ',', Box: Rect{Left: 220.5, Bottom: 692.5, Right: 222, Top: 695}})
	cs = append(cs, Char{Rune: ' ', Box: Rect{Left: 222.5, Bottom: 694, Right: 222.5, Top: 694}})
	cs = append(cs, face(225, 694, 10, 1, "I:428")...)
	ta := BuildTextAnnotation(&Page{Width: 612, Height: 792, Chars: cs})
	checkInvariants(t, ta)
	if want := "supplicant for wireless\nV:363, I:428\n"; ta.Text != want {
		t.Errorf("text %q, want %q", ta.Text, want)
	}
}
