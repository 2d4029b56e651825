package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
)

const scannedSet = "scanned"

// Names of the scanned rows.
const (
	folioScannedName = "**Folio end to end**, DOCUMENT_TEXT_DETECTION"
	tesseractName    = "tesseract CLI, one process per core"
	ocrmypdfName     = "ocrmypdf --jobs N"
)

// ompEnv caps Tesseract's OpenMP threads: with more, Debian's build runs
// 4-5 times slower on 2 cores (document-engines.md §7). OCRmyPDF sets it
// itself; it is set for every OCR process here all the same.
var ompEnv = []string{"OMP_THREAD_LIMIT=1"}

// scannedRows builds (or reuses) the scanned corpus and measures Folio end to
// end, the tesseract CLI and OCRmyPDF on it, each with its character error
// rate. It also returns a line describing the set.
func scannedRows(ctx context.Context, cfg config, dep *lazyDeployment) ([]*row, string) {
	all := func(problem func(name string) *row) []*row {
		return []*row{problem(folioScannedName), problem(tesseractName), problem(ocrmypdfName)}
	}
	if pkg := missingTool(corpusTools...); pkg != "" {
		return all(func(name string) *row {
			return skippedRow(scannedSet, "", name, "skipped (install "+pkg+" to build the corpus)")
		}), ""
	}
	c := newCorpus(cfg.corpusDir, cfg.scanSrc, cfg.scanFirst, cfg.scanPages)
	if err := c.load(ctx, cfg.cores); err != nil {
		return all(func(name string) *row { return problemRow(scannedSet, "", name, err) }), ""
	}
	size := int64(0)
	if st, err := os.Stat(c.pdf); err == nil {
		size = st.Size()
	}
	fact := fmt.Sprintf("scanned set: `%s` pages %d–%d (%d pages, %d ground-truth characters) at 300 DPI gray, "+
		"skewed ±0.4–1.0°, noise, blur, JPEG q80, as one image-only PDF of %.1f MB; %s per row; corpus in `%s`",
		filepath.Base(c.src), c.first, c.last, c.pages(), c.truthChars(), float64(size)/1e6, runsText(cfg.scanRuns), c.dir)

	var rows []*row
	if d, err := dep.get(ctx); err != nil {
		rows = append(rows, problemRow(scannedSet, "", folioScannedName, err))
	} else {
		rows = append(rows, folioScannedRow(ctx, d, c, cfg))
	}
	rows = append(rows, tesseractRow(ctx, c, cfg), ocrmypdfRow(ctx, c, cfg))
	return rows, fact
}

// scanBatch is the batchSize of the scanned request: -scan-batch, or by
// default pages/cores rounded up, so that every core has a range to work on.
func scanBatch(cfg config) int {
	if cfg.scanBatch > 0 {
		return cfg.scanBatch
	}
	return min(100, max(1, (cfg.scanPages+cfg.cores-1)/cfg.cores))
}

// folioScannedRow submits scanned.pdf to a fresh worker and reads every
// page's fullTextAnnotation.text back from the outputs. Pages answered with
// an error are counted as failed and left out of the CER.
func folioScannedRow(ctx context.Context, d *deployment, c *corpus, cfg config) *row {
	data, err := os.ReadFile(c.pdf)
	if err != nil {
		return problemRow(scannedSet, "", folioScannedName, err)
	}
	d.upload("scanned.pdf", data)
	batch := scanBatch(cfg)
	w, err := d.startWorker(ctx, cfg)
	if err != nil {
		return problemRow(scannedSet, "", folioScannedName, err)
	}
	r := measured(scannedSet, "", folioScannedName, cfg.scanRuns, func() (*row, error) {
		took, resps, err := d.annotate(ctx, "scanned.pdf", c.pages(), batch)
		if err != nil {
			return nil, err
		}
		r := &row{pages: c.pages(), took: took, cer: folioCER(c.truth, resps)}
		r.failed, r.failure = pageFailures(resps)
		return r, nil
	})
	r.rss = w.stop()
	r.note = workerNote(cfg, batch)
	r.targets = []target{{ref: "tesseract", label: "tesseract", min: 0.9}, {ref: "ocrmypdf", label: "ocrmypdf", min: 1, strict: true}}
	return r
}

// folioCER compares the text of each page response without an error to the
// ground truth of its page (pageNumber is 1-based within the scanned PDF).
func folioCER(truth []string, resps []*visionpb.AnnotateImageResponse) *cerStats {
	cer := &cerStats{}
	for _, r := range resps {
		n := int(r.GetContext().GetPageNumber())
		if n < 1 || n > len(truth) || r.GetError().GetCode() != 0 {
			continue
		}
		cer.add(truth[n-1], r.GetFullTextAnnotation().GetText())
	}
	return cer
}

// tesseractRow OCRs the page JPEGs with one tesseract process per core, each
// taking the next page when done (--oem 1, eng, plain text).
func tesseractRow(ctx context.Context, c *corpus, cfg config) *row {
	if pkg := missingTool("tesseract"); pkg != "" {
		return skippedRow(scannedSet, "tesseract", tesseractName, "skipped (install "+pkg+")")
	}
	if out, _ := runTool(ctx, nil, "tesseract", "--list-langs"); !strings.Contains(string(out), "\neng\n") {
		return skippedRow(scannedSet, "tesseract", tesseractName, "skipped (install tesseract-ocr-eng)")
	}
	r := measured(scannedSet, "tesseract", tesseractName, cfg.scanRuns, func() (*row, error) {
		return tesseractRun(ctx, c, cfg.cores)
	})
	r.note = fmt.Sprintf("%d processes, OMP_THREAD_LIMIT=1, --oem 1, txt, on the page JPEGs", cfg.cores)
	return r
}

// tesseractRun is one timed pass of the tesseract CLI over the corpus.
func tesseractRun(ctx context.Context, c *corpus, cores int) (*row, error) {
	texts := make([]string, c.pages())
	var (
		mu   sync.Mutex
		peak int64
	)
	start := time.Now()
	err := forEach(ctx, c.pages(), cores, func(i int) error {
		cmd := command(ctx, ompEnv, "tesseract", c.images[i], "stdout", "--oem", "1", "-l", "eng")
		out, err := runCmd(cmd)
		if err != nil {
			return err
		}
		texts[i] = string(out)
		mu.Lock()
		peak = max(peak, peakRSSOf(cmd))
		mu.Unlock()
		return nil
	})
	if err != nil {
		return nil, err
	}
	r := &row{pages: c.pages(), took: time.Since(start), rss: mib(peak), cer: &cerStats{}}
	for i, t := range texts {
		r.cer.add(c.truth[i], t)
	}
	return r, nil
}

// ocrmypdfRow runs OCRmyPDF over scanned.pdf with a text sidecar.
func ocrmypdfRow(ctx context.Context, c *corpus, cfg config) *row {
	if pkg := missingTool("ocrmypdf"); pkg != "" {
		return skippedRow(scannedSet, "ocrmypdf", ocrmypdfName, "skipped (install "+pkg+")")
	}
	r := measured(scannedSet, "ocrmypdf", ocrmypdfName, cfg.scanRuns, func() (*row, error) {
		return ocrmypdfRun(ctx, c, cfg.cores)
	})
	r.name = strings.Replace(ocrmypdfName, "N", strconv.Itoa(cfg.cores), 1)
	r.note = "--output-type pdf --tesseract-oem 1 --sidecar, OMP_THREAD_LIMIT=1"
	return r
}

// ocrmypdfRun is one timed OCRmyPDF run; the sidecar text gives the CER.
func ocrmypdfRun(ctx context.Context, c *corpus, cores int) (*row, error) {
	dir, err := os.MkdirTemp("", "folio-bench-ocrmypdf-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	sidecar := filepath.Join(dir, "sidecar.txt")
	cmd := command(ctx, ompEnv, "ocrmypdf", "--jobs", strconv.Itoa(cores), "--output-type", "pdf",
		"--tesseract-oem", "1", "-l", "eng", "--sidecar", sidecar, "--quiet", c.pdf, filepath.Join(dir, "out.pdf"))
	start := time.Now()
	if _, err := runCmd(cmd); err != nil {
		return nil, err
	}
	took := time.Since(start)
	text, err := os.ReadFile(sidecar)
	if err != nil {
		return nil, fmt.Errorf("ocrmypdf sidecar: %w", err)
	}
	pages, err := splitSidecar(string(text), c.pages())
	if err != nil {
		return nil, err
	}
	r := &row{pages: c.pages(), took: took, rss: mib(peakRSSOf(cmd)), cer: &cerStats{}}
	for i, t := range pages {
		r.cer.add(c.truth[i], t)
	}
	return r, nil
}

// splitSidecar splits OCRmyPDF's sidecar text into its pages, which it
// separates with form feeds.
func splitSidecar(text string, pages int) ([]string, error) {
	parts := strings.Split(text, "\f")
	if len(parts) < pages {
		return nil, fmt.Errorf("ocrmypdf sidecar has %d pages, want %d", len(parts), pages)
	}
	return parts[:pages], nil
}
