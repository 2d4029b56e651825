package jobs

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"github.com/hibiken/asynq"
	"go.uber.org/zap"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/folio-ocr/folio/filecache"
	"github.com/folio-ocr/folio/internal/iox"
	"github.com/folio-ocr/folio/pipeline"
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
	Ops    store.Operations
	Blobs  store.Blobs
	Files  *filecache.Cache
	PDF    pipeline.Opener
	Client *Client // enqueues the ranges a plan task produces
	Logger *zap.Logger
	// MaxPages is the most pages a file may have. If zero, DefaultMaxPages.
	MaxPages int
	// MaxFileBytes is the largest input file. If zero, DefaultMaxFileBytes.
	MaxFileBytes int64
	// PageTimeout bounds the time spent on one page; a page that takes
	// longer gets a DEADLINE_EXCEEDED error in its output entry and the
	// range goes on. If zero, DefaultPageTimeout.
	PageTimeout time.Duration
}

func (h *Handlers) pageTimeout() time.Duration {
	if h.PageTimeout > 0 {
		return h.PageTimeout
	}
	return DefaultPageTimeout
}

// Register adds the handlers to mux.
func (h *Handlers) Register(mux *asynq.ServeMux) {
	mux.HandleFunc(TypePlanFile, h.planFile)
	mux.HandleFunc(TypeAnnotateRange, h.annotateRange)
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
	if mt := req.GetInputConfig().GetMimeType(); mt != "application/pdf" {
		return permanent(&Failure{Code: codes.Unimplemented,
			Message: fmt.Sprintf("%s: %s input is not supported yet (only application/pdf)", uri, mt)})
	}
	attrs, err := h.Blobs.Attrs(ctx, uri)
	if err != nil {
		return fileFailure(uri, err)
	}
	dest := req.GetOutputConfig().GetGcsDestination().GetUri()
	if err := h.Blobs.BucketExists(ctx, dest); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return permanent(&Failure{Code: codes.NotFound,
				Message: fmt.Sprintf("the bucket of output destination %s does not exist", dest), Err: err})
		}
		return fileFailure(dest, err)
	}
	if attrs.Size > h.maxFileBytes() {
		return permanent(&Failure{Code: codes.InvalidArgument,
			Message: fmt.Sprintf("%s is %d bytes, over the limit of %d bytes", uri, attrs.Size, h.maxFileBytes())})
	}
	start := time.Now()
	doc, err := h.open(ctx, uri, attrs)
	if err != nil {
		return err
	}
	pages := doc.PageCount()
	_ = doc.Close()
	if pages > h.maxPages() {
		return permanent(&Failure{Code: codes.InvalidArgument,
			Message: fmt.Sprintf("%s has %d pages, over the limit of %d pages", uri, pages, h.maxPages())})
	}
	if pages < 1 {
		return permanent(&Failure{Code: codes.InvalidArgument, Message: fmt.Sprintf("%s has no pages", uri)})
	}
	batch := int(req.GetOutputConfig().GetBatchSize())
	if batch == 0 {
		batch = 20
	}
	prs, err := pipeline.SplitPages(pages, batch)
	if err != nil {
		return permanent(&Failure{Code: codes.InvalidArgument, Message: fmt.Sprintf("%s: %v", uri, err)})
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
	for _, r := range prs {
		t, err := newAnnotateRangeTask(AnnotateRangePayload{
			FileTask: p.FileTask, First: r.First, Last: r.Last,
			Generation: attrs.Generation, Size: attrs.Size,
		}, h.Client.queue, h.pageTimeout())
		if err != nil {
			return err
		}
		if err := h.Client.enqueue(ctx, t); err != nil {
			return fmt.Errorf("jobs: enqueue pages %d-%d of %s: %w", r.First, r.Last, uri, err)
		}
	}
	log.Info("planned file", zap.Int("pages", pages), zap.Int("ranges", len(prs)),
		zap.Int64("bytes", attrs.Size), zap.Duration("took", time.Since(start)))
	return nil
}

// annotateRange annotates the pages of one range and writes its output file.
func (h *Handlers) annotateRange(ctx context.Context, t *asynq.Task) error {
	var p AnnotateRangePayload
	req, err := decode(t, &p, &p.FileTask)
	if err != nil {
		return err
	}
	uri := req.GetInputConfig().GetGcsSource().GetUri()
	log := h.Logger.With(zap.String("operation", p.Operation), zap.Int("file", p.File), zap.String("uri", uri),
		zap.Int("first_page", p.First), zap.Int("last_page", p.Last))
	if done, err := h.finished(ctx, p.Operation); done || err != nil {
		if done {
			log.Debug("skipping range of finished operation")
		}
		return err
	}
	start := time.Now()
	doc, err := h.open(ctx, uri, store.ObjectAttrs{Size: p.Size, Generation: p.Generation})
	if err != nil {
		return err
	}
	defer func() { _ = doc.Close() }()
	if p.Last > doc.PageCount() {
		return permanent(&Failure{Code: codes.InvalidArgument,
			Message: fmt.Sprintf("%s has %d pages, fewer than planned (%d)", uri, doc.PageCount(), p.Last)})
	}

	// The output is streamed to storage a page at a time, so a range holds
	// one page's responses and JSON, not the whole file's. Cancelling wctx
	// before Close aborts the upload: every return before the commit below
	// leaves no object (and a retry rewrites the file whole).
	dest := pipeline.OutputName(req.GetOutputConfig().GetGcsDestination().GetUri(), pipeline.PageRange{First: p.First, Last: p.Last})
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
	input := proto.Clone(req.GetInputConfig()).(*visionpb.InputConfig)
	fw, err := pipeline.NewFileWriter(buf, input)
	if err != nil {
		return fmt.Errorf("jobs: encode output of %s: %w", uri, err)
	}
	// writePage streams one page's entry; the caller drops the page after.
	writePage := func(n int, r *visionpb.AnnotateImageResponse) error {
		if err := fw.WritePage(r); err != nil {
			return writeErr(dest, fmt.Errorf("page %d: %w", n, err))
		}
		return nil
	}

	lastCheck := time.Now()
	for n := p.First; n <= p.Last; n++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		if time.Since(lastCheck) > cancelCheckInterval {
			if done, err := h.finished(ctx, p.Operation); done || err != nil {
				log.Info("operation finished while annotating; dropping range", zap.Int("page", n))
				return err
			}
			lastCheck = time.Now()
		}
		pageCtx, cancel := context.WithTimeout(ctx, h.pageTimeout())
		page, err := doc.Page(pageCtx, n)
		timedOut := errors.Is(pageCtx.Err(), context.DeadlineExceeded)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if timedOut {
				// The engine was interrupted and the document is unusable:
				// report the page and reopen the document for the rest.
				log.Warn("page timed out", zap.Int("page", n), zap.Duration("timeout", h.pageTimeout()))
				if err := writePage(n, pageError(uri, n, &Failure{Code: codes.DeadlineExceeded,
					Message: fmt.Sprintf("took longer than %s", h.pageTimeout())})); err != nil {
					return err
				}
				_ = doc.Close()
				if doc, err = h.open(ctx, uri, store.ObjectAttrs{Size: p.Size, Generation: p.Generation}); err != nil {
					return err
				}
				continue
			}
			if !Permanent(err) {
				return fmt.Errorf("jobs: read page %d of %s: %w", n, uri, err)
			}
			log.Warn("page failed", zap.Int("page", n), zap.Error(err))
			if err := writePage(n, pageError(uri, n, err)); err != nil {
				return err
			}
			continue
		}
		if err := writePage(n, pipeline.AnnotatePage(page, req.GetFeatures(), uri)); err != nil {
			return err
		}
	}
	if err := fw.Close(); err != nil {
		return writeErr(dest, err)
	}
	if err := buf.Flush(); err != nil {
		return writeErr(dest, err)
	}
	// A cancel that arrived during the range must not produce output: the
	// deferred abort drops the upload.
	if done, err := h.finished(ctx, p.Operation); done || err != nil {
		if done {
			log.Info("operation finished while annotating; dropping range output")
		}
		return err
	}
	committed = true
	if err := ow.Close(); err != nil {
		return writeErr(dest, err)
	}
	c, err := h.Ops.CompleteRange(ctx, p.Operation, store.Range{File: p.File, First: p.First, Last: p.Last})
	if err != nil {
		return h.storeErr(err)
	}
	log.Info("annotated range", zap.String("output", dest), zap.Int64("bytes", counted.N),
		zap.Duration("took", time.Since(start)), zap.Bool("finalized", c == store.Finalized))
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
	if Permanent(err) {
		return permanent(&Failure{Code: Code(err), Message: fmt.Sprintf("cannot write %s", dest), Err: err})
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

// open returns the file's document, downloading it to the local cache once
// per generation.
func (h *Handlers) open(ctx context.Context, uri string, attrs store.ObjectAttrs) (pipeline.Document, error) {
	f, err := h.Files.Open(ctx, uri, attrs.Generation, func(ctx context.Context, w io.Writer) error {
		r, err := h.Blobs.NewReader(ctx, uri, attrs.Generation)
		if err != nil {
			return err
		}
		defer r.Close()
		n, err := io.Copy(w, io.LimitReader(r, h.maxFileBytes()+1))
		if err != nil {
			return fmt.Errorf("jobs: download %s: %w", uri, err)
		}
		if n > h.maxFileBytes() {
			return &Failure{Code: codes.InvalidArgument,
				Message: fmt.Sprintf("%s is over the limit of %d bytes", uri, h.maxFileBytes())}
		}
		return nil
	})
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
	doc, err := h.PDF.Open(ctx, f, st.Size())
	if err != nil {
		_ = f.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fileFailure(uri, err)
	}
	return &fileDoc{Document: doc, f: f}, nil
}

// fileDoc closes the cached file with its document.
type fileDoc struct {
	pipeline.Document
	f *os.File
}

func (d *fileDoc) Close() error {
	return errors.Join(d.Document.Close(), d.f.Close())
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

// storeErr treats a vanished operation as finished and everything else as
// retryable.
func (h *Handlers) storeErr(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

func pageError(uri string, n int, err error) *visionpb.AnnotateImageResponse {
	return &visionpb.AnnotateImageResponse{
		Error:   &statuspb.Status{Code: int32(Code(err)), Message: fmt.Sprintf("page %d of %s: %s", n, uri, detail(err))},
		Context: &visionpb.ImageAnnotationContext{Uri: uri, PageNumber: int32(n)},
	}
}

// permanent marks f as not worth retrying.
func permanent(f *Failure) error { return fmt.Errorf("%w: %w", f, asynq.SkipRetry) }
