package pipeline

import (
	"math"
	"testing"
)

func TestOffPageTextDropped(t *testing.T) {
	// Text parked wholly outside the page (hidden slide overlays) is
	// dropped, as pdftotext drops it; text straddling the edge stays, and
	// a page of unknown size keeps everything.
	tests := []struct {
		name  string
		w, h  float64
		chars []Char
		want  string
	}{
		{"far right", 612, 792, append(typeset(tl{72, 700, "shown"}), typeset(tl{4000, 700, "hidden"})...), "shown\n"},
		{"below", 612, 792, append(typeset(tl{72, 700, "shown"}), typeset(tl{72, -50, "hidden"})...), "shown\n"},
		{"straddling the edge", 612, 792, typeset(tl{590, 700, "edge"}), "edge\n"},
		{"unknown page size", 0, 0, typeset(tl{4000, 700, "kept"}), "kept\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ta := BuildTextAnnotation(&Page{Width: tc.w, Height: tc.h, Chars: tc.chars})
			checkInvariants(t, ta)
			if ta.Text != tc.want {
				t.Errorf("text %q, want %q", ta.Text, tc.want)
			}
		})
	}
}

func TestRotatedLabelInReadingOrder(t *testing.T) {
	// A label written bottom to top between two upright paragraphs (a
	// plot's axis title) is ordered with the upright blocks, not after
	// them all. pdftotext compares a turned block with the others along
	// its own reading direction (upwards), which puts it before the
	// paragraph above it: pdftotext prints this very page (made as a PDF
	// with the label's text matrix turned a quarter left) label first.
	cs := typeset(tl{72, 700, "Text above the plot"})
	for i, r := range "Quantiles" {
		y := 400 + float64(i)*6
		cs = append(cs, Char{Rune: r, Angle: math.Pi / 2, Box: Rect{Left: 100, Bottom: y, Right: 107, Top: y + 6}})
	}
	cs = append(cs, typeset(tl{72, 100, "Text below the plot"})...)
	ta := BuildTextAnnotation(&Page{Width: 612, Height: 792, Chars: cs})
	checkInvariants(t, ta)
	if want := "Quantiles\nText above the plot\nText below the plot\n"; ta.Text != want {
		t.Errorf("text %q, want %q", ta.Text, want)
	}
}
