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
	rows = append(rows, tesseractRow(ctx, cfg, scannedSet, tesseractName, c.images, c.truth, "the page JPEGs"),
		ocrmypdfRow(ctx, cfg, scannedSet, ocrmypdfName, c.pdf, c.truth))
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

// folioScannedRow measures Folio end to end on scanned.pdf, with the
// scanned set's targets.
func folioScannedRow(ctx context.Context, d *deployment, c *corpus, cfg config) *row {
	r := folioPDFRow(ctx, d, cfg, scannedSet, "", folioScannedName, c.pdf, c.truth)
	r.targets = []target{{ref: "tesseract", label: "tesseract", min: 0.9}, {ref: "ocrmypdf", label: "ocrmypdf", min: 1, strict: true}}
	return r
}

// folioPDFRow uploads the PDF at path (named after its base name) and
// submits it to a fresh worker, -scan-runs times, reading every page's
// fullTextAnnotation.text back from the outputs and comparing it with
// truth, one string per page. Pages answered with an error are counted as
// failed and left out of the CER.
func folioPDFRow(ctx context.Context, d *deployment, cfg config, set, id, name, path string, truth []string) *row {
	data, err := os.ReadFile(path)
	if err != nil {
		return problemRow(set, id, name, err)
	}
	object := filepath.Base(path)
	d.upload(object, data)
	pages, batch := len(truth), scanBatch(cfg)
	w, err := d.startWorker(ctx, cfg)
	if err != nil {
		return problemRow(set, id, name, err)
	}
	if d.keep {
		logf("%s: %s: worker log %s", set, stripMarkup(name), w.Log)
	}
	r := measured(set, id, name, cfg.scanRuns, func() (*row, error) {
		took, resps, err := d.annotate(ctx, object, pages, batch)
		if err != nil {
			return nil, err
		}
		r := &row{pages: pages, took: took, cer: folioCER(truth, resps)}
		r.failed, r.failure = pageFailures(resps)
		return r, nil
	})
	r.rss = w.stop()
	r.note = workerNote(cfg, batch)
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

// tesseractRow OCRs images (one per page, in page order, truth their
// ground truth) with one tesseract process per core, each taking the next
// page when done (--oem 1, eng, plain text); what names the images in the
// note.
func tesseractRow(ctx context.Context, cfg config, set, name string, images, truth []string, what string) *row {
	if pkg := missingTool("tesseract"); pkg != "" {
		return skippedRow(set, "tesseract", name, "skipped (install "+pkg+")")
	}
	if out, _ := runTool(ctx, nil, "tesseract", "--list-langs"); !strings.Contains(string(out), "\neng\n") {
		return skippedRow(set, "tesseract", name, "skipped (install tesseract-ocr-eng)")
	}
	r := measured(set, "tesseract", name, cfg.scanRuns, func() (*row, error) {
		return tesseractRun(ctx, images, truth, cfg.cores)
	})
	r.note = fmt.Sprintf("%d processes, OMP_THREAD_LIMIT=1, --oem 1, txt, on %s", cfg.cores, what)
	return r
}

// tesseractRun is one timed pass of the tesseract CLI over images.
func tesseractRun(ctx context.Context, images, truth []string, cores int) (*row, error) {
	texts := make([]string, len(images))
	var (
		mu   sync.Mutex
		peak int64
	)
	start := time.Now()
	err := forEach(ctx, len(images), cores, func(i int) error {
		cmd := command(ctx, ompEnv, "tesseract", images[i], "stdout", "--oem", "1", "-l", "eng")
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
	r := &row{pages: len(images), took: time.Since(start), rss: mib(peak), cer: &cerStats{}}
	for i, t := range texts {
		r.cer.add(truth[i], t)
	}
	return r, nil
}

// ocrmypdfRow runs OCRmyPDF over the PDF at path with a text sidecar, its
// pages' ground truth being truth; flags come before --jobs. name has an N
// for the number of jobs.
func ocrmypdfRow(ctx context.Context, cfg config, set, name, path string, truth []string, flags ...string) *row {
	name = strings.Replace(name, "N", strconv.Itoa(cfg.cores), 1)
	if pkg := missingTool("ocrmypdf"); pkg != "" {
		return skippedRow(set, "ocrmypdf", name, "skipped (install "+pkg+")")
	}
	r := measured(set, "ocrmypdf", name, cfg.scanRuns, func() (*row, error) {
		return ocrmypdfRun(ctx, path, truth, cfg.cores, flags...)
	})
	r.note = "--output-type pdf --tesseract-oem 1 --sidecar, OMP_THREAD_LIMIT=1"
	return r
}

// ocrmypdfRun is one timed OCRmyPDF run over the PDF at path; the sidecar
// text gives the CER against truth.
func ocrmypdfRun(ctx context.Context, path string, truth []string, cores int, flags ...string) (*row, error) {
	dir, err := os.MkdirTemp("", "folio-bench-ocrmypdf-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	sidecar := filepath.Join(dir, "sidecar.txt")
	args := append(append([]string(nil), flags...), "--jobs", strconv.Itoa(cores), "--output-type", "pdf",
		"--tesseract-oem", "1", "-l", "eng", "--sidecar", sidecar, "--quiet", path, filepath.Join(dir, "out.pdf"))
	cmd := command(ctx, ompEnv, "ocrmypdf", args...)
	start := time.Now()
	if _, err := runCmd(cmd); err != nil {
		return nil, err
	}
	took := time.Since(start)
	text, err := os.ReadFile(sidecar)
	if err != nil {
		return nil, fmt.Errorf("ocrmypdf sidecar: %w", err)
	}
	pages, err := splitSidecar(string(text), len(truth))
	if err != nil {
		return nil, err
	}
	r := &row{pages: len(truth), took: took, rss: mib(peakRSSOf(cmd)), cer: &cerStats{}}
	for i, t := range pages {
		r.cer.add(truth[i], t)
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
