package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/folio-ocr/folio/pipeline"
)

// A benchmarking aid, off by default: with FOLIO_SYNTHETIC_PAGE_DELAY set
// (say 20ms), every page of every input is answered after sleeping that
// long, from a fixed one-line text layer, instead of being read by pdfium or
// OCR'd. Everything around the page is Folio's production path: the file is
// downloaded to the cache and opened by the real opener (which counts its
// pages for planning), ranges and units are enqueued, routed (the text
// route), encoded, saved, merged, written to storage and completed in Redis
// as usual. `go run ./bench -fleet` uses it to measure what a fleet of
// workers costs Redis and storage per page, without the page work that would
// otherwise swamp a single machine. Never set it in production: every
// output would be the synthetic text.

// syntheticOpeners wraps each opener so that its documents answer pages
// synthetically after delay (see above).
func syntheticOpeners(openers map[string]pipeline.Opener, delay time.Duration) map[string]pipeline.Opener {
	out := make(map[string]pipeline.Opener, len(openers))
	for mime, o := range openers {
		out[mime] = syntheticOpener{real: o, delay: delay}
	}
	return out
}

// syntheticOpener opens documents with the real opener and replaces their
// page reads.
type syntheticOpener struct {
	real  pipeline.Opener
	delay time.Duration
}

func (o syntheticOpener) Open(ctx context.Context, r io.ReadSeeker, size int64) (pipeline.Document, error) {
	doc, err := o.real.Open(ctx, r, size)
	if err != nil {
		return nil, err
	}
	return syntheticDoc{Document: doc, delay: o.delay}, nil
}

// syntheticDoc keeps the real document's page count and Close.
type syntheticDoc struct {
	pipeline.Document
	delay time.Duration
}

// Page sleeps for the delay (or until ctx is done) and returns page n with
// a fixed text layer long enough for the text route.
func (d syntheticDoc) Page(ctx context.Context, n int) (*pipeline.Page, error) {
	t := time.NewTimer(d.delay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return syntheticPage(n), nil
}

// Raster is never called: synthetic pages take the text route.
func (d syntheticDoc) Raster(context.Context, int, pipeline.RasterOptions) (*pipeline.Raster, error) {
	return nil, errors.New("worker: synthetic pages have no raster")
}

// syntheticPage is a US Letter page with one 12 pt line of text.
func syntheticPage(n int) *pipeline.Page {
	text := fmt.Sprintf("Synthetic page %d of a Folio fleet benchmark.", n)
	p := &pipeline.Page{Number: n, Width: 612, Height: 792}
	x := 72.0
	for _, r := range text {
		p.Chars = append(p.Chars, pipeline.Char{Rune: r, Box: pipeline.Rect{Left: x, Bottom: 710, Right: x + 6, Top: 722}})
		x += 6
	}
	return p
}
