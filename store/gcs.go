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
	return r, nil
}

// Write stores data at uri in one request, replacing any existing object.
func (g *GCS) Write(ctx context.Context, uri, contentType string, data []byte) error {
	o, err := g.object(uri)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := o.NewWriter(ctx)
	w.ContentType = contentType
	w.ChunkSize = 0 // one request: outputs are small and are rewritten whole on retry
	if _, err := w.Write(data); err != nil {
		cancel()
		_ = w.Close()
		return wrapGCS("write "+uri, err)
	}
	if err := w.Close(); err != nil {
		return wrapGCS("write "+uri, err)
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
