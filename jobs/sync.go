package jobs

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"github.com/hibiken/asynq"
	"go.uber.org/zap"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/folio-ocr/folio/auth"
	"github.com/folio-ocr/folio/pipeline"
	"github.com/folio-ocr/folio/rpcerr"
	"github.com/folio-ocr/folio/store"
)

// TypeAnnotateSync is a synchronous call, files:annotate or
// images:annotate, run by a worker for an api process that waits for its
// result. Persisted in Redis: never rename.
const TypeAnnotateSync = "folio:annotate_sync"

// MaxSyncPages is the most pages (or frames) of a file that one
// files:annotate call reads, as Google's; without pages, the first ones.
const MaxSyncPages = 5

// Defaults of synchronous calls.
const (
	// DefaultSyncTimeout bounds a synchronous call whose caller set no
	// deadline.
	DefaultSyncTimeout = 2 * time.Minute
	// DefaultMaxImageBytes is the largest image images:annotate reads.
	DefaultMaxImageBytes = 40 << 20
	// resultTTL is how long a result waits for an api that stopped waiting.
	resultTTL = time.Minute
)

// SyncQueue returns the asynq queue of synchronous calls beside work queue
// q. Workers serve it with capacity of its own, so that a call is not
// stuck behind a backlog of ranges.
func SyncQueue(q string) string {
	if q == "" {
		q = DefaultQueue
	}
	return q + "-sync"
}

// SyncPayload is the payload of TypeAnnotateSync: one call, exactly one of
// Files and Images set.
type SyncPayload struct {
	// ID names the call; its result is delivered under it.
	ID string `json:"id"`
	// Files is a protojson BatchAnnotateFilesRequest.
	Files json.RawMessage `json:"files,omitempty"`
	// Images is a protojson BatchAnnotateImagesRequest.
	Images json.RawMessage `json:"images,omitempty"`
	// Owner is the API key of the call (see FileTask.Owner).
	Owner string `json:"owner,omitempty"`
}

// syncResult is what a worker delivers for a call: the response as
// protojson, or the error the caller gets.
type syncResult struct {
	Response json.RawMessage `json:"response,omitempty"`
	Code     codes.Code      `json:"code,omitempty"`
	Message  string          `json:"message,omitempty"`
}

// SyncClient runs synchronous calls on the workers and waits for their
// results. It implements the api's synchronous methods.
type SyncClient struct {
	q       *asynq.Client
	queue   string
	results store.Results
	timeout time.Duration
}

// NewSyncClient returns a SyncClient that queues calls with c on the sync
// queue beside c's queue and waits for their results in results. Calls
// whose context has no deadline get timeout (if zero, DefaultSyncTimeout).
func NewSyncClient(c *Client, results store.Results, timeout time.Duration) *SyncClient {
	if timeout <= 0 {
		timeout = DefaultSyncTimeout
	}
	return &SyncClient{q: c.q, queue: SyncQueue(c.queue), results: results, timeout: timeout}
}

// AnnotateFiles runs a files:annotate call on a worker.
func (s *SyncClient) AnnotateFiles(ctx context.Context, req *visionpb.BatchAnnotateFilesRequest) (*visionpb.BatchAnnotateFilesResponse, error) {
	resp := &visionpb.BatchAnnotateFilesResponse{}
	return resp, s.run(ctx, func(p *SyncPayload, b json.RawMessage) { p.Files = b }, req, resp)
}

// AnnotateImages runs an images:annotate call on a worker.
func (s *SyncClient) AnnotateImages(ctx context.Context, req *visionpb.BatchAnnotateImagesRequest) (*visionpb.BatchAnnotateImagesResponse, error) {
	resp := &visionpb.BatchAnnotateImagesResponse{}
	return resp, s.run(ctx, func(p *SyncPayload, b json.RawMessage) { p.Images = b }, req, resp)
}

// run queues req as a call, waits for the result until ctx's deadline and
// decodes it into resp. The task carries the deadline, so a worker does not
// start a call its caller has given up on.
func (s *SyncClient) run(ctx context.Context, set func(*SyncPayload, json.RawMessage), req, resp proto.Message) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.timeout)
		defer cancel()
	}
	deadline, _ := ctx.Deadline()
	body, err := protojson.Marshal(req)
	if err != nil {
		return fmt.Errorf("jobs: encode call: %w", err)
	}
	var id [12]byte
	_, _ = rand.Read(id[:])
	p := SyncPayload{ID: hex.EncodeToString(id[:]), Owner: auth.OwnerFrom(ctx)}
	set(&p, body)
	payload, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("jobs: encode call: %w", err)
	}
	t := asynq.NewTask(TypeAnnotateSync, payload, asynq.TaskID("sync:"+p.ID), asynq.Queue(s.queue),
		asynq.MaxRetry(0), asynq.Deadline(deadline))
	if _, err := s.q.EnqueueContext(ctx, t); err != nil {
		if ctx.Err() != nil {
			return syncDeadline(ctx)
		}
		return fmt.Errorf("jobs: queue call: %w: %v", store.ErrUnavailable, err)
	}
	data, err := s.results.Wait(ctx, p.ID)
	if err != nil {
		if ctx.Err() != nil {
			return syncDeadline(ctx)
		}
		return fmt.Errorf("jobs: wait for call: %w", err)
	}
	var r syncResult
	if err := json.Unmarshal(data, &r); err != nil {
		return fmt.Errorf("jobs: decode result: %w", err)
	}
	if r.Code != codes.OK {
		return &rpcerr.Error{Code: r.Code, Message: r.Message}
	}
	if err := protojson.Unmarshal(r.Response, resp); err != nil {
		return fmt.Errorf("jobs: decode result: %w", err)
	}
	return nil
}

// syncDeadline is the error of a call whose context ended first.
func syncDeadline(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.Canceled) {
		return &rpcerr.Error{Code: codes.Canceled, Message: "the call was cancelled", Err: ctx.Err()}
	}
	return &rpcerr.Error{Code: codes.DeadlineExceeded,
		Message: "the call did not finish within its deadline; the workers may be busy, or the pages slow", Err: ctx.Err()}
}

// annotateSync runs one synchronous call and delivers its result. A call
// that fails delivers its error; the task itself fails only when the
// result cannot be delivered.
func (h *Handlers) annotateSync(ctx context.Context, t *asynq.Task) error {
	var p SyncPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil || p.ID == "" {
		return fmt.Errorf("jobs: decode %s: %v: %w", t.Type(), err, asynq.SkipRetry)
	}
	log := h.Logger.With(zap.String("call", p.ID), zap.String("task_type", t.Type()))
	start := time.Now()
	// A panic outside a file's or image's work (which syncFile and
	// syncImage answer) is the call's INTERNAL error; the caller gets it.
	body, err := protect("answering the call", func() ([]byte, error) {
		var (
			resp proto.Message
			err  error
		)
		switch {
		case p.Files != nil:
			req := &visionpb.BatchAnnotateFilesRequest{}
			if err = protojson.Unmarshal(p.Files, req); err == nil {
				err = h.authorize(p.Owner, fileURIs(req.GetRequests()), nil)
			}
			if err == nil {
				resp, err = h.syncFiles(ctx, req, log)
			}
		case p.Images != nil:
			req := &visionpb.BatchAnnotateImagesRequest{}
			if err = protojson.Unmarshal(p.Images, req); err == nil {
				err = h.authorize(p.Owner, imageURIs(req.GetRequests()), nil)
			}
			if err == nil {
				resp, err = h.syncImages(ctx, req, log)
			}
		default:
			err = errors.New("jobs: call has neither files nor images")
		}
		if err != nil {
			return nil, err
		}
		return protojson.Marshal(resp)
	})
	r := syncResult{Response: body}
	if err != nil {
		pe := rpcerr.Public(err)
		r.Code, r.Message = pe.Code, pe.Message
		log.Warn("call failed", append(panicFields(err), zap.String("code", rpcerr.Name(pe.Code)), zap.Error(err))...)
	}
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("jobs: encode result: %w", err)
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := h.Results.Put(pctx, p.ID, data, resultTTL); err != nil {
		return fmt.Errorf("jobs: deliver result of call %s: %w", p.ID, err)
	}
	log.Info("call answered", zap.Duration("took", time.Since(start)), zap.Int("bytes", len(data)))
	return nil
}

// syncFiles answers a files:annotate call, one AnnotateFileResponse per
// request; a file that cannot be read gets its error in its response.
func (h *Handlers) syncFiles(ctx context.Context, req *visionpb.BatchAnnotateFilesRequest, log *zap.Logger) (*visionpb.BatchAnnotateFilesResponse, error) {
	out := &visionpb.BatchAnnotateFilesResponse{}
	for i, r := range req.GetRequests() {
		fr, err := h.syncFile(ctx, r, log.With(zap.Int("file", i)))
		if err != nil {
			return nil, err
		}
		out.Responses = append(out.Responses, fr)
	}
	return out, nil
}

// syncFile annotates the chosen pages of one file. Errors of the file
// (missing, corrupt, a page out of range, a panic outside a page's work)
// go into the response; only the end of ctx is returned.
func (h *Handlers) syncFile(ctx context.Context, r *visionpb.AnnotateFileRequest, log *zap.Logger) (res *visionpb.AnnotateFileResponse, err error) {
	in := r.GetInputConfig()
	echo := &visionpb.InputConfig{GcsSource: in.GetGcsSource(), MimeType: in.GetMimeType()}
	out := &visionpb.AnnotateFileResponse{InputConfig: echo}
	fail := func(err error) (*visionpb.AnnotateFileResponse, error) {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		pe := rpcerr.Public(err)
		out.Error = &statuspb.Status{Code: int32(pe.Code), Message: pe.Message}
		out.Responses = nil
		return out, nil
	}
	uri, name := in.GetGcsSource().GetUri(), in.GetGcsSource().GetUri()
	if uri == "" {
		name = "the inline content"
	}
	defer func() {
		if v := recover(); v != nil {
			f := rpcerr.Recovered(v, "internal error while reading %s", name)
			log.Error("file panicked; its response carries INTERNAL", panicFields(f)...)
			res, err = fail(f)
		}
	}()
	open := func(ctx context.Context) (pipeline.Document, error) {
		return h.openContent(ctx, in.GetContent(), in.GetMimeType(), name)
	}
	if uri != "" {
		attrs, err := h.Blobs.Attrs(ctx, uri)
		if err != nil {
			return fail(fileFailure(uri, err))
		}
		if attrs.Size > h.maxFileBytes() {
			return fail(&rpcerr.Error{Code: codes.InvalidArgument,
				Message: fmt.Sprintf("%s is %d bytes, over the limit of %d bytes", uri, attrs.Size, h.maxFileBytes())})
		}
		open = func(ctx context.Context) (pipeline.Document, error) { return h.open(ctx, uri, in.GetMimeType(), attrs) }
	}
	doc, err := open(ctx)
	if err != nil {
		return fail(err)
	}
	count := doc.PageCount()
	out.TotalPages = int32(count)
	pages, err := syncPages(r.GetPages(), count, name)
	if err != nil {
		_ = doc.Close()
		return fail(err)
	}
	areq := &visionpb.AsyncAnnotateFileRequest{InputConfig: in, Features: r.GetFeatures(), ImageContext: r.GetImageContext()}
	resps, err := h.annotatePages(ctx, areq, name, doc, open, pages, log)
	if err != nil {
		return fail(err)
	}
	for _, pr := range resps {
		if uri == "" {
			pr.GetContext().Uri = ""
		}
	}
	out.Responses = resps
	return out, nil
}

// syncPages returns the pages a files:annotate call reads of a file of
// count pages: pages as asked (1-based; -1 is the last page), or the first
// MaxSyncPages. A page outside the file is INVALID_ARGUMENT naming it.
func syncPages(asked []int32, count int, name string) ([]int, error) {
	if len(asked) == 0 {
		pages := make([]int, 0, MaxSyncPages)
		for n := 1; n <= min(count, MaxSyncPages); n++ {
			pages = append(pages, n)
		}
		return pages, nil
	}
	pages := make([]int, len(asked))
	for i, p := range asked {
		n := int(p)
		if n < 0 {
			n = count + 1 + n
		}
		if n < 1 || n > count {
			return nil, rpcerr.Errorf(codes.InvalidArgument, "page %d is out of range: %s has %d pages", p, name, count)
		}
		pages[i] = n
	}
	return pages, nil
}

// syncImages answers an images:annotate call, one AnnotateImageResponse
// per image, in order; an image that cannot be read gets its error in its
// response.
func (h *Handlers) syncImages(ctx context.Context, req *visionpb.BatchAnnotateImagesRequest, log *zap.Logger) (*visionpb.BatchAnnotateImagesResponse, error) {
	out := &visionpb.BatchAnnotateImagesResponse{}
	for i, r := range req.GetRequests() {
		ir, err := h.syncImage(ctx, i, r, log.With(zap.Int("image", i)))
		if err != nil {
			return nil, err
		}
		out.Responses = append(out.Responses, ir)
	}
	return out, nil
}

// syncImage annotates one image: a still image, a GIF's first frame, a PDF's
// or TIFF's first page.
func (h *Handlers) syncImage(ctx context.Context, i int, r *visionpb.AnnotateImageRequest, log *zap.Logger) (resp *visionpb.AnnotateImageResponse, err error) {
	fail := func(err error) (*visionpb.AnnotateImageResponse, error) {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		pe := rpcerr.Public(err)
		return &visionpb.AnnotateImageResponse{Error: &statuspb.Status{Code: int32(pe.Code), Message: pe.Message}}, nil
	}
	img := r.GetImage()
	name := fmt.Sprintf("requests[%d].image.content", i)
	// A panic outside the page's work (which gets its own error entry) is
	// the image's INTERNAL error.
	defer func() {
		if v := recover(); v != nil {
			f := rpcerr.Recovered(v, "internal error while reading %s", name)
			log.Error("image panicked; its response carries INTERNAL", panicFields(f)...)
			resp, err = fail(f)
		}
	}()
	data := img.GetContent()
	if len(data) == 0 {
		name = img.GetSource().GetGcsImageUri()
		if name == "" {
			name = img.GetSource().GetImageUri()
		}
		var err error
		if data, err = h.readImage(ctx, name); err != nil {
			return fail(err)
		}
	}
	mime := pipeline.SniffImage(data)
	if mime == "" {
		return fail(rpcerr.Errorf(codes.InvalidArgument,
			"%s is not an image Folio reads (JPEG, PNG, GIF, BMP, WebP, ICO, PDF or TIFF)", name))
	}
	open := func(ctx context.Context) (pipeline.Document, error) { return h.openContent(ctx, data, mime, name) }
	doc, err := open(ctx)
	if err != nil {
		return fail(err)
	}
	areq := &visionpb.AsyncAnnotateFileRequest{InputConfig: &visionpb.InputConfig{MimeType: mime},
		Features: r.GetFeatures(), ImageContext: r.GetImageContext()}
	resps, err := h.annotatePages(ctx, areq, name, doc, open, []int{1}, log)
	if err != nil {
		return fail(err)
	}
	resp = resps[0]
	resp.Context = nil        // images have no file context,
	pipeline.PixelBoxes(resp) // and boxes in pixels
	return resp, nil
}

// readImage reads the gs:// object of an image, at most
// DefaultMaxImageBytes.
func (h *Handlers) readImage(ctx context.Context, uri string) ([]byte, error) {
	rc, err := h.Blobs.NewReader(ctx, uri, 0)
	if err != nil {
		return nil, fileFailure(uri, err)
	}
	defer func() { _ = rc.Close() }()
	data, err := io.ReadAll(io.LimitReader(rc, DefaultMaxImageBytes+1))
	if err != nil {
		return nil, fileFailure(uri, err)
	}
	if len(data) > DefaultMaxImageBytes {
		return nil, rpcerr.Errorf(codes.InvalidArgument, "%s is over the limit of %d bytes for an image", uri, DefaultMaxImageBytes)
	}
	return data, nil
}

// openContent opens bytes sent inline as a document of type mime, through
// the file cache (keyed by their hash), since some openers read a file on
// disk.
func (h *Handlers) openContent(ctx context.Context, data []byte, mime, name string) (pipeline.Document, error) {
	sum := sha256.Sum256(data)
	key := "sha256:" + hex.EncodeToString(sum[:])
	f, err := h.Files.Open(ctx, key, 0, func(ctx context.Context, w io.Writer) error {
		_, err := io.Copy(w, bytes.NewReader(data))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("jobs: cache %s: %w", name, err)
	}
	return h.openFile(ctx, f, int64(len(data)), name, mime)
}

// annotatePages annotates pages of the open document doc for areq and
// returns their responses in order; doc is closed, and reopen opens it
// again after a page that timed out. Page errors are in the responses; an
// error returned fails the whole file.
func (h *Handlers) annotatePages(ctx context.Context, areq *visionpb.AsyncAnnotateFileRequest, name string,
	doc pipeline.Document, reopen func(context.Context) (pipeline.Document, error), pages []int,
	log *zap.Logger) ([]*visionpb.AnnotateImageResponse, error) {
	langs, err := h.languages(areq)
	if err != nil {
		_ = doc.Close()
		return nil, err
	}
	opened := doc
	a := &annotator{h: h, req: areq, uri: name, log: log, pageList: pages,
		ocr: pipeline.OCROptions{Languages: langs, DetectOrientation: !h.NoOrientation},
		openDoc: func(ctx context.Context) (pipeline.Document, error) {
			if d := opened; d != nil {
				opened = nil // the first open is the document at hand; a page timeout reopens
				return d, nil
			}
			return reopen(ctx)
		}}
	var out []*visionpb.AnnotateImageResponse
	err = a.annotate(ctx, func(_ int, r *visionpb.AnnotateImageResponse) error {
		out = append(out, r)
		return nil
	})
	if opened != nil {
		_ = opened.Close()
	}
	return out, err
}
