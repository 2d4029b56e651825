package jobs

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"github.com/hibiken/asynq"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/folio-ocr/folio/internal/iox"
	"github.com/folio-ocr/folio/metrics"
	"github.com/folio-ocr/folio/pipeline"
	"github.com/folio-ocr/folio/rpcerr"
	"github.com/folio-ocr/folio/store"
)

// annotateRange annotates the pages of one unit of a range. A unit that is
// the whole range streams its output file to storage; the units of a split
// range are saved in the operation store, and the worker that saves the last
// one assembles the file.
func (h *Handlers) annotateRange(ctx context.Context, t *asynq.Task) error {
	var p AnnotateRangePayload
	req, err := decode(t, &p, &p.FileTask)
	if err != nil {
		return err
	}
	uri := req.GetInputConfig().GetGcsSource().GetUri()
	unit := p.unit()
	log := h.Logger.With(zap.String("operation", p.Operation), zap.Int("file", p.File), zap.String("uri", uri),
		zap.Int("first_page", unit.First), zap.Int("last_page", unit.Last))
	if p.split() {
		log = log.With(zap.String("output_range", fmt.Sprintf("%d-%d", p.First, p.Last)))
	}
	if done, err := h.rangeDone(ctx, p.Operation, store.Range{File: p.File, First: p.First, Last: p.Last}); done || err != nil {
		if done {
			log.Info("skipping range: already done, or its operation finished")
		}
		return err
	}
	if err := h.authorize(p.Owner, []string{uri}, []string{req.GetOutputConfig().GetGcsDestination().GetUri()}); err != nil {
		return err
	}
	langs, err := h.languages(req)
	if err != nil {
		return err
	}
	log.Debug("range started")
	a := &annotator{h: h, p: p, req: req, uri: uri, log: log,
		ocr:   pipeline.OCROptions{Languages: langs, DetectOrientation: !h.NoOrientation},
		fonts: p.Fonts, fontsSampled: p.FontsSampled}
	defer a.closeProbed()
	switch {
	case p.split():
		err = a.writeUnit(ctx)
	case len(units(p.pages(), h.UnitPages)) > 1:
		var ocr bool
		if ocr, err = a.probe(ctx); err == nil {
			if ocr {
				err = a.split(ctx)
			} else {
				err = a.writeRange(ctx)
			}
		}
	default:
		err = a.writeRange(ctx)
	}
	if errors.Is(err, errFinished) {
		// Dropped, not failed: produce logged it at info. An error here
		// would count as a failure and schedule a retry for nothing.
		return nil
	}
	return err
}

// languages resolves the request's language hints into a Tesseract language
// string; a hint Folio cannot serve fails the file.
func (h *Handlers) languages(req *visionpb.AsyncAnnotateFileRequest) (string, error) {
	hints := req.GetImageContext().GetLanguageHints()
	if h.Languages == nil || len(hints) == 0 {
		return "", nil
	}
	l, err := h.Languages(hints)
	if err != nil {
		return "", permanent(&rpcerr.Error{Code: codes.InvalidArgument,
			Message: fmt.Sprintf("%s: %v", req.GetInputConfig().GetGcsSource().GetUri(), err)})
	}
	return l, nil
}

// annotator annotates the pages of one task.
type annotator struct {
	h   *Handlers
	p   AnnotateRangePayload
	req *visionpb.AsyncAnnotateFileRequest
	uri string
	log *zap.Logger
	ocr pipeline.OCROptions
	// pageList, when set, lists the pages to annotate, in order (a
	// synchronous call); otherwise the task's unit is annotated.
	pageList []int
	// openDoc, when set, opens the document (a synchronous call's inline
	// content); otherwise the task's file is opened from the cache.
	openDoc func(ctx context.Context) (pipeline.Document, error)

	// doc and probed, when set, are the document that probe opened and
	// the range's first page that it read: open and readPage hand them
	// out once.
	doc    pipeline.Document
	probed *pageRead

	// fonts is what the document tells of its fonts: sampled when the
	// file was planned, or else before its first text-layer page is laid
	// out (a synchronous call); nil if it cannot be. fontsSampled tells
	// that the sample was tried.
	fonts        *pipeline.Fonts
	fontsSampled bool

	textPages, ocrPages int
	// failedPages counts the pages written as errors; OCR goroutines add to
	// it concurrently.
	failedPages atomic.Int32
}

// writeRange annotates a whole range and streams its output file.
func (a *annotator) writeRange(ctx context.Context) error {
	return a.writeOutput(ctx, "annotated range", func(fw *pipeline.FileWriter, dest string) (int, bool, error) {
		failed := 0 // entries with an error, as failedPage counts them in merged units
		var enc []byte
		err := a.annotate(ctx, func(n int, r *visionpb.AnnotateImageResponse) error {
			var err error
			if enc, r, err = a.encode(enc[:0], n, r); err != nil {
				return writeErr(dest, fmt.Errorf("page %d: %w", n, err))
			}
			if r.GetError() != nil {
				failed++
			}
			if err := fw.WriteEncodedPage(enc); err != nil {
				return writeErr(dest, fmt.Errorf("page %d: %w", n, err))
			}
			return nil
		})
		return failed, false, err
	})
}

// writeOutput streams the range's output file, whose pages write gives to
// fw, and completes the range with the number of failed pages (entries
// with an error) write reports. The output goes to storage a page at a time, so a range holds a
// few pages' JSON, not the whole file's; nothing is visible until the
// commit at the end, so every return before it (an error, write reporting
// the range already done, the operation ending meanwhile) leaves no object,
// and a retry rewrites the file whole.
func (a *annotator) writeOutput(ctx context.Context, what string, write func(fw *pipeline.FileWriter, dest string) (failed int, done bool, err error)) error {
	h, p := a.h, a.p
	start := time.Now()
	dest := pipeline.OutputName(a.req.GetOutputConfig().GetGcsDestination().GetUri(), p.pages())
	// Cancelling wctx before Close aborts the upload.
	wctx, abort := context.WithCancel(ctx)
	defer abort()
	ow, err := h.Blobs.NewWriter(wctx, dest, "application/json")
	if err != nil {
		return writeErr(dest, err)
	}
	committed := false
	defer func() {
		if !committed {
			abort()
			_ = ow.Close()
		}
	}()
	counted := &iox.CountingWriter{W: ow}
	buf := bufio.NewWriterSize(counted, outputBufferSize)
	fw, err := pipeline.NewFileWriter(buf, proto.Clone(a.req.GetInputConfig()).(*visionpb.InputConfig))
	if err != nil {
		return fmt.Errorf("jobs: encode output of %s: %w", a.uri, err)
	}
	failed, done, err := write(fw, dest)
	if done || err != nil {
		return err
	}
	if err := fw.Close(); err != nil {
		return writeErr(dest, err)
	}
	if err := buf.Flush(); err != nil {
		return writeErr(dest, err)
	}
	// A cancel that arrived meanwhile must not produce output, nor may
	// another run of the range that finished first (after a rescue) see its
	// output replaced: the deferred abort drops the upload.
	if done, err := h.rangeDone(ctx, p.Operation, store.Range{File: p.File, First: p.First, Last: p.Last}); done || err != nil {
		if done {
			a.log.Info("range done elsewhere or operation finished while annotating; dropping range output")
		}
		return err
	}
	committed = true
	if err := ow.Close(); err != nil {
		return writeErr(dest, err)
	}
	c, err := h.Ops.CompleteRange(ctx, p.Operation, store.Range{File: p.File, First: p.First, Last: p.Last}, failed)
	if err != nil {
		return h.storeErr(err)
	}
	fields := []zap.Field{zap.String("output", dest), zap.Int64("bytes", counted.N),
		zap.Duration("took", time.Since(start)), zap.Bool("finalized", c == store.Finalized)}
	if !p.split() { // the pages were annotated here
		fields = append(fields, a.pageCounts()...)
	}
	task := "range"
	if p.split() {
		task = "merge"
	}
	h.Metrics.RangeTook(task, time.Since(start))
	a.log.Info(what, fields...)
	return nil
}

// pageCounts are the log fields of the pages this task annotated.
func (a *annotator) pageCounts() []zap.Field {
	return []zap.Field{zap.Int("text_pages", a.textPages), zap.Int("ocr_pages", a.ocrPages), zap.Int("failed_pages", int(a.failedPages.Load()))}
}

// writeUnit annotates one unit of a split range and saves it; the task that
// saves the range's last unit assembles the output file. A retried unit
// whose part is already saved is not annotated again.
func (a *annotator) writeUnit(ctx context.Context) error {
	h, p := a.h, a.p
	start := time.Now()
	rng := store.Range{File: p.File, First: p.First, Last: p.Last}
	unit := p.unit()
	data, err := h.Ops.Part(ctx, p.Operation, rng, unit.First)
	switch {
	case err == nil:
		a.log.Info("unit already saved by an earlier attempt")
	case errors.Is(err, store.ErrNotFound):
		var part bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&part, gzip.BestSpeed)
		var enc []byte
		var lenBuf [binary.MaxVarintLen64]byte
		err = a.annotate(ctx, func(n int, r *visionpb.AnnotateImageResponse) error {
			enc, _, err = a.encode(enc[:0], n, r)
			if err != nil {
				return fmt.Errorf("jobs: page %d of %s: %w", n, a.uri, err)
			}
			k := binary.PutUvarint(lenBuf[:], uint64(len(enc)))
			_, _ = zw.Write(lenBuf[:k])
			_, _ = zw.Write(enc)
			return nil
		})
		if err != nil {
			return err
		}
		if err := zw.Close(); err != nil {
			return fmt.Errorf("jobs: compress unit: %w", err)
		}
		data = part.Bytes()
	default:
		return err
	}
	saved, c, err := h.Ops.SavePart(ctx, p.Operation, rng, unit.First, data)
	if err != nil {
		return h.storeErr(err)
	}
	if c == store.AlreadyFinished {
		a.log.Info("operation finished while annotating; dropping unit")
		return nil
	}
	total := len(units(p.pages(), p.UnitPages))
	a.log.Info("annotated unit", append(a.pageCounts(), zap.Int("bytes", len(data)), zap.Int("units_saved", saved),
		zap.Int("units", total), zap.Duration("took", time.Since(start)))...)
	h.Metrics.RangeTook("unit", time.Since(start))
	if saved < total {
		return nil
	}
	return a.merge(ctx)
}

// merge writes the output file of a split range from its saved units and
// completes the range with the failed pages of all its units, counted as
// they are copied. Several workers may merge the same range at once; they
// write the same bytes.
func (a *annotator) merge(ctx context.Context) error {
	p := a.p
	rng := store.Range{File: p.File, First: p.First, Last: p.Last}
	return a.writeOutput(ctx, "merged range", func(fw *pipeline.FileWriter, dest string) (int, bool, error) {
		failed := 0
		for _, u := range units(p.pages(), p.UnitPages) {
			data, err := a.h.Ops.Part(ctx, p.Operation, rng, u.First)
			if errors.Is(err, store.ErrNotFound) {
				// Parts are dropped only when the range completes or the
				// operation ends: another worker finished the job.
				a.log.Info("units already merged by another worker")
				return 0, true, nil
			}
			if err != nil {
				return 0, false, err
			}
			n, err := copyPages(fw, data)
			if err != nil {
				return 0, false, writeErr(dest, fmt.Errorf("pages %d-%d: %w", u.First, u.Last, err))
			}
			failed += n
		}
		return failed, false, nil
	})
}

// copyPages writes the pages of a saved unit (gzip of length-prefixed page
// entries) to fw and returns how many of them are failed pages.
func copyPages(fw *pipeline.FileWriter, data []byte) (failed int, err error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return 0, fmt.Errorf("corrupt unit: %w", err)
	}
	br := bufio.NewReader(zr)
	var page []byte
	for {
		n, err := binary.ReadUvarint(br)
		if errors.Is(err, io.EOF) {
			return failed, nil
		}
		if err != nil || n > 1<<30 {
			return 0, fmt.Errorf("corrupt unit: %v", err)
		}
		if uint64(cap(page)) < n {
			page = make([]byte, n)
		}
		page = page[:n]
		if _, err := io.ReadFull(br, page); err != nil {
			return 0, fmt.Errorf("corrupt unit: %w", err)
		}
		if failedPage(page) {
			failed++
		}
		if err := fw.WriteEncodedPage(page); err != nil {
			return 0, err
		}
	}
}

// failedPage reports whether an encoded page response carries an error:
// a page that failed alone (pageOutcome), or whose features Folio could
// not serve (pipeline.AnnotatePage's code 12). Pages without the text "error": are
// passed over at memory speed; the others are decoded to be sure (on a
// 430 kB page, the search takes 0.15 ms, the decode 4 ms).
func failedPage(page []byte) bool {
	if !bytes.Contains(page, []byte(`"error":`)) {
		return false
	}
	var r struct {
		Error json.RawMessage `json:"error"`
	}
	return json.Unmarshal(page, &r) == nil && r.Error != nil
}

// pageResult is the outcome of one page: its response, or an error that
// fails the task (and is retried).
type pageResult struct {
	resp *visionpb.AnnotateImageResponse
	err  error
}

// annotate annotates the unit's pages and calls emit with each response in
// page order. Pages are read and rendered one at a time (a document is not
// safe for concurrent use), and OCR'd concurrently on up to OCRParallel
// pages; at most that many page images are held at once.
func (a *annotator) annotate(ctx context.Context, emit func(n int, r *visionpb.AnnotateImageResponse) error) error {
	pages := a.pages()
	if len(pages) == 0 {
		return nil
	}
	slots := make([]chan pageResult, len(pages))
	for i := range slots {
		slots[i] = make(chan pageResult, 1)
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait() // no goroutine outlives the task, nor uses the document after it closes
	defer cancel()

	// fatal receives the error of a panic in produce outside a page's
	// work (opening the document, say), which fails the task.
	fatal := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer func() {
			if v := recover(); v != nil {
				fatal <- taskPanic(a.log, v, a.uri)
			}
		}()
		a.produce(ctx, pages, slots, &wg)
	}()
	for i, slot := range slots {
		var r pageResult
		select {
		case r = <-slot:
		case err := <-fatal:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
		if r.err != nil {
			return r.err
		}
		if err := emit(pages[i], r.resp); err != nil {
			return err
		}
	}
	return nil
}

// pages returns the pages to annotate, in order.
func (a *annotator) pages() []int {
	if a.pageList != nil {
		return a.pageList
	}
	unit := a.p.unit()
	pages := make([]int, 0, unit.Last-unit.First+1)
	for n := unit.First; n <= unit.Last; n++ {
		pages = append(pages, n)
	}
	return pages
}

// pageRead is the outcome of reading one page's text layer.
type pageRead struct {
	n    int
	page *pipeline.Page
	err  error
}

// probe decides whether the range is split into units, which spreads a
// range's OCR over the fleet: it opens the document and reads the range's
// first page, and a page that goes to OCR (a scan, an image file's page)
// splits the range. Text-layer pages do not pay for units: a second open
// of the document per unit, and the units' round trip through the
// operation store. A range whose first page cannot be read is not split;
// that page's error is its entry. The document and the page are kept for
// the range's own annotation.
func (a *annotator) probe(ctx context.Context) (ocr bool, err error) {
	doc, err := a.open(ctx)
	if err != nil {
		return false, err
	}
	n := a.p.First
	if n > doc.PageCount() {
		a.doc = doc // produce reports the missing pages
		return false, nil
	}
	page, err := step(a, ctx, &doc, n, "extracting text", func(ctx context.Context) (*pipeline.Page, error) { return doc.Page(ctx, n) })
	a.doc, a.probed = doc, &pageRead{n: n, page: page, err: err}
	if err != nil {
		return false, nil
	}
	toOCR, _, err := a.route(page)
	return err == nil && toOCR, nil
}

// route reports whether page goes to OCR, and why (for logs): the router
// says so, OCR is on, and the request asks for text. A panic in the router
// is the page's INTERNAL error.
func (a *annotator) route(page *pipeline.Page) (ocr bool, why string, err error) {
	ocr, err = protect("annotating the text layer", func() (bool, error) {
		var route pipeline.Route
		route, why = a.h.Router.Route(page)
		return route != pipeline.RouteText && a.h.OCR != nil && pipeline.WantsText(a.req.GetFeatures()), nil
	})
	return ocr, why, err
}

// split enqueues the range's units after the first, each a task of its
// own (idempotently: a retry of this task enqueues nothing new), and
// annotates the first unit here.
func (a *annotator) split(ctx context.Context) error {
	h := a.h
	us := units(a.p.pages(), h.UnitPages)
	for _, u := range us[1:] {
		rp := a.p
		rp.UnitFirst, rp.UnitLast, rp.UnitPages = u.First, u.Last, h.UnitPages
		if err := h.enqueueRange(ctx, rp, a.uri); err != nil {
			return err
		}
	}
	a.p.UnitFirst, a.p.UnitLast, a.p.UnitPages = us[0].First, us[0].Last, h.UnitPages
	a.log = a.log.With(zap.String("output_range", fmt.Sprintf("%d-%d", a.p.First, a.p.Last)),
		zap.Int("units", len(us)))
	a.log.Info("range goes to OCR: split into units", zap.Int("unit_last_page", us[0].Last))
	return a.writeUnit(ctx)
}

// readPage reads page n's text layer within the page timeout, or hands
// out the page that probe read.
func (a *annotator) readPage(ctx context.Context, doc *pipeline.Document, n int) (*pipeline.Page, error) {
	if r := a.probed; r != nil && r.n == n {
		a.probed = nil
		return r.page, r.err
	}
	return step(a, ctx, doc, n, "extracting text", func(ctx context.Context) (*pipeline.Page, error) { return (*doc).Page(ctx, n) })
}

// sampleFonts samples the document's fonts once, within
// fontSampleTimeout, for the layout of its text-layer pages (see pipeline.Fonts). A document
// that cannot be sampled is laid out on glyph heights alone; one whose
// sample timed out is opened again, as step does for a page.
func (a *annotator) sampleFonts(ctx context.Context, doc *pipeline.Document) {
	if a.fontsSampled {
		return
	}
	a.fontsSampled = true
	d := *doc
	first := 1 // the page step names if the sample times out
	if pages := pipeline.FontSamplePages(d.PageCount()); len(pages) > 0 {
		first = pages[0]
	}
	f, err := stepWithin(a, ctx, doc, first, "sampling fonts", a.h.fontSampleTimeout(), func(ctx context.Context) (*pipeline.Fonts, error) {
		return pipeline.SampleFonts(ctx, d)
	})
	if err != nil {
		a.log.Warn("cannot sample the document's fonts; its text is laid out on glyph heights alone", zap.Error(err))
		return
	}
	a.fonts = f
}

// closeProbed closes the document that probe opened if no annotation took
// it.
func (a *annotator) closeProbed() {
	if a.doc != nil {
		_ = a.doc.Close()
		a.doc = nil
	}
}

// open opens the document whose pages are annotated, or hands out the one
// that probe opened.
func (a *annotator) open(ctx context.Context) (pipeline.Document, error) {
	if d := a.doc; d != nil {
		a.doc = nil
		return d, nil
	}
	if a.openDoc != nil {
		return a.openDoc(ctx)
	}
	attrs := store.ObjectAttrs{Size: a.p.Size, Generation: a.p.Generation}
	return a.h.open(ctx, a.uri, a.req.GetInputConfig().GetMimeType(), attrs)
}

// errFinished stops a range or unit whose operation was cancelled, failed
// or deleted; its handler drops the task and returns nil.
var errFinished = errors.New("jobs: operation finished")

// textLayouts is how many text-layer pages of a task are laid out at once,
// beside the extraction of the next.
const textLayouts = 2

// produce reads each page in order and fills its slot from a goroutine:
// text-layer pages once laid out (up to textLayouts at once), OCR pages
// once recognized (up to OCRParallel). On an error that fails the task, it
// fills the page's slot with the error and stops.
func (a *annotator) produce(ctx context.Context, pages []int, slots []chan pageResult, wg *sync.WaitGroup) {
	h, p := a.h, a.p
	doc, err := a.open(ctx)
	if err != nil {
		slots[0] <- pageResult{err: err}
		return
	}
	// A raster may be read from the document's file while it is OCR'd (a
	// TIFF page is read by path, and the input cache keeps the file only
	// while the document holds it open), so the document is closed only
	// after the OCR goroutines return.
	var ocrs sync.WaitGroup
	defer func() {
		ocrs.Wait()
		_ = doc.Close()
	}()
	if last := slices.Max(pages); last > doc.PageCount() {
		slots[0] <- pageResult{err: permanent(&rpcerr.Error{Code: codes.InvalidArgument,
			Message: fmt.Sprintf("%s has %d pages, fewer than planned (%d)", a.uri, doc.PageCount(), last)})}
		return
	}
	sem := make(chan struct{}, h.ocrParallel())
	layouts := make(chan struct{}, textLayouts)
	lastCheck := time.Now()
	for i := range slots {
		n := pages[i]
		if ctx.Err() != nil {
			return
		}
		if p.Operation != "" && time.Since(lastCheck) > cancelCheckInterval {
			done, err := h.finished(ctx, p.Operation)
			if done {
				a.log.Info("operation finished while annotating; dropping range", zap.Int("page", n))
				err = errFinished
			}
			if err != nil {
				slots[i] <- pageResult{err: err}
				return
			}
			lastCheck = time.Now()
		}
		pageStart := time.Now()
		page, err := a.readPage(ctx, &doc, n)
		if err != nil {
			out := a.pageOutcome(n, metrics.RouteNone, err)
			slots[i] <- out
			if out.err != nil {
				return
			}
			continue
		}
		ocr, why, err := a.route(page)
		if err != nil { // a panic: the page's error entry
			slots[i] <- a.pageOutcome(n, metrics.RouteNone, err)
			continue
		}
		if !ocr {
			a.sampleFonts(ctx, &doc)
			page.Fonts = a.fonts
			a.textPages++
			h.Metrics.PageRouted(pipeline.RouteText.String())
			a.log.Debug("page", zap.Int("page", n), zap.Stringer("route", pipeline.RouteText), zap.String("reason", why))
			// The layout runs beside the next page's extraction, which
			// the pdfium child process does meanwhile.
			select {
			case layouts <- struct{}{}:
			case <-ctx.Done():
				return
			}
			wg.Add(1)
			go func(i, n int, page *pipeline.Page, read time.Duration) {
				defer wg.Done()
				defer func() { <-layouts }()
				start := time.Now()
				resp, err := protect("annotating the text layer", func() (*visionpb.AnnotateImageResponse, error) {
					return pipeline.AnnotatePage(page, a.req.GetFeatures(), a.uri), nil
				})
				if err != nil { // a panic: the page's error entry
					slots[i] <- a.pageOutcome(n, metrics.RouteNone, err)
					return
				}
				slots[i] <- pageResult{resp: resp}
				h.Metrics.PageTook(pipeline.RouteText.String(), read+time.Since(start))
			}(i, n, page, time.Since(pageStart))
			continue
		}
		// The page's time so far; the wait for a slot below is not its own.
		read := time.Since(pageStart)
		select { // a slot bounds the page images held
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		rasterStart := time.Now()
		raster, err := step(a, ctx, &doc, n, "rasterizing", func(ctx context.Context) (*pipeline.Raster, error) {
			return doc.Raster(ctx, n, h.Raster)
		})
		if err != nil {
			<-sem
			out := a.pageOutcome(n, pipeline.RouteOCR.String(), err)
			slots[i] <- out
			if out.err != nil {
				return
			}
			continue
		}
		a.ocrPages++
		h.Metrics.PageRouted(pipeline.RouteOCR.String())
		prep := read + time.Since(rasterStart) // reading and rendering the page
		a.log.Debug("page", zap.Int("page", n), zap.Stringer("route", pipeline.RouteOCR), zap.String("reason", why),
			zap.String("raster", raster.Kind()))
		wg.Add(1)
		ocrs.Add(1)
		go func(i, n int) {
			defer wg.Done()
			defer ocrs.Done()
			defer func() { <-sem }()
			ocrStart := time.Now()
			res, err := protect("recognizing text", func() (pageResult, error) { return a.recognize(ctx, page, raster), nil })
			if err != nil { // a panic: the page's error entry
				res = a.pageOutcome(n, pipeline.RouteOCR.String(), err)
			}
			if res.err == nil {
				h.Metrics.PageTook(pipeline.RouteOCR.String(), prep+time.Since(ocrStart))
			}
			slots[i] <- res
		}(i, n)
	}
}

// step runs f, which does what to page n of the document, with the page
// timeout. A page that times out leaves the document unusable: it is
// reopened for the next page and f's error is DEADLINE_EXCEEDED. A page
// that panics (protect) may leave it in any state: it is reopened too, and
// f's error is INTERNAL. (The OCR goroutines still running keep their
// rasters: only a TIFF page's is read from the file, and TIFF pages, counted
// when the file was opened, never time out here.)
func step[T any](a *annotator, ctx context.Context, doc *pipeline.Document, n int, what string, f func(context.Context) (T, error)) (T, error) {
	return stepWithin(a, ctx, doc, n, what, a.h.pageTimeout(), f)
}

// stepWithin is step with a timeout of its own.
func stepWithin[T any](a *annotator, ctx context.Context, doc *pipeline.Document, n int, what string, timeout time.Duration, f func(context.Context) (T, error)) (T, error) {
	pageCtx, cancel := context.WithTimeout(ctx, timeout)
	v, err := protect(what, func() (T, error) { return f(pageCtx) })
	timedOut := errors.Is(pageCtx.Err(), context.DeadlineExceeded)
	cancel()
	if err == nil {
		return v, nil
	}
	if ctx.Err() != nil {
		return v, ctx.Err()
	}
	panicked := errors.Is(err, rpcerr.ErrPanic)
	if timedOut || panicked {
		if timedOut {
			a.log.Warn("page timed out", zap.Int("page", n), zap.String("while", what), zap.Duration("timeout", timeout))
			err = &rpcerr.Error{Code: codes.DeadlineExceeded, Message: fmt.Sprintf("took longer than %s", timeout)}
		}
		_, _ = protect("closing the document", func() (struct{}, error) { return struct{}{}, (*doc).Close() })
		d, oerr := a.open(ctx)
		if oerr != nil {
			return v, oerr
		}
		*doc = d
	}
	return v, err
}

// protect runs f, one step of one page's work, and turns a panic in it into
// the INTERNAL error of rpcerr.Recovered, "internal error while <what>",
// which the page's error entry carries (pageOutcome): the other pages, and
// the worker, go on. A panic recovered further down (pdfium's guard) gets
// the same message.
func protect[T any](what string, f func() (T, error)) (v T, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = rpcerr.Recovered(r, "internal error while %s", what)
		}
	}()
	v, err = f()
	if errors.Is(err, rpcerr.ErrPanic) {
		err = &rpcerr.Error{Code: codes.Internal, Message: "internal error while " + what, Err: err}
	}
	return v, err
}

// taskPanic is the error of a task whose work panicked with v outside any
// one page's (protect): INTERNAL, naming subject (the file), and permanent,
// since a retry would panic again. It logs the panic's value and stack.
func taskPanic(log *zap.Logger, v any, subject string) error {
	f := rpcerr.Recovered(v, "internal error while processing %s", subject)
	log.Error("task panicked; failing it without retries", append(panicFields(f), zap.String("subject", subject))...)
	return permanent(f)
}

// panicFields are the log fields of a recovered panic in err's chain: its
// value and stack; none if err holds no panic.
func panicFields(err error) []zap.Field {
	var pe *rpcerr.PanicError
	if !errors.As(err, &pe) {
		return nil
	}
	return []zap.Field{zap.String("panic", fmt.Sprint(pe.Value)), zap.ByteString("stack", pe.Stack)}
}

// encode appends the output entry of page n, whose response is r, to buf
// and returns it with the response it encodes: r, or, if encoding r
// panicked, the page's INTERNAL error entry.
func (a *annotator) encode(buf []byte, n int, r *visionpb.AnnotateImageResponse) ([]byte, *visionpb.AnnotateImageResponse, error) {
	b, err := protect("encoding", func() ([]byte, error) { return pipeline.EncodePage(buf, r) })
	if errors.Is(err, rpcerr.ErrPanic) {
		r = a.pageOutcome(n, metrics.RouteNone, err).resp
		b, err = pipeline.EncodePage(buf, r)
	}
	return b, r, err
}

// pageOutcome turns a page's error into its output entry when the page
// alone is at fault, or into an error that fails the task. route labels
// the failed page in metrics (metrics.RouteNone if it was not routed yet).
func (a *annotator) pageOutcome(n int, route string, err error) pageResult {
	var f *rpcerr.Error
	if errors.As(err, &f) && f.Code == codes.DeadlineExceeded || rpcerr.Permanent(err) {
		a.failedPages.Add(1)
		a.h.Metrics.PageFailed(route)
		if pf := panicFields(err); pf != nil {
			a.log.Error("page panicked; its output entry carries INTERNAL", append(pf, zap.Int("page", n), zap.Error(err))...)
		} else {
			a.log.Warn("page failed", zap.Int("page", n), zap.Error(err))
		}
		return pageResult{resp: pageError(a.uri, n, a.req.GetFeatures(), err)}
	}
	return pageResult{err: fmt.Errorf("jobs: page %d of %s: %w", n, a.uri, err)}
}

// recognize OCRs one page within the page timeout.
func (a *annotator) recognize(ctx context.Context, page *pipeline.Page, r *pipeline.Raster) pageResult {
	start := time.Now()
	pageCtx, cancel := context.WithTimeout(ctx, a.h.pageTimeout())
	defer cancel()
	ta, err := a.h.OCR.Recognize(pageCtx, r, a.ocr)
	if err != nil {
		if ctx.Err() != nil {
			return pageResult{err: ctx.Err()}
		}
		if errors.Is(pageCtx.Err(), context.DeadlineExceeded) {
			err = &rpcerr.Error{Code: codes.DeadlineExceeded, Message: fmt.Sprintf("OCR took longer than %s", a.h.pageTimeout())}
		}
		return a.pageOutcome(page.Number, pipeline.RouteOCR.String(), err)
	}
	if !page.Image {
		// PDF pages are measured in points, whatever resolution was OCR'd.
		for _, p := range ta.GetPages() {
			p.Width, p.Height = int32(page.Width+0.5), int32(page.Height+0.5)
		}
	}
	a.log.Debug("page recognized", zap.Int("page", page.Number), zap.Duration("took", time.Since(start)))
	return pageResult{resp: pipeline.Respond(page.Number, a.req.GetFeatures(), a.uri, ta)}
}

func (h *Handlers) ocrParallel() int {
	if h.OCRParallel > 0 {
		return h.OCRParallel
	}
	return runtime.NumCPU()
}
