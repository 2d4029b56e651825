package pipeline

import (
	"bytes"
	"fmt"
	"strings"
)

// Test PDFs are generated here, not committed, except for
// testdata/encrypted.pdf, which needs qpdf (see TestEncryptedFixture).

// textRun is one line of Helvetica text on a generated page.
type textRun struct {
	X, Y  float64 // baseline start, PDF points
	Size  float64 // font size; 0 means 12
	Text  string  // ASCII
	Angle int     // degrees, counter-clockwise; 0, 90, 180 or 270
}

// genPage describes one generated page.
type genPage struct {
	Width, Height float64 // 0 means US Letter
	Rotate        int     // /Rotate
	Runs          []textRun
}

// makePDF writes a minimal, valid PDF 1.4 file with the given pages.
func makePDF(pages ...genPage) []byte {
	var objs []string // object i+1
	add := func(s string) int { objs = append(objs, s); return len(objs) }
	catalog := add("") // filled below
	pagesObj := add("")
	font := add("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
	var kids []string
	for _, p := range pages {
		w, h := p.Width, p.Height
		if w == 0 {
			w, h = 612, 792
		}
		var cs strings.Builder
		for _, r := range p.Runs {
			size := r.Size
			if size == 0 {
				size = 12
			}
			cos, sin := 1, 0
			switch r.Angle {
			case 90:
				cos, sin = 0, 1
			case 180:
				cos, sin = -1, 0
			case 270:
				cos, sin = 0, -1
			}
			text := strings.NewReplacer(`\`, `\\`, `(`, `\(`, `)`, `\)`).Replace(r.Text)
			fmt.Fprintf(&cs, "BT /F1 %g Tf %d %d %d %d %g %g Tm (%s) Tj ET\n", size, cos, sin, -sin, cos, r.X, r.Y, text)
		}
		content := add(fmt.Sprintf("<< /Length %d >>\nstream\n%sendstream", cs.Len(), cs.String()))
		rot := ""
		if p.Rotate != 0 {
			rot = fmt.Sprintf(" /Rotate %d", p.Rotate)
		}
		pg := add(fmt.Sprintf("<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %g %g]%s /Resources << /Font << /F1 %d 0 R >> >> /Contents %d 0 R >>",
			pagesObj, w, h, rot, font, content))
		kids = append(kids, fmt.Sprintf("%d 0 R", pg))
	}
	objs[catalog-1] = fmt.Sprintf("<< /Type /Catalog /Pages %d 0 R >>", pagesObj)
	objs[pagesObj-1] = fmt.Sprintf("<< /Type /Pages /Kids [%s] /Count %d >>", strings.Join(kids, " "), len(kids))

	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
	offsets := make([]int, len(objs))
	for i, o := range objs {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, catalog, xref)
	return b.Bytes()
}

// twoColumnPage is a page with a title, two columns of three lines each
// (drawn row by row across the columns, the order that must not be
// followed), and a footer.
func twoColumnPage() genPage {
	return genPage{Runs: []textRun{
		{X: 72, Y: 720, Size: 18, Text: "Title of the page"},
		{X: 72, Y: 680, Text: "left one"}, {X: 320, Y: 680, Text: "right one"},
		{X: 72, Y: 666, Text: "left two"}, {X: 320, Y: 666, Text: "right two"},
		{X: 72, Y: 652, Text: "left three"}, {X: 320, Y: 652, Text: "right three"},
		{X: 72, Y: 100, Text: "Footer text"},
	}}
}
