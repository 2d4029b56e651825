package pipeline

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/folio-ocr/folio/internal/textmetric"
)

// TestRManualsMatchPdftotext holds issue 10's text-fidelity target on every
// R manual: the character error rate of each page's fullTextAnnotation
// text against pdftotext's (its reading order, whitespace collapsed),
// summed over the document, is at most 0.5%, with the document's fonts
// sampled as the jobs package samples them. README's "Text fidelity"
// table comes from the same measure (TestCERProbe).
func TestRManualsMatchPdftotext(t *testing.T) {
	for _, name := range []string{"R-intro", "R-data", "R-admin", "R-lang", "R-ints", "R-FAQ", "R-exts"} {
		path := "/usr/share/R/doc/manual/" + name + ".pdf"
		if _, err := os.Stat(path); err != nil {
			t.Skipf("%s not installed (apt-get install r-doc-pdf)", path)
		}
		t.Run(name, func(t *testing.T) { checkCER(t, path, 0.005) })
	}
}

// TestDebianReferenceMatchesPdftotext holds the same measure on a book
// that sets prose in a roman face and code, commands and package names
// in sans-serif and typewriter faces of a taller x-height (DBLaTeX,
// XeTeX, Liberation fonts): 1.6% with Fonts.Styles, 3.4% with the
// document's one x-height ratio. What is left is mostly its tables,
// whose cells pdftotext orders by a column flow of its own.
func TestDebianReferenceMatchesPdftotext(t *testing.T) {
	const path = "/usr/share/debian-reference/debian-reference.en.pdf"
	if _, err := os.Stat(path); err != nil {
		t.Skipf("%s not installed (apt-get install debian-reference-en)", path)
	}
	checkCER(t, path, 0.02)
}

// checkCER fails t when the CER of the PDF at path against pdftotext, as
// TestRManualsMatchPdftotext measures it, is over maxCER.
func checkCER(t *testing.T, path string, maxCER float64) {
	t.Helper()
	if _, err := exec.LookPath("pdftotext"); err != nil {
		t.Skip("pdftotext not installed (apt-get install poppler-utils)")
	}
	out, err := exec.Command("pdftotext", "-enc", "UTF-8", path, "-").Output()
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Split(string(out), "\f") // one page each, and an empty last
	doc := openFile(t, testPDF(t), path)
	fonts, err := doc.(FontSampler).SampleFonts(context.Background(), FontSamplePages(doc.PageCount()))
	if err != nil {
		t.Fatal(err)
	}
	if len(want) < doc.PageCount() {
		t.Fatalf("pdftotext gave %d pages, the document has %d", len(want), doc.PageCount())
	}
	var (
		mu          sync.Mutex
		dist, total int
		wg          sync.WaitGroup
		sem         = make(chan struct{}, 2)
	)
	for n := 1; n <= doc.PageCount(); n++ {
		p, err := doc.Page(context.Background(), n)
		if err != nil {
			t.Fatal(err)
		}
		p.Fonts = fonts // as the jobs package lays pages out
		wg.Add(1)
		sem <- struct{}{}
		go func() { // the Levenshtein distance is the slow part
			defer wg.Done()
			defer func() { <-sem }()
			w := textmetric.Normalize(want[n-1])
			g := textmetric.Normalize(strings.ReplaceAll(BuildTextAnnotation(p).GetText(), "-\n", ""))
			d := textmetric.Distance(w, g)
			mu.Lock()
			dist += d
			total += len([]rune(w))
			mu.Unlock()
		}()
	}
	wg.Wait()
	cer := float64(dist) / float64(max(total, 1))
	t.Logf("CER %.3f%% against pdftotext (%d edits in %d characters)", 100*cer, dist, total)
	if cer > maxCER {
		t.Errorf("CER %.3f%%, over %.1f%%", 100*cer, 100*maxCER)
	}
}
