package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"

	"github.com/folio-ocr/folio/internal/pdfgen"
)

// Benchmarks of the born-digital per-page path, split into its stages
// (extract, assemble, annotate, encode) and end to end over a 20-page range
// as jobs' annotateRange runs it. Run them with
//
//	go test -run XXX -bench . -benchmem ./pipeline/
//
// The R-intro benchmarks skip when /usr/share/R/doc/manual/R-intro.pdf
// (Debian's r-doc-pdf) is absent; the generated ones always run.

var benchFeatures = []*visionpb.Feature{{Type: visionpb.Feature_DOCUMENT_TEXT_DETECTION}}

var (
	fastPDF     *PDF
	fastPDFErr  error
	fastPDFOnce sync.Once
)

// benchEngine returns the shared engine (interruptible, as in production)
// or, when interrupt is false, a second shared engine built with
// DisableInterrupt, to measure what interruptibility costs.
func benchEngine(tb testing.TB, interrupt bool) *PDF {
	tb.Helper()
	if interrupt {
		return testPDF(tb)
	}
	fastPDFOnce.Do(func() { fastPDF, fastPDFErr = NewPDF(PDFConfig{Instances: 2, DisableInterrupt: true}) })
	if fastPDFErr != nil {
		tb.Fatalf("NewPDF: %v", fastPDFErr)
	}
	return fastPDF
}

// openRIntroWith opens R-intro.pdf on engine p, skipping when it is absent.
func openRIntroWith(tb testing.TB, p Opener) Document {
	tb.Helper()
	return openFile(tb, p, rIntro)
}

// openFile opens the PDF at path on engine p, skipping when it is absent;
// it is closed when tb ends.
func openFile(tb testing.TB, p Opener, path string) Document {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Skipf("%s not present", path)
	}
	tb.Cleanup(func() { f.Close() })
	st, err := f.Stat()
	if err != nil {
		tb.Fatal(err)
	}
	doc, err := p.Open(context.Background(), f, st.Size())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { doc.Close() })
	return doc
}

var interruptModes = []struct {
	name      string
	interrupt bool
}{{"interrupt=on", true}, {"interrupt=off", false}}

// rIntroPage returns page n of R-intro.pdf, extracted once.
func rIntroPage(b *testing.B, n int) *Page {
	b.Helper()
	doc := openRIntro(b)
	p, err := doc.Page(context.Background(), n)
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkExtract is Document.Page alone (PDFium's text layer to []Char),
// with and without wazero's interrupt checks, and in a child process
// (IsolatedPDF: the interrupt off, the page over a pipe).
func BenchmarkExtract(b *testing.B) {
	run := func(b *testing.B, doc Document) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := doc.Page(context.Background(), 11); err != nil {
				b.Fatal(err)
			}
		}
	}
	for _, m := range interruptModes {
		b.Run(m.name, func(b *testing.B) { run(b, openRIntroWith(b, benchEngine(b, m.interrupt))) })
	}
	b.Run("isolated", func(b *testing.B) { run(b, openRIntroWith(b, testIsolated(b))) })
}

// BenchmarkOpen is opening R-intro.pdf (a fresh PDFium instance each time)
// and closing it, which every range pays once.
func BenchmarkOpen(b *testing.B) {
	for _, m := range interruptModes {
		b.Run(m.name, func(b *testing.B) {
			p := benchEngine(b, m.interrupt)
			f, err := os.Open(rIntro)
			if err != nil {
				b.Skipf("%s not present", rIntro)
			}
			defer f.Close()
			st, _ := f.Stat()
			for b.Loop() {
				doc, err := p.Open(context.Background(), f, st.Size())
				if err != nil {
					b.Fatal(err)
				}
				doc.Close()
			}
		})
	}
}

// BenchmarkAssemble is BuildTextAnnotation alone.
func BenchmarkAssemble(b *testing.B) {
	p := rIntroPage(b, 11)
	b.ReportAllocs()
	for b.Loop() {
		BuildTextAnnotation(p)
	}
}

// BenchmarkEncodePage is EncodeFileResponse of one R-intro page's response.
func BenchmarkEncodePage(b *testing.B) {
	p := rIntroPage(b, 11)
	resp := NewFileResponse(&visionpb.InputConfig{MimeType: "application/pdf"},
		[]*visionpb.AnnotateImageResponse{AnnotatePage(p, benchFeatures, "gs://b/R-intro.pdf")})
	b.ReportAllocs()
	var n int
	for b.Loop() {
		out, err := EncodeFileResponse(resp)
		if err != nil {
			b.Fatal(err)
		}
		n = len(out)
	}
	b.ReportMetric(float64(n), "bytes/page")
}

// annotateRangeOnce does what jobs' annotateRange does with an open
// document, minus the queue and storage: every page of [first, last], then
// one encoded output file. It returns the output's size.
func annotateRangeOnce(doc Document, first, last int) (int, error) {
	ctx := context.Background()
	responses := make([]*visionpb.AnnotateImageResponse, 0, last-first+1)
	for n := first; n <= last; n++ {
		p, err := doc.Page(ctx, n)
		if err != nil {
			return 0, err
		}
		responses = append(responses, AnnotatePage(p, benchFeatures, "gs://b/in.pdf"))
	}
	out, err := EncodeFileResponse(NewFileResponse(&visionpb.InputConfig{
		GcsSource: &visionpb.GcsSource{Uri: "gs://b/in.pdf"}, MimeType: "application/pdf"}, responses))
	return len(out), err
}

// benchRanges runs 20-page ranges of the document that open returns on
// `workers` goroutines, each with its own open document (one PDFium
// instance each), and reports pages per second over all of them. Each
// benchmark iteration is one range per goroutine.
func benchRanges(b *testing.B, workers int, open func(testing.TB) Document) {
	const rangePages = 20
	docs := make([]Document, workers)
	for i := range docs {
		docs[i] = open(b)
	}
	pages := docs[0].PageCount()
	if pages < rangePages {
		b.Fatalf("document has %d pages, need %d", pages, rangePages)
	}
	b.ReportAllocs()
	start := time.Now()
	var total, iters int
	var outBytes int
	for b.Loop() {
		var wg sync.WaitGroup
		errs := make([]error, workers)
		sizes := make([]int, workers)
		for w := range workers {
			// Successive ranges, spread over the document.
			first := 1 + ((iters*workers+w)*rangePages)%(pages-rangePages+1)
			wg.Go(func() {
				sizes[w], errs[w] = annotateRangeOnce(docs[w], first, first+rangePages-1)
			})
		}
		wg.Wait()
		for w := range workers {
			if errs[w] != nil {
				b.Fatal(errs[w])
			}
			outBytes += sizes[w]
		}
		total += workers * rangePages
		iters++
	}
	elapsed := time.Since(start)
	b.ReportMetric(float64(total)/elapsed.Seconds(), "pages/s")
	b.ReportMetric(float64(elapsed.Microseconds())/1000/float64(total)*float64(workers), "ms/page/worker")
	b.ReportMetric(float64(outBytes)/float64(total), "json-bytes/page")
}

// BenchmarkRangeEndToEnd annotates 20-page ranges of R-intro.pdf: Page →
// AnnotatePage → NewFileResponse → EncodeFileResponse, with 1 and 2
// goroutines (each with its own PDFium instance), with and without
// wazero's interrupt checks.
func BenchmarkRangeEndToEnd(b *testing.B) {
	if _, err := os.Stat(rIntro); err != nil {
		b.Skipf("%s not present", rIntro)
	}
	for _, m := range interruptModes {
		for _, workers := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/workers=%d", m.name, workers), func(b *testing.B) {
				p := benchEngine(b, m.interrupt)
				benchRanges(b, workers, func(tb testing.TB) Document { return openRIntroWith(tb, p) })
			})
		}
	}
}

// BenchmarkRangeEndToEndGenerated is BenchmarkRangeEndToEnd over a
// generated 60-page document (four lines per page), so it runs anywhere.
func BenchmarkRangeEndToEndGenerated(b *testing.B) {
	data := pdfgen.Document(60)
	for _, m := range interruptModes {
		for _, workers := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/workers=%d", m.name, workers), func(b *testing.B) {
				p := benchEngine(b, m.interrupt)
				benchRanges(b, workers, func(tb testing.TB) Document {
					doc, err := p.Open(context.Background(), bytes.NewReader(data), int64(len(data)))
					if err != nil {
						tb.Fatal(err)
					}
					tb.Cleanup(func() { doc.Close() })
					return doc
				})
			})
		}
	}
}

// BenchmarkRaster is Document.Raster on scanned pages, whose image is taken
// as stored (JPEG) or decoded at its own resolution (CCITT G4, 1-bit
// Flate), against rendering the same page at 300 DPI, which is what every
// other page costs.
func BenchmarkRaster(b *testing.B) {
	for _, c := range []struct {
		name, file string
		page       int
	}{{"jpeg", "mixed.pdf", 2}, {"g4", "embedded.pdf", 1}, {"flate-1bit", "embedded.pdf", 2}} {
		b.Run(c.name, func(b *testing.B) {
			// Opened per file: the shared engine has two instances.
			doc := openScan(b, c.file)
			b.Run("raster", func(b *testing.B) {
				for b.Loop() {
					if _, err := doc.Raster(context.Background(), c.page, RasterOptions{}); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("render-300dpi", func(b *testing.B) {
				for b.Loop() {
					if _, err := renderPage(doc, c.page, 300); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// BenchmarkSampleFonts is the font sample a worker takes when it plans
// R-intro.pdf: three pages' font sizes, x-height letters and font boxes.
func BenchmarkSampleFonts(b *testing.B) {
	doc := openRIntroWith(b, testPDF(b))
	pages := FontSamplePages(doc.PageCount())
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := SampleFonts(context.Background(), doc); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N)/float64(len(pages)), "ms/page")
}
