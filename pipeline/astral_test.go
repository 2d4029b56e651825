package pipeline

import (
	"fmt"
	"strings"
	"testing"

	"github.com/folio-ocr/folio/internal/pdfgen"
)

// astralPDF is a page of Helvetica whose ToUnicode CMap maps "a" to U+1D44E
// (MATHEMATICAL ITALIC SMALL A, as unicode-math typesets) and "b" to
// U+1F600, both beyond the BMP; the page shows "x ab? y".
func astralPDF() []byte {
	return cmapPDF("x ab? y", "<20> <0020>", "<3F> <003F>", "<61> <D835DC4E>", "<62> <D83DDE00>", "<78> <0078>", "<79> <0079>")
}

// cmapPDF is a page of Helvetica showing text, whose ToUnicode CMap maps
// codes to UTF-16BE as bfchar lines ("<61> <D835DC4E>") give.
func cmapPDF(text string, bfchar ...string) []byte {
	cmap := strings.Join(append(append([]string{
		"/CIDInit /ProcSet findresource begin 12 dict begin begincmap",
		"/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def",
		"/CMapName /Astral def /CMapType 2 def",
		"1 begincodespacerange <00> <FF> endcodespacerange",
		fmt.Sprintf("%d beginbfchar", len(bfchar)),
	}, bfchar...), "endbfchar endcmap CMapName currentdict /CMap defineresource pop end end"), "\n")
	content := "BT /F1 24 Tf 72 700 Td (" + text + ") Tj ET\n"
	return pdfgen.Raw([]string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding /ToUnicode 6 0 R >>",
		fmt.Sprintf("<< /Length %d >>\nstream\n%sendstream", len(content), content),
		fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(cmap)+1, cmap),
	})
}

// TestCharactersBeyondTheBMP: PDFium hands a character beyond the BMP over
// as its two UTF-16 surrogates; each engine gives it as one rune with the
// glyph's box, and the page's text reads as pdftotext's does.
func TestCharactersBeyondTheBMP(t *testing.T) {
	for name, open := range engines {
		t.Run(name, func(t *testing.T) {
			p := firstPage(t, open, astralPDF())
			var got []rune
			for _, c := range p.Chars {
				got = append(got, c.Rune)
			}
			if want := "x \U0001D44E\U0001F600? y"; strings.TrimSpace(string(got)) != want {
				t.Errorf("characters %q, want %q", string(got), want)
			}
			if p.Unmapped != 0 {
				t.Errorf("Unmapped = %d, want 0", p.Unmapped)
			}
			for _, c := range p.Chars {
				if c.Rune == 0x1D44E && !(c.Box.Right > c.Box.Left && c.Box.Top > c.Box.Bottom) {
					t.Errorf("U+1D44E has an empty box %+v", c.Box)
				}
			}
			if text := BuildTextAnnotation(p).GetText(); !strings.Contains(text, "\U0001D44E\U0001F600?") {
				t.Errorf("text %q lacks the joined characters", text)
			}
		})
	}
}

// TestLoneSurrogateStaysReplaced: a ToUnicode entry that maps a glyph to
// half a surrogate pair, or to the halves the wrong way round, is bad
// input: such a character stays U+FFFD, counted as unmapped, and its
// neighbours are not swallowed.
func TestLoneSurrogateStaysReplaced(t *testing.T) {
	pdf := cmapPDF("xabcy", "<61> <D835>", "<62> <DC4E>", "<63> <DC4ED835>", "<78> <0078>", "<79> <0079>")
	for name, open := range engines {
		t.Run(name, func(t *testing.T) {
			p := firstPage(t, open, pdf)
			var got []rune
			for _, c := range p.Chars {
				got = append(got, c.Rune)
			}
			s := strings.TrimSpace(string(got))
			if !strings.HasPrefix(s, "x") || !strings.HasSuffix(s, "y") || strings.ContainsFunc(s, func(r rune) bool { return r > 0xFFFF }) {
				t.Errorf("characters %q, want x, replacement characters only, y", s)
			}
			if p.Unmapped == 0 || p.Unmapped != strings.Count(s, "\uFFFD") {
				t.Errorf("Unmapped = %d for %q, want its %d replacement characters", p.Unmapped, s, strings.Count(s, "\uFFFD"))
			}
		})
	}
}
