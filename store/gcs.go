package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"
)

// GCS is the Cloud Storage implementation of Blobs. It honours
// STORAGE_EMULATOR_HOST through the client library.
type GCS struct {
	c *storage.Client
	// WriteChunkSize is the chunk size of NewWriter's uploads, rounded up
	// to a multiple of 256 KiB by the storage library. If zero,
	// DefaultWriteChunkSize.
	WriteChunkSize int
}

var _ Blobs = (*GCS)(nil)

// NewGCS returns Blobs backed by c. The caller owns c and closes it.
func NewGCS(c *storage.Client) *GCS { return &GCS{c: c} }

// ParseURI splits gs://bucket/object into bucket and object names.
func ParseURI(uri string) (bucket, object string, err error) {
	rest, ok := strings.CutPrefix(uri, "gs://")
	if !ok {
		return "", "", fmt.Errorf("store: %q is not a gs:// URI", uri)
	}
	bucket, object, _ = strings.Cut(rest, "/")
	if bucket == "" || object == "" {
		return "", "", fmt.Errorf("store: %q does not name a bucket and an object", uri)
	}
	return bucket, object, nil
}

func (g *GCS) object(uri string) (*storage.ObjectHandle, error) {
	b, o, err := ParseURI(uri)
	if err != nil {
		return nil, err
	}
	return g.c.Bucket(b).Object(o), nil
}

// Attrs returns the object's size and generation.
func (g *GCS) Attrs(ctx context.Context, uri string) (ObjectAttrs, error) {
	o, err := g.object(uri)
	if err != nil {
		return ObjectAttrs{}, err
	}
	a, err := o.Attrs(ctx)
	if err != nil {
		return ObjectAttrs{}, wrapGCS("stat "+uri, err)
	}
	return ObjectAttrs{Size: a.Size, Generation: a.Generation}, nil
}

// BucketExists fails with ErrNotFound when uri's bucket does not exist.
func (g *GCS) BucketExists(ctx context.Context, uri string) error {
	rest, ok := strings.CutPrefix(uri, "gs://")
	bucket, _, _ := strings.Cut(rest, "/")
	if !ok || bucket == "" {
		return fmt.Errorf("store: %q does not name a bucket: %w", uri, ErrInvalidArgument)
	}
	_, err := g.c.Bucket(bucket).Attrs(ctx)
	if err == nil {
		return nil
	}
	if werr := wrapGCS("stat bucket "+bucket, err); errors.Is(werr, ErrNotFound) {
		return werr
	}
	return nil // unknown: writing will tell
}

// NewReader reads generation gen of the object (0 = latest).
func (g *GCS) NewReader(ctx context.Context, uri string, gen int64) (io.ReadCloser, error) {
	o, err := g.object(uri)
	if err != nil {
		return nil, err
	}
	if gen > 0 {
		o = o.Generation(gen)
	}
	r, err := o.NewReader(ctx)
	if err != nil {
		return nil, wrapGCS("read "+uri, err)
	}
	return &gcsReader{r: r, uri: uri}, nil
}

// gcsReader maps a storage.Reader's errors to the store's sentinels, as
// NewReader's own: a Read that fails after the library's retries of the
// download (an answer of 503 to its reopen, say) is UNAVAILABLE, retried
// in seconds, not an unclassified INTERNAL error. io.EOF is passed as is.
type gcsReader struct {
	r   *storage.Reader
	uri string
}

func (r *gcsReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		return n, wrapGCS("read "+r.uri, err)
	}
	return n, err
}

func (r *gcsReader) Close() error { return r.r.Close() }

// DefaultWriteChunkSize is the default ChunkSize of the writers NewWriter
// returns. Each holds one buffer of this size (the storage library's
// resumable-upload chunk, kept so that a failed chunk can be resent), so a
// write's memory is bounded by it whatever the object's size. Objects up to this size are
// uploaded in one request when the writer is closed; larger ones in chunks
// of this size as they are written, the object appearing only when the
// last chunk is sent by Close.
const DefaultWriteChunkSize = 8 << 20

// NewWriter starts a resumable upload to uri in chunks of WriteChunkSize
// (DefaultWriteChunkSize, 8 MiB: one such buffer per open writer).
// Cancelling ctx before Close aborts it: the object is not created or
// replaced. The caller must call Close.
func (g *GCS) NewWriter(ctx context.Context, uri, contentType string) (io.WriteCloser, error) {
	chunk := g.WriteChunkSize
	if chunk <= 0 {
		chunk = DefaultWriteChunkSize
	}
	o, err := g.object(uri)
	if err != nil {
		return nil, err
	}
	// The library retries an upload only when it is idempotent, that is
	// when it has a generation precondition (RetryIdempotent, its default
	// policy): a write like this one, without preconditions, fails at the
	// first 503 or reset connection, and the whole range is annotated
	// again by the task's retry, seconds later. Writing an output object
	// again is safe, so its upload is retried whatever the precondition
	// (RetryAlways): its name and bytes are determined by the request and
	// the range, and a repeated write that lands twice replaces the object
	// with the same bytes. Nothing is visible before the upload completes,
	// so a retried upload never leaves half an object either. The error
	// function is the library's own list of transient errors (ShouldRetry),
	// which has a connection closed before the answer (EOF: the write may
	// have landed, its answer is lost), where the upload's default has not.
	w := o.Retryer(storage.WithPolicy(storage.RetryAlways), storage.WithErrorFunc(storage.ShouldRetry)).NewWriter(ctx)
	w.ContentType = contentType
	w.ChunkSize = chunk
	return &gcsWriter{w: w, uri: uri}, nil
}

// gcsWriter maps a storage.Writer's errors to the store's sentinels.
type gcsWriter struct {
	w   *storage.Writer
	uri string
}

func (w *gcsWriter) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	if err != nil {
		return n, wrapGCS("write "+w.uri, err)
	}
	return n, nil
}

func (w *gcsWriter) Close() error {
	if err := w.w.Close(); err != nil {
		return wrapGCS("write "+w.uri, err)
	}
	return nil
}

// wrapGCS maps Cloud Storage errors to the store's sentinels.
func wrapGCS(what string, err error) error {
	if errors.Is(err, storage.ErrObjectNotExist) || errors.Is(err, storage.ErrBucketNotExist) {
		return fmt.Errorf("store: %s: %w", what, ErrNotFound)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	var gerr *googleapi.Error
	if errors.As(err, &gerr) {
		switch gerr.Code {
		case http.StatusNotFound:
			return fmt.Errorf("store: %s: %w", what, ErrNotFound)
		case http.StatusForbidden, http.StatusUnauthorized:
			return fmt.Errorf("store: %s: %w: %s", what, ErrPermissionDenied, gerr.Message)
		case http.StatusBadRequest:
			return fmt.Errorf("store: %s: %w: %s", what, ErrInvalidArgument, gerr.Message)
		}
	}
	return fmt.Errorf("store: %s: %w: %v", what, ErrUnavailable, err)
}
