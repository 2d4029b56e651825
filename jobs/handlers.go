package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"github.com/hibiken/asynq"
	"go.uber.org/zap"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"

	"github.com/folio-ocr/folio/auth"
	"github.com/folio-ocr/folio/filecache"
	"github.com/folio-ocr/folio/metrics"
	"github.com/folio-ocr/folio/pipeline"
	"github.com/folio-ocr/folio/rpcerr"
	"github.com/folio-ocr/folio/store"
)

// Default limits of Handlers.
const (
	DefaultMaxPages     = 2000
	DefaultMaxFileBytes = 1 << 30
	DefaultPageTimeout  = time.Minute
)

// cancelCheckInterval bounds how often a range asks the store whether its
// operation was cancelled: at a page boundary, at most this often.
const cancelCheckInterval = 250 * time.Millisecond

// Handlers processes Folio's tasks. All dependencies are explicit; build it
// once in cmd/worker.
type Handlers struct {
	Ops   store.Operations
	Blobs store.Blobs
	Files *filecache.Cache
	// Openers open input files by MIME type (application/pdf, image/tiff,
	// image/gif); a type without an opener fails the file UNIMPLEMENTED.
	Openers map[string]pipeline.Opener
	// OCR recognizes the pages that Router sends to OCR. If nil, such pages
	// get code 12 (no text layer and OCR is not enabled).
	OCR pipeline.Recognizer
	// Router chooses between a PDF page's text layer and OCR.
	Router pipeline.Router
	// Raster sets how pages become images for OCR.
	Raster pipeline.RasterOptions
	// OCRParallel is the most pages of one task OCR'd at once. If zero,
	// runtime.NumCPU().
	OCRParallel int
	// UnitPages splits ranges longer than this whose first page goes to
	// OCR into units of that many pages, annotated by separate tasks (on
	// several workers at once) and merged into the range's one output
	// file; text-layer ranges stay whole. Zero means one task per range.
	UnitPages int
	// NoOrientation turns off the detection of pages scanned sideways or
	// upside down.
	NoOrientation bool
	// Languages resolves a request's languageHints into a Tesseract
	// language string; an error names the hint. If nil, hints are ignored.
	Languages func(hints []string) (string, error)
	Client    *Client // enqueues the ranges a plan task produces
	// Results delivers the answers of synchronous calls to the api.
	Results store.Results
	// Running, if set, holds a heartbeat for every long task this worker
	// runs (plan_file, annotate_range, annotate_images), so that the
	// janitor queues again the tasks of a worker that stops beating
	// (RescueStale); if nil, such tasks wait for asynq's lease to lapse.
	Running *store.Running
	// JanitorLease, if set, elects the one worker whose RunJanitor does the
	// rounds; if nil, every worker's does.
	JanitorLease Leaser
	Logger       *zap.Logger
	// MaxPages is the most pages a file may have. If zero, DefaultMaxPages.
	MaxPages int
	// MaxFileBytes is the largest input file. If zero, DefaultMaxFileBytes.
	MaxFileBytes int64
	// PageTimeout bounds the time spent on one page; a page that takes
	// longer gets a DEADLINE_EXCEEDED error in its output entry and the
	// range goes on. If zero, DefaultPageTimeout.
	PageTimeout time.Duration
	// OperationDeadline, if positive, is how long an operation may run
	// from its creation: the janitor ends one still unfinished after it
	// with DEADLINE_EXCEEDED, naming the files and pages left (EndOverdue).
	OperationDeadline time.Duration
	// DeadlineCursor, if set, is where the janitor's deadline scan resumes,
	// whichever worker holds the janitor's lease; if nil, the scan is kept
	// in memory (and starts a day back in each process).
	DeadlineCursor *store.Cursor
	// overdueFrom is the in-memory deadline scan (EndOverdue).
	overdueFrom time.Time
	// FileErrors says whether a file that fails as a whole ends its
	// operation (FileErrorsFail, the zero value) or only itself
	// (FileErrorsContinue).
	FileErrors FileErrors
	// Metrics records pages, ranges, retries, the input cache and the
	// janitor. If nil, nothing is recorded.
	Metrics *metrics.Worker
	// Keys, when set (API_KEYS, API_KEYS_FILE), makes every task check its
	// files against the policy of the API key that created its operation
	// (see authorize); nil checks nothing.
	Keys *auth.Source
	// warnNoKeys logs once that tasks carry keys this worker lacks.
	warnNoKeys sync.Once
}

func (h *Handlers) pageTimeout() time.Duration {
	if h.PageTimeout > 0 {
		return h.PageTimeout
	}
	return DefaultPageTimeout
}

// Register adds the handlers to mux.
func (h *Handlers) Register(mux *asynq.ServeMux) {
	mux.HandleFunc(TypePlanFile, h.withHeartbeat(h.recovering(h.planFile)))
	mux.HandleFunc(TypeAnnotateRange, h.withHeartbeat(h.recovering(h.annotateRange)))
	mux.HandleFunc(TypeAnnotateSync, h.recovering(h.annotateSync))
	mux.HandleFunc(TypePlanImages, h.recovering(h.planImages))
	mux.HandleFunc(TypeAnnotateImages, h.withHeartbeat(h.recovering(h.annotateImages)))
	h.Metrics.Init([]string{pipeline.RouteText.String(), pipeline.RouteOCR.String()},
		[]string{TypePlanFile, TypeAnnotateRange, TypeAnnotateSync, TypePlanImages, TypeAnnotateImages})
}

// recovering runs handle and turns a panic that escapes it (planning a
// file, writing an output; a page's panic is that page's error entry, see
// protect) into the task's permanent INTERNAL failure naming its file.
// asynq would recover the panic too, but retry the task, which would only
// panic again.
func (h *Handlers) recovering(handle asynq.HandlerFunc) asynq.HandlerFunc {
	return func(ctx context.Context, t *asynq.Task) (err error) {
		defer func() {
			if v := recover(); v != nil {
				var p AnnotateRangePayload // a superset of the file and images payloads
				_ = json.Unmarshal(t.Payload(), &p)
				subject := fmt.Sprintf("task %s", t.Type())
				if req, rerr := p.request(); rerr == nil && req.GetInputConfig().GetGcsSource().GetUri() != "" {
					subject = req.GetInputConfig().GetGcsSource().GetUri()
				} else if t.Type() == TypeAnnotateImages {
					subject = fmt.Sprintf("images %d-%d", p.First, p.Last)
				}
				err = taskPanic(h.Logger.With(zap.String("operation", p.Operation), zap.String("task_type", t.Type()),
					zap.Int("file", p.File)), v, subject)
			}
		}()
		return handle(ctx, t)
	}
}

func (h *Handlers) maxPages() int {
	if h.MaxPages > 0 {
		return h.MaxPages
	}
	return DefaultMaxPages
}

func (h *Handlers) maxFileBytes() int64 {
	if h.MaxFileBytes > 0 {
		return h.MaxFileBytes
	}
	return DefaultMaxFileBytes
}

// planFile stats and counts one file, records its ranges and enqueues them.
func (h *Handlers) planFile(ctx context.Context, t *asynq.Task) error {
	var p PlanFilePayload
	req, err := decode(t, &p, &p.FileTask)
	if err != nil {
		return err
	}
	uri := req.GetInputConfig().GetGcsSource().GetUri()
	log := h.Logger.With(zap.String("operation", p.Operation), zap.Int("file", p.File), zap.String("uri", uri))
	if done, err := h.finished(ctx, p.Operation); done || err != nil {
		return err
	}
	if err := h.authorize(p.Owner, []string{uri}, []string{req.GetOutputConfig().GetGcsDestination().GetUri()}); err != nil {
		return err
	}
	if _, err := h.opener(req); err != nil {
		return err
	}
	if _, err := h.languages(req); err != nil {
		return err
	}
	attrs, err := h.Blobs.Attrs(ctx, uri)
	if err != nil {
		return fileFailure(uri, err)
	}
	dest := req.GetOutputConfig().GetGcsDestination().GetUri()
	if err := h.Blobs.BucketExists(ctx, dest); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return permanent(&rpcerr.Error{Code: codes.NotFound,
				Message: fmt.Sprintf("the bucket of output destination %s does not exist", dest), Err: err})
		}
		return fileFailure(dest, err)
	}
	if attrs.Size > h.maxFileBytes() {
		return permanent(&rpcerr.Error{Code: codes.InvalidArgument,
			Message: fmt.Sprintf("%s is %d bytes, over the limit of %d bytes", uri, attrs.Size, h.maxFileBytes())})
	}
	start := time.Now()
	doc, err := h.open(ctx, uri, req.GetInputConfig().GetMimeType(), attrs)
	if err != nil {
		return err
	}
	var fonts *pipeline.Fonts
	pages := func() int {
		defer func() { _ = doc.Close() }() // even if counting panics
		n := doc.PageCount()
		if n <= h.maxPages() {
			fonts = h.sampleFonts(ctx, doc, log)
		}
		return n
	}()
	if pages > h.maxPages() {
		return permanent(&rpcerr.Error{Code: codes.InvalidArgument,
			Message: fmt.Sprintf("%s has %d pages, over the limit of %d pages", uri, pages, h.maxPages())})
	}
	if pages < 1 {
		return permanent(&rpcerr.Error{Code: codes.InvalidArgument, Message: fmt.Sprintf("%s has no pages", uri)})
	}
	batch := pipeline.BatchSize(req.GetOutputConfig().GetBatchSize())
	prs, err := pipeline.SplitPages(pages, batch)
	if err != nil {
		return permanent(&rpcerr.Error{Code: codes.InvalidArgument, Message: fmt.Sprintf("%s: %v", uri, err)})
	}
	ranges := make([]store.Range, len(prs))
	for i, r := range prs {
		ranges[i] = store.Range{File: p.File, First: r.First, Last: r.Last}
	}
	c, err := h.Ops.PlanFile(ctx, p.Operation, p.File, ranges)
	if err != nil {
		return h.storeErr(err)
	}
	if c == store.AlreadyFinished {
		return nil
	}
	// One task per range: a range whose first page goes to OCR splits
	// itself into units when it starts (annotator.probe).
	for _, r := range prs {
		rp := AnnotateRangePayload{
			FileTask: p.FileTask, First: r.First, Last: r.Last,
			Generation: attrs.Generation, Size: attrs.Size,
			Fonts: fonts, FontsSampled: true,
		}
		if err := h.enqueueRange(ctx, rp, uri); err != nil {
			return err
		}
	}
	log.Info("planned file", zap.Int("pages", pages), zap.Int("ranges", len(prs)),
		zap.Int64("bytes", attrs.Size), zap.Duration("took", time.Since(start)))
	return nil
}

// sampleFonts samples doc's fonts (pipeline.FontSampler) within
// fontSampleTimeout; nil when doc is not a PDF, or cannot be sampled (a
// sampled page is broken or hostile), which leaves its layout to glyph
// heights. A sample that fails may leave doc unusable.
func (h *Handlers) sampleFonts(ctx context.Context, doc pipeline.Document, log *zap.Logger) *pipeline.Fonts {
	sctx, cancel := context.WithTimeout(ctx, h.fontSampleTimeout())
	defer cancel()
	f, err := protect("sampling fonts", func() (*pipeline.Fonts, error) { return pipeline.SampleFonts(sctx, doc) })
	if err != nil {
		log.Warn("cannot sample the file's fonts; its text is laid out on glyph heights alone", zap.Error(err))
		return nil
	}
	return f
}

// maxFontSampleTime bounds a font sample, which takes tens of
// milliseconds on ordinary pages.
const maxFontSampleTime = 2 * time.Second

// fontSampleTimeout is the time a font sample may take: a quarter of the
// page timeout, at most maxFontSampleTime, so that a hostile page among
// the sampled ones, which its range meets again, delays its entry by
// little more than PAGE_TIMEOUT.
func (h *Handlers) fontSampleTimeout() time.Duration {
	return min(h.pageTimeout()/4, maxFontSampleTime)
}

// enqueueRange enqueues the task of a range, or of one unit of it, of the
// file at uri; enqueueing it again is a no-op.
func (h *Handlers) enqueueRange(ctx context.Context, rp AnnotateRangePayload, uri string) error {
	t, err := newAnnotateRangeTask(rp, h.Client.queue, h.pageTimeout())
	if err != nil {
		return err
	}
	if err := h.Client.enqueue(ctx, t); err != nil {
		u := rp.unit()
		return fmt.Errorf("jobs: enqueue pages %d-%d of %s: %w", u.First, u.Last, uri, err)
	}
	return nil
}

// outputBufferSize is the buffer between a range's FileWriter and its
// storage writer. The FileWriter already writes a page per call; the buffer
// gathers small pages (an error entry is a few hundred bytes) into fewer
// writes to the storage writer, each of which is a hand-off to its upload
// goroutine.
const outputBufferSize = 64 << 10

// writeErr classifies an error of writing dest, from the storage writer
// (through the FileWriter while streaming) or from encoding a page:
// permanent storage errors (missing bucket, permission denied, bad name)
// fail the operation; others, encoding errors included (Internal), are
// retried, as before output was streamed.
func writeErr(dest string, err error) error {
	if rpcerr.Permanent(err) {
		return permanent(&rpcerr.Error{Code: rpcerr.Code(err), Message: fmt.Sprintf("cannot write %s", dest), Err: err})
	}
	return fmt.Errorf("jobs: write %s: %w", dest, err)
}

// decode unmarshals t's payload into p, whose FileTask is ft, and returns
// the file request it carries. An undecodable task is never retried.
func decode(t *asynq.Task, p any, ft *FileTask) (*visionpb.AsyncAnnotateFileRequest, error) {
	if err := json.Unmarshal(t.Payload(), p); err != nil {
		return nil, fmt.Errorf("jobs: decode %s: %v: %w", t.Type(), err, asynq.SkipRetry)
	}
	req, err := ft.request()
	if err != nil {
		return nil, fmt.Errorf("%v: %w", err, asynq.SkipRetry)
	}
	return req, nil
}

// opener returns the opener of the request's input file.
func (h *Handlers) opener(req *visionpb.AsyncAnnotateFileRequest) (pipeline.Opener, error) {
	return h.openerOf(req.GetInputConfig().GetGcsSource().GetUri(), req.GetInputConfig().GetMimeType())
}

func (h *Handlers) openerOf(uri, mimeType string) (pipeline.Opener, error) {
	if o := h.Openers[mimeType]; o != nil {
		return o, nil
	}
	return nil, permanent(&rpcerr.Error{Code: codes.Unimplemented,
		Message: fmt.Sprintf("%s: %s input is not supported", uri, mimeType)})
}

// open returns the file's document, downloading it to the local cache once
// per generation.
func (h *Handlers) open(ctx context.Context, uri, mimeType string, attrs store.ObjectAttrs) (pipeline.Document, error) {
	fetched := int64(-1) // bytes downloaded, if the cache did not have the file
	f, err := h.Files.Open(ctx, uri, attrs.Generation, func(ctx context.Context, w io.Writer) error {
		r, err := h.Blobs.NewReader(ctx, uri, attrs.Generation)
		if err != nil {
			fetched = 0
			return err
		}
		defer r.Close()
		n, err := io.Copy(w, io.LimitReader(r, h.maxFileBytes()+1))
		fetched = n
		if err != nil {
			return fmt.Errorf("jobs: download %s: %w", uri, err)
		}
		if n > h.maxFileBytes() {
			return &rpcerr.Error{Code: codes.InvalidArgument,
				Message: fmt.Sprintf("%s is over the limit of %d bytes", uri, h.maxFileBytes())}
		}
		return nil
	})
	if fetched >= 0 {
		h.Metrics.CacheMiss(fetched)
	} else if err == nil {
		h.Metrics.CacheHit()
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fileFailure(uri, err)
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("jobs: stat cached %s: %w", uri, err)
	}
	return h.openFile(ctx, f, st.Size(), uri, mimeType)
}

// openFile opens the cached file f, of size bytes, as a document of type
// mimeType; name names it in errors. f is closed with the document, or at
// once on an error: the cache keeps the file on disk until then, so a
// document may read it again by name (TIFF pages are).
func (h *Handlers) openFile(ctx context.Context, f *filecache.File, size int64, name, mimeType string) (pipeline.Document, error) {
	opener, err := h.openerOf(name, mimeType)
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	doc, err := opener.Open(ctx, f, size)
	if err != nil {
		_ = f.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fileFailure(name, err)
	}
	return &fileDoc{Document: doc, f: f}, nil
}

// fileDoc closes the cached file with its document.
type fileDoc struct {
	pipeline.Document
	f *filecache.File
}

func (d *fileDoc) Close() error {
	return errors.Join(d.Document.Close(), d.f.Close())
}

// SampleFonts samples the document's fonts if its engine knows them
// (pipeline.FontSampler); otherwise it returns nil.
func (d *fileDoc) SampleFonts(ctx context.Context, pages []int) (*pipeline.Fonts, error) {
	if fs, ok := d.Document.(pipeline.FontSampler); ok {
		return fs.SampleFonts(ctx, pages)
	}
	return nil, nil
}

// finished reports whether the operation is done, failed, cancelled or
// deleted, so its remaining work can be dropped.
func (h *Handlers) finished(ctx context.Context, id string) (bool, error) {
	done, err := h.Ops.Finished(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return true, nil // deleted or expired
	}
	if err != nil {
		return false, err
	}
	return done, nil
}

// rangeDone reports whether range r of operation id needs no more work: it
// was completed (by another run of the same range: the janitor's rescue
// and asynq's own retry may both run it), or the operation finished or was
// deleted.
func (h *Handlers) rangeDone(ctx context.Context, id string, r store.Range) (bool, error) {
	done, err := h.Ops.RangeDone(ctx, id, r)
	if errors.Is(err, store.ErrNotFound) {
		return true, nil // deleted or expired
	}
	if err != nil {
		return false, err
	}
	return done, nil
}

// storeErr treats a vanished operation as finished and everything else as
// retryable.
func (h *Handlers) storeErr(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

// pageError is the output entry of page n of the file at uri, which failed
// with err, for a request of features: shaped as Vision's failed pages (see
// pipeline.FailedPage).
// A panic's entry says what was being done, not the panic's value, which is
// for logs.
func pageError(uri string, n int, features []*visionpb.Feature, err error) *visionpb.AnnotateImageResponse {
	msg := detail(err)
	if errors.Is(err, rpcerr.ErrPanic) {
		msg = rpcerr.Public(err).Message
	}
	return pipeline.FailedPage(n, features, uri,
		&statuspb.Status{Code: int32(rpcerr.Code(err)), Message: fmt.Sprintf("page %d of %s: %s", n, uri, msg)})
}

// permanent marks f as not worth retrying.
func permanent(f *rpcerr.Error) error { return fmt.Errorf("%w: %w", f, asynq.SkipRetry) }
