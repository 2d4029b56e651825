package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"

	"github.com/folio-ocr/folio/pipeline"
)

// The born-digital sets: -pdf and, with -born-book, the R manuals book.
const (
	bornSet     = "born-digital"
	bornBookSet = "born-digital book"
)

// bornFile is one born-digital file measured as a set of its own.
type bornFile struct {
	set    string
	path   string
	object string // its name in the GCS emulator
	batch  int    // outputConfig.batchSize of its Folio rows
	what   string // how the fact line describes it, after its name
}

// bornEngines are the pdfium engines of the in-process rows, shared by the
// born-digital files: in this process with the interrupt on and off, and
// in child processes (nil, with isolatedErr, if they could not start).
type bornEngines struct {
	on, off     *pipeline.PDF
	isolated    *pipeline.IsolatedPDF
	isolatedErr error
}

// startBornEngines starts one pdfium instance per core in each engine.
func startBornEngines(cores int) (*bornEngines, error) {
	on, err := pipeline.NewPDF(pipeline.PDFConfig{Instances: cores})
	if err != nil {
		return nil, fmt.Errorf("pdfium, interrupt on: %w", err)
	}
	off, err := pipeline.NewPDF(pipeline.PDFConfig{Instances: cores, DisableInterrupt: true})
	if err != nil {
		_ = on.Close()
		return nil, fmt.Errorf("pdfium, interrupt off: %w", err)
	}
	e := &bornEngines{on: on, off: off}
	if e.isolated, e.isolatedErr = pipeline.NewIsolatedPDF(pipeline.PDFConfig{Instances: cores}); e.isolatedErr != nil {
		e.isolatedErr = fmt.Errorf("pdfium child processes: %w", e.isolatedErr)
	}
	return e, nil
}

// Close stops every engine, the child processes included.
func (e *bornEngines) Close() {
	_ = e.on.Close()
	_ = e.off.Close()
	if e.isolated != nil {
		_ = e.isolated.Close()
	}
}

// warm instantiates every pdfium instance (and child process) of each
// engine and reads data once with each before timing; an isolated engine
// that fails here is left out of the rows, with the error.
func (e *bornEngines) warm(ctx context.Context, data []byte, pages, cores int) error {
	for _, pdf := range []pipeline.Opener{e.on, e.off} {
		if _, err := inProcess(ctx, pdf, data, min(pages, cores), cores, false); err != nil {
			return fmt.Errorf("warm pdfium up: %w", err)
		}
	}
	if e.isolated != nil {
		if _, err := inProcess(ctx, e.isolated, data, min(pages, cores), cores, false); err != nil {
			e.isolatedErr = fmt.Errorf("warm pdfium child processes up: %w", err)
			_ = e.isolated.Close()
			e.isolated = nil
		}
	}
	return nil
}

// bornFiles are the born-digital files the flags select: -pdf, and the R
// manuals book with -born-book. A book that cannot be built comes back as
// a skipped or failed row.
func bornFiles(ctx context.Context, cfg config) ([]bornFile, []*row) {
	files := []bornFile{{set: bornSet, path: cfg.pdf, object: "born.pdf", batch: cfg.batch}}
	if !cfg.bornBook {
		return files, nil
	}
	book, err := buildBook(ctx, cfg.corpusDir)
	if err != nil {
		return files, []*row{problemRow(bornBookSet, "", "all rows (the R manuals joined with qpdf)", err)}
	}
	return append(files, bornFile{set: bornBookSet, path: book, object: "born-book.pdf", batch: cfg.bookBatch,
		what: "the R manuals and the first " + strconv.Itoa(refmanPages) + " pages of refman.pdf, joined with qpdf"}), nil
}

// bornRows measures the born-digital sets, each file as a set of its own:
// Folio end to end with the worker's defaults (pdfium in child processes)
// and with PDFIUM_ISOLATE=false (pdfium in the worker, interrupt on),
// Folio's pipeline in-process, pdfium's text extraction alone (interrupt
// on, off, and in child processes) and pdftotext. It also returns a line
// describing each set.
func bornRows(ctx context.Context, cfg config, dep *lazyDeployment) ([]*row, []string) {
	files, rows := bornFiles(ctx, cfg)
	var facts []string
	eng, err := startBornEngines(cfg.cores)
	if err != nil {
		for _, f := range files {
			rows = append(rows, problemRow(f.set, "", "all rows", err))
		}
		return rows, nil
	}
	defer eng.Close()
	for _, f := range files {
		rs, fact := bornFileRows(ctx, cfg, dep, eng, f)
		rows, facts = append(rows, rs...), appendNonEmpty(facts, fact)
	}
	return rows, facts
}

// bornFileRows measures one born-digital file, as described at bornRows.
func bornFileRows(ctx context.Context, cfg config, dep *lazyDeployment, eng *bornEngines, f bornFile) ([]*row, string) {
	data, err := os.ReadFile(f.path)
	if err != nil {
		logf("%s: %v", f.set, err)
		return []*row{skippedRow(f.set, "", "all rows", "skipped (install r-doc-pdf or pass -pdf)")}, ""
	}
	pages, err := countPages(ctx, eng.on, data)
	if err != nil {
		return []*row{problemRow(f.set, "", "all rows", fmt.Errorf("count pages of %s: %w", f.path, err))}, ""
	}
	if err := eng.warm(ctx, data, pages, cfg.cores); err != nil {
		return []*row{problemRow(f.set, "", "all rows", err)}, ""
	}
	what := ""
	if f.what != "" {
		what = " (" + f.what + ")"
	}
	fact := fmt.Sprintf("%s set: `%s`%s, %d pages, %d bytes; %s per row",
		f.set, filepath.Base(f.path), what, pages, len(data), runsText(cfg.runs))

	// pdftotext runs right after each run of Folio's defaults, so that
	// the two meet the same load on this noisy machine.
	var text *paired
	missingText := missingTool("pdftotext")
	if missingText == "" {
		text = &paired{set: f.set, id: "pdftotext", name: "pdftotext -bbox-layout", run: func() (*row, error) {
			return pdftotext(ctx, f.path, pages, cfg.cores)
		}}
	}
	var rows []*row
	if d, err := dep.get(ctx); err != nil {
		for _, fr := range folioBornRows {
			rows = append(rows, problemRow(f.set, "", fr.name, err))
		}
	} else {
		d.upload(f.object, data)
		for _, fr := range folioBornRows {
			var beside *paired
			if fr.paired {
				beside = text
			}
			rows = append(rows, folioBornRow(ctx, d, cfg, f, pages, fr, beside))
		}
	}
	rows = append(rows,
		measured(f.set, "", "Folio pipeline in-process (interrupt on)", cfg.runs, func() (*row, error) {
			return inProcess(ctx, eng.on, data, pages, cfg.cores, true)
		}),
		measured(f.set, "pdfium-on", "pdfium text extraction alone (interrupt on)", cfg.runs, func() (*row, error) {
			return inProcess(ctx, eng.on, data, pages, cfg.cores, false)
		}),
		measured(f.set, "pdfium-off", "pdfium text extraction alone (interrupt off)", cfg.runs, func() (*row, error) {
			return inProcess(ctx, eng.off, data, pages, cfg.cores, false)
		}))
	const isolatedName = "pdfium text extraction alone, isolated (child processes)"
	if eng.isolated == nil {
		rows = append(rows, problemRow(f.set, "pdfium-isolated", isolatedName, eng.isolatedErr))
	} else {
		r := measured(f.set, "pdfium-isolated", isolatedName, cfg.runs, func() (*row, error) {
			return inProcess(ctx, eng.isolated, data, pages, cfg.cores, false)
		})
		if r.measured() {
			r.note = fmt.Sprintf("%d goroutines, %d child processes (interrupt off)", cfg.cores, cfg.cores)
		}
		rows = append(rows, r)
	}
	switch {
	case text == nil:
		rows = append(rows, skippedRow(f.set, "pdftotext", "pdftotext -bbox-layout", "skipped (install "+missingText+")"))
	case len(text.runs) == 0: // Folio's row failed before any run
		rows = append(rows, measured(f.set, text.id, text.name, cfg.runs, text.run))
	default:
		rows = append(rows, text.row())
	}
	return rows, fact
}

// paired is a measurement run right after each run of a Folio row, so
// that both meet the same load; its row is the median of its runs.
type paired struct {
	set, id, name string
	run           func() (*row, error)
	runs          []*row
	err           error
}

// row is the median of the runs, or the first error.
func (p *paired) row() *row {
	if p.err != nil {
		return problemRow(p.set, p.id, p.name, p.err)
	}
	r := medianRow(p.runs)
	r.set, r.id, r.name = p.set, p.id, p.name
	return r
}

// folioBornSetting is one worker setting of the Folio end-to-end rows.
type folioBornSetting struct {
	name    string
	env     []string
	targets []target
	paired  bool // pdftotext runs right after each of its runs
}

// folioBornRows are the Folio end-to-end rows of each born-digital file:
// the worker's defaults, held to DESIGN §6's target (0.5× pdftotext, which
// runs right after each of its runs), with its ratio to pdfium's
// extraction alone (interrupt off, in this process: no page timeout, no
// layout, no output) for information; and the previous default, pdfium in
// the worker with the interrupt on, to show the gain.
var folioBornRows = []folioBornSetting{
	{name: "**Folio end to end**, defaults", targets: []target{
		{ref: "pdftotext", label: "pdftotext", min: 0.5}, {ref: "pdfium-off", label: "pdfium off", info: true}}, paired: true},
	{name: "Folio end to end, PDFIUM_ISOLATE=false", env: []string{"PDFIUM_ISOLATE=false"}},
}

// folioBornRow submits the file to a fresh worker with the setting's
// environment runs times; beside, if not nil, runs right after each run,
// and the note gives the ratio of pages/s of each pair.
func folioBornRow(ctx context.Context, d *deployment, cfg config, f bornFile, pages int, s folioBornSetting, beside *paired) *row {
	w, err := d.startWorker(ctx, cfg, s.env...)
	if err != nil {
		return problemRow(f.set, "", s.name, err)
	}
	var ratios []string
	r := measured(f.set, "", s.name, cfg.runs, func() (*row, error) {
		took, prefix, err := d.submit(ctx, f.object, pages, f.batch)
		if err == nil && beside != nil && beside.err == nil {
			// Before the outputs are decoded here, which takes a core.
			b, err := beside.run()
			if err != nil {
				beside.err = err
			} else {
				beside.runs = append(beside.runs, b)
				ratios = append(ratios, fmt.Sprintf("%.2f", b.took.Seconds()/took.Seconds()))
			}
		}
		if err != nil {
			return nil, err
		}
		got, err := d.results(prefix, pages, f.batch)
		if err != nil {
			return nil, err
		}
		failed, failure := pageFailures(got)
		return &row{pages: pages, took: took, failed: failed, failure: failure}, nil
	})
	r.rss = w.stop()
	r.note = workerNote(cfg, f.batch)
	if len(ratios) > 0 {
		r.note += "; pages/s of each run ÷ those of the " + beside.name + " run right after it: " + strings.Join(ratios, ", ")
	}
	r.targets = s.targets
	return r
}

// countPages opens data with pdf and returns its page count.
func countPages(ctx context.Context, pdf pipeline.Opener, data []byte) (int, error) {
	doc, err := pdf.Open(ctx, bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return 0, err
	}
	defer doc.Close()
	return doc.PageCount(), nil
}

// inProcess extracts every page with cores goroutines, each with its own
// document; with annotate it also assembles and encodes, as a worker does.
func inProcess(ctx context.Context, pdf pipeline.Opener, data []byte, pages, cores int, annotate bool) (*row, error) {
	start := time.Now()
	var wg sync.WaitGroup
	errc := make(chan error, cores)
	for c := range cores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := extractShare(ctx, pdf, data, c+1, pages, cores, annotate); err != nil {
				errc <- err
			}
		}()
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return nil, err
	}
	return &row{pages: pages, took: time.Since(start), note: fmt.Sprintf("%d goroutines", cores)}, nil
}

// extractShare opens its own document and handles pages first,
// first+step, ... up to pages.
func extractShare(ctx context.Context, pdf pipeline.Opener, data []byte, first, pages, step int, annotate bool) error {
	doc, err := pdf.Open(ctx, bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return err
	}
	defer doc.Close()
	features := []*visionpb.Feature{{Type: visionpb.Feature_DOCUMENT_TEXT_DETECTION}}
	for n := first; n <= pages; n += step {
		p, err := doc.Page(ctx, n)
		if err != nil {
			return fmt.Errorf("page %d: %w", n, err)
		}
		if annotate {
			resp := pipeline.AnnotatePage(p, features, "gs://b/in.pdf")
			if _, err := pipeline.EncodeFileResponse(pipeline.NewFileResponse(nil, []*visionpb.AnnotateImageResponse{resp})); err != nil {
				return fmt.Errorf("page %d: %w", n, err)
			}
		}
	}
	return nil
}

// pdftotext runs one pdftotext -bbox-layout process per core over a share
// of the pages.
func pdftotext(ctx context.Context, path string, pages, cores int) (*row, error) {
	start := time.Now()
	per := (pages + cores - 1) / cores
	err := forEach(ctx, cores, cores, func(c int) error {
		first, last := c*per+1, min((c+1)*per, pages)
		if first > last {
			return nil
		}
		cmd := command(ctx, nil, "pdftotext", "-bbox-layout", "-f", strconv.Itoa(first), "-l", strconv.Itoa(last), path, "-")
		cmd.Stdout = io.Discard
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("pdftotext pages %d-%d: %w", first, last, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &row{pages: pages, took: time.Since(start), note: fmt.Sprintf("%d processes", cores)}, nil
}
