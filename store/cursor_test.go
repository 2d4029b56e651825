package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/folio-ocr/folio/store"
	"github.com/folio-ocr/folio/store/storetest"
)

// A cursor is zero until set, then what was set, as any other holder sees it.
func TestCursor(t *testing.T) {
	t.Parallel()
	rdb, prefix := storetest.Redis(t)
	ctx := context.Background()
	a, b := store.NewCursor(rdb, prefix, "scan"), store.NewCursor(rdb, prefix, "scan")
	if got, err := a.Get(ctx); err != nil || !got.IsZero() {
		t.Fatalf("new cursor = %v, %v; want zero", got, err)
	}
	at := time.Unix(1_700_000_000, 123)
	if err := a.Set(ctx, at); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Get(ctx); err != nil || !got.Equal(at) {
		t.Errorf("cursor seen by another holder = %v, %v; want %v", got, err, at)
	}
}
