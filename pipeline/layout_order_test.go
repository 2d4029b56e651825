package pipeline

import (
	"math"
	"testing"
)

func TestNavigationBarLevelTops(t *testing.T) {
	// A slide's navigation bar: labels on one baseline, the second drawn
	// a hair higher, and below them a word that widens both labels' boxes
	// until they overlap. pdftotext gives the labels the same top and reads
	// them left to right; a 0.3 pt difference must not make the second
	// label "above" the first.
	const size = 7
	var cs []Char
	cs = append(cs, face(10, 700, size, 1, "Introduction")...)
	cs = append(cs, face(90, 700.3, size, 1, "Bad News")...)
	cs = append(cs, face(60, 600, 11, 1, "max")...)
	ta := BuildTextAnnotation(&Page{Width: 400, Height: 800, Chars: cs})
	checkInvariants(t, ta)
	want := "Introduction\nBad News\nmax\n"
	if ta.Text != want {
		t.Errorf("text %q, want %q", ta.Text, want)
	}
}

func TestTurnedLabelsReadUpwards(t *testing.T) {
	// A plot's y-axis tick labels, each written bottom to top and stacked
	// up the axis: pdftotext compares turned blocks along their own
	// reading direction, so the lowest label comes first, and the labels
	// before the paragraph above them (what pdftotext prints for this page
	// made as a PDF).
	cs := typeset(tl{72, 700, "Text above the plot"})
	for k, label := range []string{"0.5", "0.6", "0.7"} {
		for i, r := range label {
			y := 300 + float64(k)*60 + float64(i)*6
			cs = append(cs, Char{Rune: r, Angle: math.Pi / 2, Box: Rect{Left: 100, Bottom: y, Right: 107, Top: y + 6}})
		}
	}
	cs = append(cs, typeset(tl{72, 100, "Text below the plot"})...)
	ta := BuildTextAnnotation(&Page{Width: 612, Height: 792, Chars: cs})
	checkInvariants(t, ta)
	if want := "0.5\n0.6\n0.7\nText above the plot\nText below the plot\n"; ta.Text != want {
		t.Errorf("text %q, want %q", ta.Text, want)
	}
}

func TestTableNotesStayInTheirColumn(t *testing.T) {
	// A LibreOffice table (the Padauk manual's): each first-column cell
	// is a 9 pt name over a 6 pt note, and the cells beside it hold 10 pt
	// codes. The fonts are TrueType, whose boxes reach 0.905 em above the
	// baseline and 0.212 below, so each note's box touches the codes' on
	// its right and the note cannot reach across them: pdftotext reads the
	// first column down, then the codes row by row (what it prints for the
	// real page). With Computer Modern's shorter box the notes would
	// stretch over the codes and come after them.
	row := func(base float64, name, note, code string) []Char {
		cs := face(77.7, base, 9, 1, name)
		cs = append(cs, face(167.4, base-0.9, 10, 1, code)...)
		cs = append(cs, face(217.3, base-0.9, 10, 1, code)...)
		return append(cs, face(77.8, base-7.5, 6, 1, note)...)
	}
	cs := row(456.5, "Sgaw", "(Graphite: lldt=1)", "ksw")
	cs = append(cs, row(426.9, "Khamti", "(Graphite: fdot=1)", "kht")...)
	fonts := &Fonts{Sizes: []float64{6, 9, 10}, Ascent: 0.905, Descent: 0.212}
	ta := BuildTextAnnotation(&Page{Width: 842, Height: 595, Chars: cs, Fonts: fonts})
	checkInvariants(t, ta)
	want := "Sgaw\n(Graphite: lldt=1)\nKhamti\n(Graphite: fdot=1)\nksw\nksw\nkht\nkht\n"
	if ta.Text != want {
		t.Errorf("text %q, want %q", ta.Text, want)
	}
}
