package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/folio-ocr/folio/store"
	"github.com/folio-ocr/folio/store/storetest"
)

func TestRedisResults(t *testing.T) {
	t.Parallel()
	rdb, prefix := storetest.Redis(t)
	r := store.NewRedisResults(rdb, prefix)
	ctx := context.Background()

	t.Run("put then wait", func(t *testing.T) {
		t.Parallel()
		if err := r.Put(ctx, "a", []byte("answer"), time.Minute); err != nil {
			t.Fatal(err)
		}
		got, err := r.Wait(ctx, "a")
		if err != nil || string(got) != "answer" {
			t.Fatalf("Wait = %q, %v", got, err)
		}
		// Taken once: a second wait times out.
		wctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		if _, err := r.Wait(wctx, "a"); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("second Wait = %v, want DeadlineExceeded", err)
		}
	})
	t.Run("wait then put", func(t *testing.T) {
		t.Parallel()
		got := make(chan string, 1)
		go func() {
			b, err := r.Wait(ctx, "b")
			if err != nil {
				t.Error(err)
			}
			got <- string(b)
		}()
		time.Sleep(50 * time.Millisecond)
		if err := r.Put(ctx, "b", []byte("late"), time.Minute); err != nil {
			t.Fatal(err)
		}
		select {
		case s := <-got:
			if s != "late" {
				t.Errorf("Wait = %q", s)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Wait did not return after Put")
		}
	})
	t.Run("cancel", func(t *testing.T) {
		t.Parallel()
		cctx, cancel := context.WithCancel(ctx)
		time.AfterFunc(50*time.Millisecond, cancel)
		start := time.Now()
		if _, err := r.Wait(cctx, "c"); !errors.Is(err, context.Canceled) {
			t.Errorf("Wait = %v, want Canceled", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("cancelled Wait returned after %s", d)
		}
	})
	t.Run("unclaimed results expire", func(t *testing.T) {
		t.Parallel()
		if err := r.Put(ctx, "d", []byte("x"), time.Second); err != nil {
			t.Fatal(err)
		}
		ttl, err := rdb.TTL(ctx, prefix+"result:{d}").Result()
		if err != nil || ttl <= 0 || ttl > time.Second {
			t.Errorf("TTL = %s, %v; want at most 1s", ttl, err)
		}
	})
}
