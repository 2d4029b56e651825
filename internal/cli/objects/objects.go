// Package objects is the folio command's access to Cloud Storage, through
// cloud.google.com/go/storage (which talks to an emulator when
// STORAGE_EMULATOR_HOST is set): content-addressed uploads of local
// inputs, content hashes of gs:// inputs, listing and reading objects.
package objects

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"
)

// Store reads and writes Cloud Storage.
type Store struct {
	c *storage.Client
}

// New returns a Store using Application Default Credentials, or the
// emulator of STORAGE_EMULATOR_HOST.
func New(ctx context.Context) (*Store, error) {
	c, err := storage.NewClient(ctx)
	if err != nil {
		return nil, fmt.Errorf("cloud storage client: %w", err)
	}
	return &Store{c: c}, nil
}

// Close releases the client.
func (s *Store) Close() error { return s.c.Close() }

// EnsureBucket checks that bucket exists. Against the emulator of
// STORAGE_EMULATOR_HOST (make run's, docker compose's) a missing bucket is
// created, as a local run starts with none; against Cloud Storage it is an
// error that says how to create it.
func (s *Store) EnsureBucket(ctx context.Context, bucket string) error {
	_, err := s.c.Bucket(bucket).Attrs(ctx)
	if err == nil {
		return nil
	}
	if !errors.Is(err, storage.ErrBucketNotExist) {
		return fmt.Errorf("bucket gs://%s: %w", bucket, err)
	}
	if os.Getenv("STORAGE_EMULATOR_HOST") == "" {
		return fmt.Errorf("bucket gs://%s does not exist: create it (gcloud storage buckets create gs://%s) or set FOLIO_BUCKET to one that does", bucket, bucket)
	}
	if err := s.c.Bucket(bucket).Create(ctx, "folio-local", nil); err != nil {
		return fmt.Errorf("create bucket gs://%s in the emulator: %w", bucket, err)
	}
	return nil
}

// SplitURI splits gs://bucket/object.
func SplitURI(uri string) (bucket, object string, err error) {
	rest, ok := strings.CutPrefix(uri, "gs://")
	bucket, object, _ = strings.Cut(rest, "/")
	if !ok || bucket == "" || object == "" {
		return "", "", fmt.Errorf("%q is not a gs://bucket/object URI", uri)
	}
	return bucket, object, nil
}

// HashFile returns the hex SHA-256 of a local file.
func HashFile(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", fmt.Errorf("hash %s: %w", p, err)
	}
	defer func() { _ = f.Close() }()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// HashObject returns a string that changes when the object's content does:
// its URI with its MD5 (or, for composite objects without one, its CRC32C
// and size).
func (s *Store) HashObject(ctx context.Context, uri string) (string, error) {
	bucket, object, err := SplitURI(uri)
	if err != nil {
		return "", err
	}
	a, err := s.c.Bucket(bucket).Object(object).Attrs(ctx)
	if err != nil {
		return "", fmt.Errorf("read attributes of %s: %w", uri, err)
	}
	if len(a.MD5) > 0 {
		return uri + "#md5=" + hex.EncodeToString(a.MD5), nil
	}
	return fmt.Sprintf("%s#crc32c=%08x,size=%d", uri, a.CRC32C, a.Size), nil
}

// Upload copies local file p to gs://bucket/object unless that object
// exists already (the caller names objects by content hash, so an existing
// one has the same bytes; a GCS upload is never visible half-written). It
// reports whether it uploaded.
func (s *Store) Upload(ctx context.Context, p, bucket, object, contentType string) (bool, error) {
	o := s.c.Bucket(bucket).Object(object)
	if _, err := o.Attrs(ctx); err == nil {
		return false, nil
	} else if !errors.Is(err, storage.ErrObjectNotExist) {
		return false, fmt.Errorf("check gs://%s/%s: %w", bucket, object, err)
	}
	f, err := os.Open(p)
	if err != nil {
		return false, fmt.Errorf("upload %s: %w", p, err)
	}
	defer func() { _ = f.Close() }()
	w := o.NewWriter(ctx)
	w.ContentType = contentType
	if _, err := io.Copy(w, f); err != nil {
		_ = w.Close()
		return false, fmt.Errorf("upload %s to gs://%s/%s: %w", p, bucket, object, err)
	}
	if err := w.Close(); err != nil {
		return false, fmt.Errorf("upload %s to gs://%s/%s: %w", p, bucket, object, err)
	}
	return true, nil
}

// List returns the names of the objects under prefix in bucket; it
// implements inputs.Lister.
func (s *Store) List(ctx context.Context, bucket, prefix string) ([]string, error) {
	var names []string
	it := s.c.Bucket(bucket).Objects(ctx, &storage.Query{Prefix: prefix})
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return names, nil
		}
		if err != nil {
			return nil, fmt.Errorf("list gs://%s/%s: %w", bucket, prefix, err)
		}
		names = append(names, a.Name)
	}
}

// ListURIs returns the gs:// URIs of the objects whose names start with
// the object part of prefixURI (gs://bucket/some/prefix-).
func (s *Store) ListURIs(ctx context.Context, prefixURI string) ([]string, error) {
	rest, ok := strings.CutPrefix(prefixURI, "gs://")
	bucket, prefix, _ := strings.Cut(rest, "/")
	if !ok || bucket == "" {
		return nil, fmt.Errorf("%q is not a gs://bucket/prefix URI", prefixURI)
	}
	names, err := s.List(ctx, bucket, prefix)
	if err != nil {
		return nil, err
	}
	uris := make([]string, len(names))
	for i, n := range names {
		uris[i] = "gs://" + bucket + "/" + n
	}
	return uris, nil
}

// Read returns the content of a gs:// object, or of a local file when
// target is not a gs:// URI.
func (s *Store) Read(ctx context.Context, target string) ([]byte, error) {
	if !strings.HasPrefix(target, "gs://") {
		data, err := os.ReadFile(target)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", target, err)
		}
		return data, nil
	}
	bucket, object, err := SplitURI(target)
	if err != nil {
		return nil, err
	}
	r, err := s.c.Bucket(bucket).Object(object).NewReader(ctx)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", target, err)
	}
	defer func() { _ = r.Close() }()
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", target, err)
	}
	return data, nil
}

// IsOutputName reports whether uri names an output object,
// output-A-to-B.json with pages 1 <= A <= B, as the server names them.
func IsOutputName(uri string) bool {
	base := path.Base(uri)
	var a, b int
	n, err := fmt.Sscanf(base, "output-%d-to-%d.json", &a, &b)
	return err == nil && n == 2 && 1 <= a && a <= b && base == fmt.Sprintf("output-%d-to-%d.json", a, b)
}
