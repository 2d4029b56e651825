package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"

	"github.com/folio-ocr/folio/pipeline"
)

const bornSet = "born-digital"

// bornRows measures the born-digital set: Folio end to end with pdfium's
// interruption on and off, Folio's pipeline in-process, pdfium's text
// extraction alone (on and off) and pdftotext. It also returns a line
// describing the set.
func bornRows(ctx context.Context, cfg config, dep *lazyDeployment) ([]*row, string) {
	data, err := os.ReadFile(cfg.pdf)
	if err != nil {
		return []*row{skippedRow(bornSet, "", "all rows", "skipped (install r-doc-pdf or pass -pdf)")}, ""
	}
	pdfOn, err := pipeline.NewPDF(pipeline.PDFConfig{Instances: cfg.cores})
	if err != nil {
		return []*row{problemRow(bornSet, "", "all rows", fmt.Errorf("pdfium: %w", err))}, ""
	}
	defer pdfOn.Close()
	pdfOff, err := pipeline.NewPDF(pipeline.PDFConfig{Instances: cfg.cores, DisableInterrupt: true})
	if err != nil {
		return []*row{problemRow(bornSet, "", "all rows", fmt.Errorf("pdfium: %w", err))}, ""
	}
	defer pdfOff.Close()
	pages, err := countPages(ctx, pdfOn, data)
	if err != nil {
		return []*row{problemRow(bornSet, "", "all rows", fmt.Errorf("count pages of %s: %w", cfg.pdf, err))}, ""
	}
	for _, pdf := range []*pipeline.PDF{pdfOn, pdfOff} {
		// Instantiate every pdfium instance before timing.
		if _, err := inProcess(ctx, pdf, data, min(pages, cfg.cores), cfg.cores, false); err != nil {
			return []*row{problemRow(bornSet, "", "all rows", fmt.Errorf("warm pdfium up: %w", err))}, ""
		}
	}
	fact := fmt.Sprintf("born-digital set: `%s`, %d pages, %d bytes; %s per row",
		filepath.Base(cfg.pdf), pages, len(data), runsText(cfg.runs))

	var rows []*row
	if d, err := dep.get(ctx); err != nil {
		for _, on := range []bool{true, false} {
			rows = append(rows, problemRow(bornSet, "", folioBornName(on), err))
		}
	} else {
		d.upload("born.pdf", data)
		for _, on := range []bool{true, false} {
			rows = append(rows, folioBornRow(ctx, d, cfg, pages, on))
		}
	}
	rows = append(rows,
		measured(bornSet, "", "Folio pipeline in-process (interrupt on)", cfg.runs, func() (*row, error) {
			return inProcess(ctx, pdfOn, data, pages, cfg.cores, true)
		}),
		measured(bornSet, "pdfium-on", "pdfium text extraction alone (interrupt on)", cfg.runs, func() (*row, error) {
			return inProcess(ctx, pdfOn, data, pages, cfg.cores, false)
		}),
		measured(bornSet, "pdfium-off", "pdfium text extraction alone (interrupt off)", cfg.runs, func() (*row, error) {
			return inProcess(ctx, pdfOff, data, pages, cfg.cores, false)
		}))
	if pkg := missingTool("pdftotext"); pkg != "" {
		rows = append(rows, skippedRow(bornSet, "pdftotext", "pdftotext -bbox-layout", "skipped (install "+pkg+")"))
	} else {
		rows = append(rows, measured(bornSet, "pdftotext", "pdftotext -bbox-layout", cfg.runs, func() (*row, error) {
			return pdftotext(ctx, cfg.pdf, pages, cfg.cores)
		}))
	}
	return rows, fact
}

func folioBornName(interrupt bool) string {
	return fmt.Sprintf("**Folio end to end**, PDFIUM_INTERRUPT=%t", interrupt)
}

// folioBornRow submits the born-digital PDF to a fresh worker runs times.
// Its targets: 0.5× pdfium alone with the same interruption setting, and
// 0.5× pdftotext (DESIGN §6).
func folioBornRow(ctx context.Context, d *deployment, cfg config, pages int, interrupt bool) *row {
	name := folioBornName(interrupt)
	w, err := d.startWorker(ctx, cfg, interrupt)
	if err != nil {
		return problemRow(bornSet, "", name, err)
	}
	r := measured(bornSet, "", name, cfg.runs, func() (*row, error) {
		took, resps, err := d.annotate(ctx, "born.pdf", pages, cfg.batch)
		if err != nil {
			return nil, err
		}
		failed, failure := pageFailures(resps)
		return &row{pages: pages, took: took, failed: failed, failure: failure}, nil
	})
	r.rss = w.stop()
	r.note = workerNote(cfg, cfg.batch)
	pdfium := "pdfium-off"
	if interrupt {
		pdfium = "pdfium-on"
	}
	r.targets = []target{{ref: pdfium, label: "pdfium", min: 0.5}, {ref: "pdftotext", label: "pdftotext", min: 0.5}}
	return r
}

func countPages(ctx context.Context, pdf *pipeline.PDF, data []byte) (int, error) {
	doc, err := pdf.Open(ctx, bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return 0, err
	}
	defer doc.Close()
	return doc.PageCount(), nil
}

// inProcess extracts every page with cores goroutines, each with its own
// document; with annotate it also assembles and encodes, as a worker does.
func inProcess(ctx context.Context, pdf *pipeline.PDF, data []byte, pages, cores int, annotate bool) (*row, error) {
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
func extractShare(ctx context.Context, pdf *pipeline.PDF, data []byte, first, pages, step int, annotate bool) error {
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
