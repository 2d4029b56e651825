package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"github.com/fsouza/fake-gcs-server/fakestorage"
	"github.com/googleapis/gax-go/v2"
	"google.golang.org/api/googleapi"

	"github.com/folio-ocr/folio/store"
	"github.com/folio-ocr/folio/store/storetest"
)

// put writes data at uri through NewWriter.
func put(t *testing.T, g *store.GCS, uri, data string) {
	t.Helper()
	w, err := g.NewWriter(context.Background(), uri, "application/json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(w, data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("write %s: %v", uri, err)
	}
}

func TestGCS(t *testing.T) {
	_, host := storetest.GCS(t, "bkt")
	g := store.NewGCS(storetest.Client(t, host))
	ctx := context.Background()

	put(t, g, "gs://bkt/a/b.json", `{"x":1}`)
	put(t, g, "gs://bkt/a/b.json", `{"x":2}`) // overwrite
	a, err := g.Attrs(ctx, "gs://bkt/a/b.json")
	if err != nil || a.Size != 7 || a.Generation == 0 {
		t.Fatalf("Attrs = %+v, %v", a, err)
	}
	r, err := g.NewReader(ctx, "gs://bkt/a/b.json", a.Generation)
	if err != nil {
		t.Fatalf("NewReader: %v", err)
	}
	b, _ := io.ReadAll(r)
	_ = r.Close()
	if string(b) != `{"x":2}` {
		t.Errorf("read %q", b)
	}

	if err := g.BucketExists(ctx, "gs://bkt/out/"); err != nil {
		t.Errorf("BucketExists(bkt) = %v", err)
	}
	if err := g.BucketExists(ctx, "gs://nobucket/out/"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("BucketExists(nobucket) = %v, want ErrNotFound", err)
	}
	if err := g.BucketExists(ctx, "http://bkt/out/"); !errors.Is(err, store.ErrInvalidArgument) {
		t.Errorf("BucketExists(http://) = %v, want ErrInvalidArgument", err)
	}
	for _, uri := range []string{"gs://bkt/missing", "gs://nobucket/x"} {
		if _, err := g.Attrs(ctx, uri); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Attrs(%s) = %v, want ErrNotFound", uri, err)
		}
	}
	for _, uri := range []string{"http://x/y", "gs://", "gs://bkt", "gs://bkt/"} {
		if _, err := g.Attrs(ctx, uri); err == nil || errors.Is(err, store.ErrNotFound) {
			t.Errorf("Attrs(%q) = %v, want a URI error", uri, err)
		}
	}
}

func TestGCSNewWriter(t *testing.T) {
	srv, host := storetest.GCS(t, "bkt")
	g := store.NewGCS(storetest.Client(t, host))
	ctx := context.Background()

	w, err := g.NewWriter(ctx, "gs://bkt/out/a.json", "application/json")
	if err != nil {
		t.Fatalf("NewWriter: %v", err)
	}
	for _, s := range []string{`{"a":`, `[1,2`, `]}`} {
		if _, err := io.WriteString(w, s); err != nil {
			t.Fatalf("Write: %v", err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	obj, err := srv.GetObject("bkt", "out/a.json")
	if err != nil {
		t.Fatal(err)
	}
	if string(obj.Content) != `{"a":[1,2]}` || obj.ContentType != "application/json" {
		t.Errorf("object %q, content type %q", obj.Content, obj.ContentType)
	}

	if _, err := g.NewWriter(ctx, "gs://bkt", "application/json"); err == nil {
		t.Error("NewWriter accepted a URI without an object name")
	}
	w, err = g.NewWriter(ctx, "gs://nobucket/x.json", "application/json")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(w, "{}")
	if err := w.Close(); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Close of a write to a missing bucket = %v, want ErrNotFound", err)
	}
}

// TestGCSNewWriterAbort checks go-cloud's rule: cancelling the context
// before Close aborts the write, and neither creates nor replaces the
// object.
func TestGCSNewWriterAbort(t *testing.T) {
	srv, host := storetest.GCS(t, "bkt")
	g := store.NewGCS(storetest.Client(t, host))
	put(t, g, "gs://bkt/old.json", "old")
	for _, tt := range []struct {
		name, uri string
		size      int // bytes written before the cancel
	}{
		{"nothing written", "gs://bkt/new0.json", 0},
		{"small", "gs://bkt/new1.json", 1000},
		{"new object", "gs://bkt/new2.json", 3 << 20},
		{"replacement", "gs://bkt/old.json", 3 << 20},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			w, err := g.NewWriter(ctx, tt.uri, "application/json")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(bytes.Repeat([]byte("x"), tt.size)); err != nil {
				t.Fatalf("Write: %v", err)
			}
			cancel()
			if err := w.Close(); !errors.Is(err, context.Canceled) {
				t.Errorf("Close after cancel = %v, want context.Canceled", err)
			}
			_, obj, _ := store.ParseURI(tt.uri)
			got, err := srv.GetObject("bkt", obj)
			if tt.uri == "gs://bkt/old.json" {
				if err != nil || string(got.Content) != "old" {
					t.Errorf("aborted replacement changed the object: %q, %v", got.Content, err)
				}
			} else if err == nil {
				t.Errorf("aborted write created %s (%d bytes)", tt.uri, len(got.Content))
			}
		})
	}
}

func TestWrapGCS(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want error // the one sentinel err must match
	}{
		{"object missing", storage.ErrObjectNotExist, store.ErrNotFound},
		{"bucket missing", fmt.Errorf("x: %w", storage.ErrBucketNotExist), store.ErrNotFound},
		{"404", &googleapi.Error{Code: 404}, store.ErrNotFound},
		{"403", &googleapi.Error{Code: 403, Message: "forbidden"}, store.ErrPermissionDenied},
		{"401", &googleapi.Error{Code: 401}, store.ErrPermissionDenied},
		{"503", &googleapi.Error{Code: 503}, store.ErrUnavailable},
		{"network", errors.New("dial tcp: connection refused"), store.ErrUnavailable},
		{"deadline", context.DeadlineExceeded, context.DeadlineExceeded},
		{"400", &googleapi.Error{Code: 400, Message: "bad name"}, store.ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := store.WrapGCS("read gs://b/o", tt.err)
			for _, s := range []error{store.ErrNotFound, store.ErrPermissionDenied, store.ErrUnavailable, store.ErrInvalidArgument, context.DeadlineExceeded} {
				if errors.Is(got, s) != (s == tt.want) {
					t.Errorf("wrapGCS(%v) = %v; errors.Is(%v) = %v", tt.err, got, s, errors.Is(got, s))
				}
			}
		})
	}
}

// TestGCSNewWriterChunks writes objects larger than the chunk size (shrunk
// to the storage library's 256 KiB minimum), so that chunks reach the
// server before Close: the object appears only when Close commits it, and
// an aborted upload leaves nothing.
func TestGCSNewWriterChunks(t *testing.T) {
	srv, host := storetest.GCS(t, "bkt")
	g := store.NewGCS(storetest.Client(t, host))
	g.WriteChunkSize = 256 << 10
	data := make([]byte, 5<<20+12345)
	for i := range data {
		data[i] = byte('a' + i%26)
	}
	for _, abort := range []bool{false, true} {
		t.Run(fmt.Sprintf("abort=%v", abort), func(t *testing.T) {
			name := fmt.Sprintf("big-%v.json", abort)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			w, err := g.NewWriter(ctx, "gs://bkt/"+name, "application/json")
			if err != nil {
				t.Fatal(err)
			}
			for p := data; len(p) > 0; {
				n := min(len(p), 100_000)
				if _, err := w.Write(p[:n]); err != nil {
					t.Fatalf("Write: %v", err)
				}
				p = p[n:]
			}
			// Every chunk but the last has been sent; nothing is visible.
			if _, err := srv.GetObject("bkt", name); err == nil {
				t.Errorf("object visible before Close")
			}
			if abort {
				cancel()
			}
			err = w.Close()
			obj, gerr := srv.GetObject("bkt", name)
			if abort {
				if !errors.Is(err, context.Canceled) {
					t.Errorf("Close after cancel = %v, want context.Canceled", err)
				}
				if gerr == nil {
					t.Errorf("aborted write created the object (%d bytes)", len(obj.Content))
				}
				return
			}
			if err != nil {
				t.Fatalf("Close: %v", err)
			}
			if gerr != nil || !bytes.Equal(obj.Content, data) || obj.ContentType != "application/json" {
				t.Errorf("object: %d bytes, content type %q, err %v; want %d bytes", len(obj.Content), obj.ContentType, gerr, len(data))
			}
		})
	}
}

// proxyEmulator starts an HTTP server in front of the emulator at host and
// returns its host:port, for a storage client. Each request goes to serve
// with the emulator as a handler, which serve may call, or not. The server
// stops when t ends.
func proxyEmulator(t *testing.T, host string, serve func(w http.ResponseWriter, r *http.Request, emulator http.Handler)) string {
	t.Helper()
	target := &url.URL{Scheme: "http", Host: host}
	// SetURL sends the emulator's own host as Host, which it routes on.
	emulator := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(target) }}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { serve(w, r, emulator) }))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// fastRetries makes c's retries wait milliseconds, not seconds.
func fastRetries(c *storage.Client) *storage.Client {
	c.SetRetry(storage.WithBackoff(gax.Backoff{Initial: time.Millisecond, Max: 10 * time.Millisecond}))
	return c
}

// TestGCSNewWriterRetries checks that an output write survives the faults
// the storage client retries only for idempotent requests by default: an
// upload answered 503, and one that took effect but whose answer was lost,
// are sent again, and the object is written whole. Without the RetryAlways
// policy of NewWriter, Close failed with the first 503.
func TestGCSNewWriterRetries(t *testing.T) {
	srv, host := storetest.GCS(t, "bkt")
	var (
		mu      sync.Mutex
		uploads int
	)
	proxy := proxyEmulator(t, host, func(w http.ResponseWriter, r *http.Request, emulator http.Handler) {
		if strings.HasPrefix(r.URL.Path, "/upload/") {
			mu.Lock()
			uploads++
			n := uploads
			mu.Unlock()
			switch n {
			case 1:
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			case 2:
				emulator.ServeHTTP(httptest.NewRecorder(), r)
				panic(http.ErrAbortHandler) // the connection is closed without an answer
			}
		}
		emulator.ServeHTTP(w, r)
	})
	g := store.NewGCS(fastRetries(storetest.Client(t, proxy)))
	put(t, g, "gs://bkt/out/output-1-to-2.json", `{"responses":[]}`)
	obj, err := srv.GetObject("bkt", "out/output-1-to-2.json")
	if err != nil || string(obj.Content) != `{"responses":[]}` {
		t.Errorf("object %q, %v", obj.Content, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if uploads != 3 {
		t.Errorf("%d uploads, want 3 (a 503, a lost answer, a success)", uploads)
	}
}

// TestGCSReaderErrors checks that a download that fails midway, and whose
// resumption the storage client gives up after 503 answers, fails with
// ErrUnavailable (retried in seconds), not with an unclassified error.
func TestGCSReaderErrors(t *testing.T) {
	srv, host := storetest.GCS(t, "bkt")
	data := bytes.Repeat([]byte("0123456789"), 100_000)
	srv.CreateObject(fakestorage.Object{ObjectAttrs: fakestorage.ObjectAttrs{BucketName: "bkt", Name: "in.pdf"}, Content: data})
	var (
		mu    sync.Mutex
		reads int
	)
	proxy := proxyEmulator(t, host, func(w http.ResponseWriter, r *http.Request, emulator http.Handler) {
		mu.Lock()
		reads++
		n := reads
		mu.Unlock()
		if n > 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		// Half the object, then the connection is closed.
		rec := httptest.NewRecorder()
		emulator.ServeHTTP(rec, r)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Length", strconv.Itoa(rec.Body.Len()))
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes()[:rec.Body.Len()/2])
		panic(http.ErrAbortHandler)
	})
	c := fastRetries(storetest.Client(t, proxy))
	c.SetRetry(storage.WithMaxAttempts(2))
	g := store.NewGCS(c)
	r, err := g.NewReader(context.Background(), "gs://bkt/in.pdf", 0)
	if err != nil {
		t.Fatalf("NewReader: %v", err)
	}
	defer func() { _ = r.Close() }()
	b, err := io.ReadAll(r)
	if !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("read %d of %d bytes, then %v; want ErrUnavailable", len(b), len(data), err)
	}
	mu.Lock()
	defer mu.Unlock()
	if reads != 3 {
		t.Errorf("%d requests, want 3 (the cut download, two 503s)", reads)
	}
}
