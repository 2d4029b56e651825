// Package pdfgen writes small, valid PDF files with text in the standard
// fonts (Helvetica unless a run names another) at known positions, for
// tests, examples and benchmarks. It needs no external tools.
package pdfgen

import (
	"bytes"
	"fmt"
	"strings"
)

// Run is one line of text.
type Run struct {
	X, Y  float64 // baseline start in PDF points, origin bottom left
	Size  float64 // font size; 0 means 12
	Text  string  // Latin-1 text
	Angle int     // degrees counter-clockwise: 0, 90, 180 or 270
	// Font is one of the PDF's standard 14 fonts ("Times-Roman",
	// "Courier", ...), not embedded; "" means Helvetica.
	Font string
}

// Page is one page.
type Page struct {
	Width, Height float64 // points; 0 means US Letter (612×792)
	Rotate        int     // the page's /Rotate
	Runs          []Run
}

// PDF returns a PDF 1.4 file with the given pages.
func PDF(pages ...Page) []byte {
	var objs []string // object i+1
	add := func(s string) int { objs = append(objs, s); return len(objs) }
	catalog := add("")
	pagesObj := add("")
	fonts := map[string]int{} // base font → object
	font := func(name string) int {
		if name == "" {
			name = "Helvetica"
		}
		if _, ok := fonts[name]; !ok {
			fonts[name] = add(fmt.Sprintf("<< /Type /Font /Subtype /Type1 /BaseFont /%s /Encoding /WinAnsiEncoding >>", name))
		}
		return fonts[name]
	}
	font("") // object 3, as before fonts could be named
	var kids []string
	for _, p := range pages {
		w, h := p.Width, p.Height
		if w == 0 || h == 0 {
			w, h = 612, 792
		}
		var cs strings.Builder
		var res strings.Builder // the page's font resources
		used := map[int]bool{}
		for _, r := range p.Runs {
			f := font(r.Font)
			if !used[f] {
				used[f] = true
				fmt.Fprintf(&res, " /F%d %d 0 R", f, f)
			}
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
			fmt.Fprintf(&cs, "BT /F%d %g Tf %d %d %d %d %g %g Tm (%s) Tj ET\n", f, size, cos, sin, -sin, cos, r.X, r.Y, text)
		}
		content := add(fmt.Sprintf("<< /Length %d >>\nstream\n%sendstream", cs.Len(), cs.String()))
		rot := ""
		if p.Rotate != 0 {
			rot = fmt.Sprintf(" /Rotate %d", p.Rotate)
		}
		pg := add(fmt.Sprintf("<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %g %g]%s /Resources << /Font <<%s >> >> /Contents %d 0 R >>",
			pagesObj, w, h, rot, res.String(), content))
		kids = append(kids, fmt.Sprintf("%d 0 R", pg))
	}
	objs[catalog-1] = fmt.Sprintf("<< /Type /Catalog /Pages %d 0 R >>", pagesObj)
	objs[pagesObj-1] = fmt.Sprintf("<< /Type /Pages /Kids [%s] /Count %d >>", strings.Join(kids, " "), len(kids))
	return Raw(objs)
}

// Raw returns a PDF 1.4 file of the given objects, numbered from 1, with a
// cross-reference table; object 1 must be the catalog.
func Raw(objs []string) []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
	offsets := make([]int, len(objs))
	for i, o := range objs {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	return Trailer(&b, offsets)
}

// Trailer ends the file in b, whose objects 1, 2, ... start at offsets
// (object 1 the catalog), with a cross-reference table and trailer, and
// returns its bytes.
func Trailer(b *bytes.Buffer, offsets []int) []byte {
	xref := b.Len()
	fmt.Fprintf(b, "xref\n0 %d\n0000000000 65535 f \n", len(offsets)+1)
	for _, off := range offsets {
		fmt.Fprintf(b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(offsets)+1, xref)
	return b.Bytes()
}

// Lines returns a page with one 12 pt line per string, top to bottom from
// one inch below the top edge of a US Letter page.
func Lines(lines ...string) Page {
	p := Page{}
	for i, l := range lines {
		p.Runs = append(p.Runs, Run{X: 72, Y: 720 - float64(i)*16, Text: l})
	}
	return p
}

// Document returns an n-page PDF whose page i (1-based) reads
// "Page i of n" followed by a few lines of prose naming the page, so tests
// can tell the pages apart in the output.
func Document(n int) []byte {
	pages := make([]Page, n)
	for i := range pages {
		p := i + 1
		pages[i] = Lines(
			fmt.Sprintf("Page %d of %d", p, n),
			fmt.Sprintf("The quick brown fox jumps over the lazy dog on page %d.", p),
			"Folio reads the text layer of born-digital documents.",
			fmt.Sprintf("Line four of page %d ends here.", p),
		)
	}
	return PDF(pages...)
}
