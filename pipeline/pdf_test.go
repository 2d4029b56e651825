package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klippa-app/go-pdfium"

	"github.com/folio-ocr/folio/internal/textmetric"
)

var (
	sharedPDF     *PDF
	sharedPDFErr  error
	sharedPDFOnce sync.Once
)

// testPDF returns a PDF engine shared by the package's tests (start-up
// compiles PDFium unless the wazero cache is warm).
func testPDF(tb testing.TB) *PDF {
	tb.Helper()
	sharedPDFOnce.Do(func() { sharedPDF, sharedPDFErr = NewPDF(PDFConfig{Instances: 2}) })
	if sharedPDFErr != nil {
		tb.Fatalf("NewPDF: %v", sharedPDFErr)
	}
	return sharedPDF
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, p := range []*PDF{sharedPDF, fastPDF} {
		if p != nil {
			if err := p.Close(); err != nil {
				code = 1
			}
		}
	}
	if sharedIsolated != nil {
		_ = sharedIsolated.Close()
	}
	os.Exit(code)
}

func openBytes(t testing.TB, b []byte) (Document, error) {
	t.Helper()
	return testPDF(t).Open(context.Background(), bytes.NewReader(b), int64(len(b)))
}

func TestPDFPages(t *testing.T) {
	doc, err := openBytes(t, makePDF(
		genPage{Runs: []textRun{{X: 72, Y: 700, Text: "Hello PDF world"}}},
		genPage{Width: 595, Height: 842},
		twoColumnPage(),
	))
	if err != nil {
		t.Fatal(err)
	}
	defer doc.Close()
	if n := doc.PageCount(); n != 3 {
		t.Fatalf("PageCount = %d, want 3", n)
	}
	p, err := doc.Page(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if p.Number != 1 || p.Width != 612 || p.Height != 792 {
		t.Errorf("page %d size %vx%v", p.Number, p.Width, p.Height)
	}
	var sb strings.Builder
	for _, c := range p.Chars {
		sb.WriteRune(c.Rune)
		if c.Rune == 'H' {
			// Helvetica cap height 718/1000 of 12 pt above the baseline.
			if c.Box.Left < 71 || c.Box.Left > 74 || c.Box.Bottom < 699 || c.Box.Bottom > 701 || c.Box.Top < 707 || c.Box.Top > 710 {
				t.Errorf("box of H = %+v", c.Box)
			}
		}
	}
	if got := sb.String(); !strings.Contains(got, "Hello PDF world") {
		t.Errorf("chars spell %q", got)
	}
	ta := BuildTextAnnotation(p)
	checkInvariants(t, ta)
	if ta.Text != "Hello PDF world\n" {
		t.Errorf("text %q", ta.Text)
	}

	p2, err := doc.Page(context.Background(), 2)
	if err != nil {
		t.Fatal(err)
	}
	if p2.Width != 595 || p2.Height != 842 || len(p2.Chars) != 0 {
		t.Errorf("blank A4 page: %vx%v, %d chars", p2.Width, p2.Height, len(p2.Chars))
	}
	if r := AnnotatePage(p2, nil, "gs://b/x.pdf"); r.Context.PageNumber != 2 {
		t.Errorf("context %v", r.Context)
	}

	p3, err := doc.Page(context.Background(), 3)
	if err != nil {
		t.Fatal(err)
	}
	ta = BuildTextAnnotation(p3)
	checkInvariants(t, ta)
	want := "Title of the page\nleft one\nleft two\nleft three\nFooter text\nright one\nright two\nright three\n" // pdftotext's order
	if ta.Text != want {
		t.Errorf("two columns: text %q, want %q", ta.Text, want)
	}

	for _, n := range []int{0, 4} {
		if _, err := doc.Page(context.Background(), n); err == nil {
			t.Errorf("Page(%d): no error", n)
		}
	}
}

func TestPDFRotation(t *testing.T) {
	for _, rot := range []int{0, 90, 180, 270} {
		t.Run(strconv.Itoa(rot), func(t *testing.T) {
			p := firstPage(t, openBytes, makePDF(genPage{Width: 600, Height: 800, Rotate: rot, Runs: []textRun{{X: 100, Y: 700, Text: "Rotated page text"}}}))
			w, h := 600.0, 800.0
			if rot%180 != 0 {
				w, h = h, w
			}
			if p.Width != w || p.Height != h {
				t.Errorf("size %vx%v, want %vx%v", p.Width, p.Height, w, h)
			}
			for _, c := range p.Chars {
				if c.Box.Left < 0 || c.Box.Right > p.Width || c.Box.Bottom < 0 || c.Box.Top > p.Height {
					t.Errorf("char %q box %+v outside the displayed page", c.Rune, c.Box)
				}
			}
			ta := BuildTextAnnotation(p)
			checkInvariants(t, ta)
			if ta.Text != "Rotated page text\n" {
				t.Errorf("text %q", ta.Text)
			}
			// pdftotext reports displayed coordinates too; compare the
			// first word's box when it is available.
			if _, err := exec.LookPath("pdftotext"); err == nil {
				checkAgainstPdftotext(t, makePDF(genPage{Width: 600, Height: 800, Rotate: rot, Runs: []textRun{{X: 100, Y: 700, Text: "Rotated page text"}}}), p)
			}
		})
	}
}

// checkAgainstPdftotext compares the box of the first word with pdftotext
// -bbox (top-left origin).
func checkAgainstPdftotext(t *testing.T, pdf []byte, p *Page) {
	t.Helper()
	dir := t.TempDir()
	in := dir + "/in.pdf"
	if err := os.WriteFile(in, pdf, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("pdftotext", "-bbox", in, "-").Output()
	if err != nil {
		t.Skipf("pdftotext: %v", err)
	}
	s := string(out)
	i := strings.Index(s, "<word ")
	if i < 0 {
		t.Fatalf("no word in pdftotext output")
	}
	attr := func(name string) float64 {
		j := strings.Index(s[i:], name+`="`)
		v := s[i+j+len(name)+2:]
		f, _ := strconv.ParseFloat(v[:strings.IndexByte(v, '"')], 64)
		return f
	}
	xMin, yMin, xMax, yMax := attr("xMin"), attr("yMin"), attr("xMax"), attr("yMax")
	// Our first word's box: union of chars up to the first space.
	var box Rect
	for i, c := range p.Chars {
		if c.Rune == ' ' {
			break
		}
		if i == 0 {
			box = c.Box
		} else {
			box = union(box, c.Box)
		}
	}
	cx, cy := (box.Left+box.Right)/2, p.Height-(box.Bottom+box.Top)/2
	if cx < xMin || cx > xMax || cy < yMin || cy > yMax {
		t.Errorf("centre of first word (%.1f, %.1f) top-left origin, outside pdftotext's box x %.1f..%.1f y %.1f..%.1f", cx, cy, xMin, xMax, yMin, yMax)
	}
}

func TestPDFErrors(t *testing.T) {
	good := makePDF(genPage{Runs: []textRun{{X: 72, Y: 700, Text: "Hello"}}})
	enc, err := os.ReadFile("testdata/encrypted.pdf")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"not a pdf", []byte("hello, this is not a PDF at all"), ErrInvalidInput},
		{"empty", nil, ErrInvalidInput},
		{"header only", []byte("%PDF-1.4\n"), ErrInvalidInput},
		{"truncated", good[:len(good)/2], nil}, // PDFium may repair it
		{"garbage body", append([]byte("%PDF-1.7\n"), bytes.Repeat([]byte{0xff, 0x00, 0x13}, 1000)...), ErrInvalidInput},
		{"encrypted", enc, ErrEncrypted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := openBytes(t, tt.data)
			if tt.want == nil {
				// Either an error that names the file as at fault, or a
				// document whose pages can be read without panicking.
				if err != nil {
					if !errors.Is(err, ErrInvalidInput) {
						t.Errorf("error %v does not wrap ErrInvalidInput", err)
					}
					return
				}
				for n := 1; n <= doc.PageCount(); n++ {
					_, _ = doc.Page(context.Background(), n)
				}
				doc.Close()
				return
			}
			if err == nil {
				doc.Close()
				t.Fatalf("no error, want %v", tt.want)
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("error %v, want it to wrap %v", err, tt.want)
			}
		})
	}
}

// TestEncryptedFixture rebuilds testdata/encrypted.pdf with qpdf when
// FOLIO_REGENERATE=1 (qpdf is not needed otherwise).
func TestEncryptedFixture(t *testing.T) {
	if os.Getenv("FOLIO_REGENERATE") != "1" {
		t.Skip("set FOLIO_REGENERATE=1 to rebuild testdata/encrypted.pdf with qpdf")
	}
	dir := t.TempDir()
	plain := dir + "/plain.pdf"
	if err := os.WriteFile(plain, makePDF(genPage{Runs: []textRun{{X: 72, Y: 700, Text: "Secret"}}}), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("qpdf", "--encrypt", "user", "owner", "256", "--", plain, "testdata/encrypted.pdf").CombinedOutput()
	if err != nil {
		t.Fatalf("qpdf: %v\n%s", err, out)
	}
}

type failingReader struct{ r *bytes.Reader }

var errDisk = errors.New("disk on fire")

func (f failingReader) Read(b []byte) (int, error)         { return 0, errDisk }
func (f failingReader) Seek(o int64, w int) (int64, error) { return f.r.Seek(o, w) }

func TestPDFReaderError(t *testing.T) {
	b := makePDF(genPage{Runs: []textRun{{X: 72, Y: 700, Text: "Hello"}}})
	_, err := testPDF(t).Open(context.Background(), failingReader{bytes.NewReader(b)}, int64(len(b)))
	if !errors.Is(err, errDisk) || errors.Is(err, ErrInvalidInput) {
		t.Errorf("error %v, want the reader's error and not ErrInvalidInput", err)
	}
}

func TestPDFContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	b := makePDF(genPage{})
	if _, err := testPDF(t).Open(ctx, bytes.NewReader(b), int64(len(b))); !errors.Is(err, context.Canceled) {
		t.Errorf("Open with cancelled ctx: %v", err)
	}
	doc, err := openBytes(t, b)
	if err != nil {
		t.Fatal(err)
	}
	defer doc.Close()
	if _, err := doc.Page(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("Page with cancelled ctx: %v", err)
	}
	// A deadline that expires while pages are read leaves no stuck
	// instance behind: the pool still serves new documents.
	ctx, cancel = context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	for i := 0; i < 50; i++ {
		if _, err := doc.Page(ctx, 1); err != nil {
			break
		}
	}
	doc2, err := openBytes(t, b)
	if err != nil {
		t.Fatal(err)
	}
	doc2.Close()
}

const rIntro = "/usr/share/R/doc/manual/R-intro.pdf"

func openRIntro(t testing.TB) Document {
	t.Helper()
	return openFile(t, testPDF(t), rIntro)
}

// TestCERAgainstPdftotext compares our text with pdftotext's on R-intro.pdf
// (present on the development machine only).
func TestCERAgainstPdftotext(t *testing.T) {
	if _, err := exec.LookPath("pdftotext"); err != nil {
		t.Skip("pdftotext not installed")
	}
	doc := openRIntro(t)
	if doc.PageCount() != 113 {
		t.Errorf("R-intro.pdf: %d pages, want 113", doc.PageCount())
	}
	// Prose pages are asserted. Page 40 holds a table, which pdftotext
	// reads column by column and Folio row by row, and boxed examples
	// drawn with dingbats; it is only logged.
	logOnly := map[int]bool{40: true}
	for _, n := range []int{1, 2, 11, 12, 40, 75, 100} {
		p, err := doc.Page(context.Background(), n)
		if err != nil {
			t.Fatal(err)
		}
		ta := BuildTextAnnotation(p)
		checkInvariants(t, ta)
		out, err := exec.Command("pdftotext", "-f", strconv.Itoa(n), "-l", strconv.Itoa(n), rIntro, "-").Output()
		if err != nil {
			t.Fatal(err)
		}
		want := textmetric.Normalize(strings.ReplaceAll(string(out), "\f", ""))
		// pdftotext joins words hyphenated at line ends; so does a
		// client that honours HYPHEN breaks.
		got := textmetric.Normalize(strings.ReplaceAll(ta.Text, "-\n", ""))
		cer := textmetric.CER(want, got)
		t.Logf("page %d: %d chars, CER %.3f%%", n, len([]rune(want)), 100*cer)
		if cer >= 0.01 && !logOnly[n] {
			t.Errorf("page %d: CER %.2f%% ≥ 1%%\nwant: %.300s\ngot:  %.300s", n, 100*cer, want, got)
		}
	}
}

// TestCERWholeDocument logs the CER over all pages of R-intro.pdf (-v to
// see it); it fails only above 3%, far above the measured value.
func TestCERWholeDocument(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	if _, err := exec.LookPath("pdftotext"); err != nil {
		t.Skip("pdftotext not installed")
	}
	doc := openRIntro(t)
	var dist, total int
	var elapsed time.Duration
	for n := 1; n <= doc.PageCount(); n++ {
		start := time.Now()
		p, err := doc.Page(context.Background(), n)
		if err != nil {
			t.Fatal(err)
		}
		ta := BuildTextAnnotation(p)
		elapsed += time.Since(start)
		if spell(ta) != ta.Text {
			t.Errorf("page %d: text differs from symbols+breaks", n)
		}
		out, err := exec.Command("pdftotext", "-f", strconv.Itoa(n), "-l", strconv.Itoa(n), rIntro, "-").Output()
		if err != nil {
			t.Fatal(err)
		}
		w := textmetric.Normalize(strings.ReplaceAll(string(out), "\f", ""))
		g := textmetric.Normalize(strings.ReplaceAll(ta.Text, "-\n", ""))
		dist += textmetric.Distance(w, g)
		total += len([]rune(w))
	}
	cer := float64(dist) / float64(total)
	t.Logf("%d pages, extract+assemble %v (%.1f ms/page), %d chars, CER %.3f%%", doc.PageCount(), elapsed, float64(elapsed.Microseconds())/1000/float64(doc.PageCount()), total, 100*cer)
	if cer > 0.01 {
		t.Errorf("CER %.2f%% over the whole document", 100*cer)
	}
}

func BenchmarkPageText(b *testing.B) {
	doc := openRIntro(b)
	b.ReportAllocs()
	for b.Loop() {
		p, err := doc.Page(context.Background(), 11)
		if err != nil {
			b.Fatal(err)
		}
		BuildTextAnnotation(p)
	}
}

func BenchmarkPageTextGenerated(b *testing.B) {
	var runs []textRun
	for i := range 50 {
		runs = append(runs, textRun{X: 72, Y: 740 - float64(i)*13, Size: 10, Text: "The quick brown fox jumps over the lazy dog again and again."})
	}
	doc, err := openBytes(b, makePDF(genPage{Runs: runs}))
	if err != nil {
		b.Fatal(err)
	}
	defer doc.Close()
	b.ReportAllocs()
	for b.Loop() {
		p, err := doc.Page(context.Background(), 1)
		if err != nil {
			b.Fatal(err)
		}
		BuildTextAnnotation(p)
	}
}

// A document read past RecyclePages pages moves to a fresh PDFium instance
// and reads on as before, even when the pool has a single instance (it is
// given back before a fresh one is taken).
func TestPDFRecycle(t *testing.T) {
	p, err := NewPDF(PDFConfig{Instances: 1, RecyclePages: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var pages []genPage
	for i := range 5 {
		pages = append(pages, genPage{Runs: []textRun{{X: 72, Y: 700, Text: fmt.Sprintf("Page number %d", i+1)}}})
	}
	data := makePDF(pages...)
	doc, err := p.Open(context.Background(), bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	defer doc.Close()
	d := doc.(*pdfDoc)
	instances := map[pdfium.Pdfium]bool{}
	for round := range 2 {
		for n := 1; n <= 5; n++ {
			pg, err := doc.Page(context.Background(), n)
			if err != nil {
				t.Fatalf("round %d page %d: %v", round, n, err)
			}
			// Rendering the page just read counts as the same visit.
			if _, err := doc.Raster(context.Background(), n, RasterOptions{DPI: 50}); err != nil {
				t.Fatalf("round %d page %d: raster: %v", round, n, err)
			}
			if got, want := pageText(pg), fmt.Sprintf("Page number %d", n); got != want {
				t.Errorf("round %d page %d: text %q, want %q", round, n, got, want)
			}
			instances[d.inst] = true
		}
	}
	if len(instances) != 5 {
		t.Errorf("10 pages read, 2 per instance, on %d instances; want 5", len(instances))
	}
	if err := doc.Close(); err != nil {
		t.Fatal(err)
	}
	// The pool's one instance is free again.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	again, err := p.Open(ctx, bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("open after close: %v", err)
	}
	again.Close()
}

func pageText(p *Page) string {
	rs := make([]rune, len(p.Chars))
	for i, c := range p.Chars {
		rs[i] = c.Rune
	}
	return strings.TrimSpace(string(rs))
}
