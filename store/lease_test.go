package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/folio-ocr/folio/store"
	"github.com/folio-ocr/folio/store/storetest"
)

func TestLease(t *testing.T) {
	t.Parallel()
	rdb, prefix := storetest.Redis(t)
	ctx := context.Background()
	// The TTL outlasts the few calls each step makes, however loaded the
	// machine; the test sleeps through it once.
	const ttl = time.Second
	a := store.NewLease(rdb, prefix, "janitor", "worker-a", ttl)
	b := store.NewLease(rdb, prefix, "janitor", "worker-b", ttl)
	steps := []struct {
		what string
		l    *store.Lease
		want bool
	}{
		{"a takes the free lease", a, true},
		{"b is refused", b, false},
		{"a renews", a, true},
	}
	for _, s := range steps {
		if got, err := s.l.Acquire(ctx); err != nil || got != s.want {
			t.Fatalf("%s: Acquire = %v, %v", s.what, got, err)
		}
	}
	time.Sleep(ttl + 100*time.Millisecond) // a stops renewing: dead or cut off
	if got, err := b.Acquire(ctx); err != nil || !got {
		t.Fatalf("b after a's lease lapsed: Acquire = %v, %v; want true", got, err)
	}
	if got, _ := a.Acquire(ctx); got {
		t.Error("a took back a lease b holds")
	}
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := a.Acquire(ctx); got {
		t.Error("a's Release freed b's lease")
	}
	if err := b.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := a.Acquire(ctx); err != nil || !got {
		t.Errorf("a after b released: Acquire = %v, %v; want true", got, err)
	}
}
