package pipeline

import (
	"math"
	"strings"
	"testing"
)

// escape sets a backslash escape such as \" in a typewriter face: the
// backslash reaches from below the baseline to above the capitals, and
// neither glyph is of a class whose height tells the font size.
func escape(x, base, size float64, second rune) []Char {
	return []Char{
		{Rune: '\\', Box: Rect{Left: x + 0.1*size, Bottom: base - 0.15*size, Right: x + 0.42*size, Top: base + 0.62*size}},
		{Rune: second, Box: Rect{Left: x + 0.6*size, Bottom: base + 0.4*size, Right: x + 0.9*size, Top: base + 0.62*size}},
		{Rune: '\n', Box: Rect{Left: x + size, Bottom: base, Right: x + size, Top: base}},
	}
}

func TestGuessedSizeTakesBodySize(t *testing.T) {
	// A table of escapes, one a row 1.6 em apart, each beside its meaning
	// far to the right: the escapes' size, guessed from the backslash's
	// tall box, is some 10% too large, which would pull the rows into one
	// block read down the left column. With the body size pdftotext reads
	// from the font, every cell is a block of its own, read row by row.
	const size = 11
	var cs []Char
	base := 600.0
	for _, row := range []struct {
		r    rune
		text string
	}{{'"', "double quote"}, {'\'', "single quote"}, {'`', "back quote"}} {
		cs = append(cs, escape(90, base, size, row.r)...)
		cs = append(cs, face(150, base, size, 1, row.text)...)
		base -= 1.6 * size
	}
	ta := BuildTextAnnotation(&Page{Width: 612, Height: 792, Chars: cs})
	checkInvariants(t, ta)
	want := "\\\"\ndouble quote\n\\'\nsingle quote\n\\`\nback quote\n"
	if ta.Text != want {
		t.Errorf("text %q, want %q", ta.Text, want)
	}
}

func TestRoughSizeTakesBodySize(t *testing.T) {
	// A piece sized on digits or capitals only, with no piece measured on
	// x-height letters on its baseline (a column of numbers in a
	// typewriter face), takes the page's body size when within
	// sizeDeltaBody of it; a guessed one (no letter or digit) when within
	// sizeDeltaLoose; farther ones keep their own.
	mk := func(base, em float64, sure, guessed bool) *frag {
		f := &frag{x0: 100, x1: 120, base: base, sure: sure, guessed: guessed, gs: make([]glyph, 4)}
		f.setSize(em)
		return f
	}
	body := func() []*frag {
		return []*frag{mk(400, 11, true, false), mk(412, 11, true, false), mk(424, 9, true, false)}
	}
	tests := []struct {
		name   string
		f      *frag
		wantEm float64
	}{
		{"digits 6% small", mk(500, 10.4, false, false), 11},
		{"digits 12% small", mk(500, 9.7, false, false), 9.7},
		{"guess 10% large", mk(500, 12.1, false, true), 11},
		{"guess 30% large", mk(500, 14.3, false, true), 14.3},
		{"measured", mk(500, 10.4, true, false), 10.4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			borrowLineSizes(append(body(), tc.f))
			if math.Abs(tc.f.em-tc.wantEm) > 1e-9 {
				t.Errorf("em %.2f, want %.2f", tc.f.em, tc.wantEm)
			}
		})
	}
}

func TestIndexUnderscoreFindsItsLine(t *testing.T) {
	// A two-column index whose entries start with an underscore drawn on
	// its own just below the baseline, the lines full of leader dots: the
	// underscore takes the size and baseline of the entry's first word,
	// however many pieces the line holds, and stays at its head.
	const size = 8
	dots := strings.Repeat(" .", 20)
	var cs []Char
	base := 600.0
	for _, e := range []string{"R_CHECK_TIMINGS_", "R_CHECK_VC_DIRS_"} {
		cs = append(cs, Char{Rune: '_', Box: Rect{Left: 90.5, Bottom: base - 0.09*size, Right: 94.2, Top: base - 0.01*size}})
		cs = append(cs, face(94.9, base, size, 0.88, e+dots+" 55")...)
		cs = append(cs, face(350, base, size, 0.88, "LEVELS"+dots+" 3")...)
		base -= 1.3 * size
	}
	ta := BuildTextAnnotation(&Page{Width: 612, Height: 792, Chars: cs})
	checkInvariants(t, ta)
	want := "_R_CHECK_TIMINGS_" + dots + " 55\n_R_CHECK_VC_DIRS_" + dots + " 55\nLEVELS" + dots + " 3\nLEVELS" + dots + " 3\n"
	if ta.Text != want {
		t.Errorf("text %q, want %q", ta.Text, want)
	}
}

func TestEllipsisLineInCode(t *testing.T) {
	// "..." alone on a line of a code example, in a typewriter face whose
	// cells leave gaps of 0.4 em between the dots: dots are too short to
	// tell a size, so the piece takes the body size rather than one
	// guessed from its height, which made each gap look like a space.
	const size = 11
	var cs []Char
	cs = append(cs, face(90, 600, size, 1, "opreport -l stats.so")...)
	for k := range 3 {
		x := 90 + float64(k)*0.525*size
		cs = append(cs, Char{Rune: '.', Box: Rect{Left: x + 0.19*size, Bottom: 587, Right: x + 0.33*size, Top: 587 + 0.1*size}})
	}
	cs = append(cs, Char{Rune: '\n', Box: Rect{Left: 110, Bottom: 587, Right: 110, Top: 587}})
	cs = append(cs, face(90, 574, size, 1, "samples name")...)
	ta := BuildTextAnnotation(&Page{Width: 612, Height: 792, Chars: cs})
	checkInvariants(t, ta)
	want := "opreport -l stats.so\n...\nsamples name\n"
	if ta.Text != want {
		t.Errorf("text %q, want %q", ta.Text, want)
	}
}

func TestMarginNoteInBodyRun(t *testing.T) {
	// A margin note in a smaller size drawn, in content order, right
	// before the body line beside it, so that both fall in one run: the
	// note measures its own size on its x-height letters, as pdftotext
	// knows it, and its two lines make one block read as a whole rather
	// than its first line taking the body's size and parting from the
	// second.
	var cs []Char
	cs = append(cs, face(144, 700, 10.4, 1, "A family of commands is provided to allow users")...)
	cs = append(cs, face(144, 688, 10.4, 1, "enables information on separators and fonts")...)
	note := face(71, 676, 9, 1, "DeclareCaption")
	cs = append(cs, note[:len(note)-1]...)
	cs = append(cs, Char{Rune: ' ', Box: Rect{Left: 138, Bottom: 676, Right: 138, Top: 676}})
	cs = append(cs, face(144, 676, 10.4, 1, "You can define your own caption formats using the command")...)
	cs = append(cs, face(71, 666, 9, 1, "Format")...)
	cs = append(cs, face(165, 654, 10.4, 1, "DeclareCaptionFormat{name}{code}")...)
	ta := BuildTextAnnotation(&Page{Width: 612, Height: 792, Chars: cs})
	checkInvariants(t, ta)
	if !strings.Contains(ta.Text, "DeclareCaption\nFormat\n") {
		t.Errorf("text %q: the note's lines are apart", ta.Text)
	}
}

// TestLineBreakBeforeSuperscript: PDFium puts a line break (CR, LF)
// wherever the baseline moves, so between a letter and the prime raised
// right after it ("A′"). pdftotext, which spaces words by their gap, reads
// them as one word; a real gap, or a real space, still parts them.
func TestLineBreakBeforeSuperscript(t *testing.T) {
	const size = 11
	prime := func(gap float64, sep ...rune) []Char {
		a := Rect{Left: 100, Bottom: 500, Right: 100 + 0.6*size, Top: 500 + 0.69*size}
		cs := []Char{{Rune: 'A', Box: a}}
		for _, r := range sep {
			cs = append(cs, Char{Rune: r, Box: Rect{Left: a.Right, Bottom: 500, Right: a.Right, Top: 500}})
		}
		x := a.Right + gap*size
		cs = append(cs, Char{Rune: '′', Box: Rect{Left: x, Bottom: 500 + 0.39*size, Right: x + 0.18*size, Top: 500 + 0.77*size}})
		// Body text on the line, so that the letter has a size to go by.
		for i, r := range "sum" {
			l := 200 + float64(i)*0.55*size
			cs = append(cs, Char{Rune: r, Box: Rect{Left: l, Bottom: 500, Right: l + 0.5*size, Top: 500 + 0.45*size}})
		}
		return cs
	}
	for _, c := range []struct {
		name  string
		chars []Char
		want  string
	}{
		{"line break, touching", prime(0.05, '\r', '\n'), "A′"},
		{"line break, a gap", prime(0.3, '\r', '\n'), "A ′"},
		{"a space", prime(0.05, ' '), "A ′"},
	} {
		p := &Page{Number: 1, Width: 612, Height: 792, Chars: c.chars}
		if got := BuildTextAnnotation(p).GetText(); got != c.want+"\nsum\n" {
			t.Errorf("%s: text %q, want %q", c.name, got, c.want+"\nsum\n")
		}
	}
}

// TestMarkBeforeWord: an affiliation mark set as a superscript right
// before its word ("¹Universität") is a word of its own, as pdftotext reads
// it; an exponent right after its base ("2³¹") stays with it.
func TestMarkBeforeWord(t *testing.T) {
	const size, small = 10, 6
	glyph := func(r rune, x, w, h, lift float64) Char {
		return Char{Rune: r, Box: Rect{Left: x, Bottom: 500 + lift, Right: x + w, Top: 500 + lift + h}}
	}
	for _, c := range []struct {
		name  string
		chars []Char
		want  string
	}{
		{"mark before a word", []Char{
			glyph('1', 100, 0.3*small, 0.66*small, 0.4*size),
			glyph('U', 100+0.3*small+0.2*size, 0.7*size, 0.69*size, 0),
			glyph('n', 100+0.3*small+0.95*size, 0.5*size, 0.45*size, 0),
		}, "1 Un\n"},
		{"exponent after its base", []Char{
			glyph('2', 100, 0.5*size, 0.66*size, 0),
			glyph('3', 100+0.7*size, 0.3*small, 0.66*small, 0.4*size),
			glyph('1', 100+0.7*size+0.35*small, 0.3*small, 0.66*small, 0.4*size),
		}, "231\n"},
	} {
		p := &Page{Number: 1, Width: 612, Height: 792, Chars: c.chars}
		if got := BuildTextAnnotation(p).GetText(); got != c.want {
			t.Errorf("%s: text %q, want %q", c.name, got, c.want)
		}
	}
}

// TestAccentOverLetter: math's \hat drawn as a glyph of its own just above
// its letter, before or after it in content order, becomes the letter's
// combining mark ("Ω̂"), as pdftotext reads it, instead of a line of its
// own above the text; an accent with no letter under it, and ASCII's ^
// (code sets it beside letters), stay as they are.
func TestAccentOverLetter(t *testing.T) {
	const size = 10
	omega := Char{Rune: 'Ω', Box: Rect{Left: 100, Bottom: 500, Right: 107, Top: 507}}
	hat := func(r rune, x float64) Char {
		return Char{Rune: r, Box: Rect{Left: x + 2, Bottom: 508, Right: x + 5, Top: 510}}
	}
	tail := []Char{
		{Rune: ' ', Box: Rect{Left: 108, Bottom: 500, Right: 108, Top: 500}},
		{Rune: 'x', Box: Rect{Left: 110, Bottom: 500, Right: 115, Top: 504.5}},
	}
	for _, c := range []struct {
		name  string
		chars []Char
		want  string
	}{
		{"accent after its letter", append([]Char{omega, hat('ˆ', 100)}, tail...), "Ω\u0302 x\n"},
		{"accent before its letter", append([]Char{hat('˜', 100), omega}, tail...), "Ω\u0303 x\n"},
		{"ASCII caret", append([]Char{omega, hat('^', 100)}, tail...), "^\nΩ x\n"},
		{"accent over a ligature", append([]Char{{Rune: '\ufb01', Box: omega.Box}, hat('ˆ', 100)}, tail...), "fi\u0302 x\n"},
		{"no letter under it", append([]Char{omega, hat('ˆ', 140)}, tail...), "ˆ\nΩ x\n"},
	} {
		p := &Page{Number: 1, Width: 612, Height: 792, Chars: c.chars}
		if got := BuildTextAnnotation(p).GetText(); got != c.want {
			t.Errorf("%s: text %q, want %q", c.name, got, c.want)
		}
	}
}
