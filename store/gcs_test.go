package store_test

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/folio-ocr/folio/store"
	"github.com/folio-ocr/folio/store/storetest"
)

func TestGCS(t *testing.T) {
	_, host := storetest.GCS(t, "bkt")
	g := store.NewGCS(storetest.Client(t, host))
	ctx := context.Background()

	if err := g.Write(ctx, "gs://bkt/a/b.json", "application/json", []byte(`{"x":1}`)); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if err := g.Write(ctx, "gs://bkt/a/b.json", "application/json", []byte(`{"x":2}`)); err != nil {
		t.Fatalf("overwrite: %v", err)
	}
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
