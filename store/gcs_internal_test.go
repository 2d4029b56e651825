package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"

	"github.com/folio-ocr/folio/store/storetest"
)

func TestWrapGCS(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want error // the one sentinel err must match
	}{
		{"object missing", storage.ErrObjectNotExist, ErrNotFound},
		{"bucket missing", fmt.Errorf("x: %w", storage.ErrBucketNotExist), ErrNotFound},
		{"404", &googleapi.Error{Code: 404}, ErrNotFound},
		{"403", &googleapi.Error{Code: 403, Message: "forbidden"}, ErrPermissionDenied},
		{"401", &googleapi.Error{Code: 401}, ErrPermissionDenied},
		{"503", &googleapi.Error{Code: 503}, ErrUnavailable},
		{"network", errors.New("dial tcp: connection refused"), ErrUnavailable},
		{"deadline", context.DeadlineExceeded, context.DeadlineExceeded},
		{"400", &googleapi.Error{Code: 400, Message: "bad name"}, ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := wrapGCS("read gs://b/o", tt.err)
			for _, s := range []error{ErrNotFound, ErrPermissionDenied, ErrUnavailable, ErrInvalidArgument, context.DeadlineExceeded} {
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
	g := &GCS{c: storetest.Client(t, host), WriteChunkSize: 256 << 10}
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
