package filecache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func fetchString(s string, calls *atomic.Int32) Fetch {
	return func(ctx context.Context, w io.Writer) error {
		calls.Add(1)
		_, err := io.WriteString(w, s)
		return err
	}
}

func read(t *testing.T, c *Cache, uri string, gen int64, fetch Fetch) string {
	t.Helper()
	f, err := c.Open(context.Background(), uri, gen, fetch)
	if err != nil {
		t.Fatalf("Open(%s): %v", uri, err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestConcurrentOpensDownloadOnce(t *testing.T) {
	c, err := New(t.TempDir(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if got := read(t, c, "gs://b/o", 1, fetchString("hello", &calls)); got != "hello" {
				t.Errorf("read %q", got)
			}
		}()
	}
	wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Errorf("fetched %d times, want 1", n)
	}
	// A new generation is a new entry.
	if got := read(t, c, "gs://b/o", 2, fetchString("v2", &calls)); got != "v2" || calls.Load() != 2 {
		t.Errorf("generation 2: read %q after %d fetches", got, calls.Load())
	}
}

func TestEvictsLeastRecentlyUsed(t *testing.T) {
	c, err := New(t.TempDir(), 10)
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	read(t, c, "a", 1, fetchString("aaaa", &calls))
	read(t, c, "b", 1, fetchString("bbbb", &calls))
	read(t, c, "a", 1, fetchString("aaaa", &calls)) // a is now the most recent
	read(t, c, "c", 1, fetchString("cccc", &calls)) // evicts b
	if c.Size() > 10 {
		t.Errorf("size %d over the bound", c.Size())
	}
	before := calls.Load()
	read(t, c, "a", 1, fetchString("aaaa", &calls))
	if calls.Load() != before {
		t.Error("a was evicted, want b evicted")
	}
	read(t, c, "b", 1, fetchString("bbbb", &calls))
	if calls.Load() != before+1 {
		t.Error("b was still cached")
	}
	// An entry bigger than the cache is still served.
	big := strings.Repeat("x", 50)
	if got := read(t, c, "big", 1, fetchString(big, &calls)); got != big {
		t.Error("big entry not served")
	}
}

func TestFailedFetchIsNotCached(t *testing.T) {
	c, err := New(t.TempDir(), 100)
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	_, err = c.Open(context.Background(), "u", 1, func(context.Context, io.Writer) error { return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("Open = %v, want boom", err)
	}
	var calls atomic.Int32
	if got := read(t, c, "u", 1, fetchString("ok", &calls)); got != "ok" {
		t.Errorf("after failure read %q", got)
	}
	if c.Size() != 2 {
		t.Errorf("size %d, want 2", c.Size())
	}
}

func TestCancelledWaiter(t *testing.T) {
	c, err := New(t.TempDir(), 100)
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	started := make(chan struct{})
	downloaded := make(chan struct{})
	var once sync.Once
	go func() {
		defer close(downloaded)
		f, err := c.Open(context.Background(), "slow", 1, func(ctx context.Context, w io.Writer) error {
			once.Do(func() { close(started) })
			<-release
			_, err := fmt.Fprint(w, "done")
			return err
		})
		if err != nil {
			t.Errorf("slow Open: %v", err)
			return
		}
		_ = f.Close()
	}()
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Open(ctx, "slow", 1, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Open with cancelled ctx = %v", err)
	}
	close(release)
	<-downloaded // before TempDir is removed
}

func TestFileRemovedBehindTheCache(t *testing.T) {
	dir := t.TempDir()
	c, err := New(dir, 100)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var calls atomic.Int32
	read(t, c, "u", 1, fetchString("one", &calls))
	paths, _ := filepath.Glob(filepath.Join(dir, "*.blob"))
	for _, p := range paths {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	if got := read(t, c, "u", 1, fetchString("one", &calls)); got != "one" || calls.Load() != 2 {
		t.Errorf("after removal read %q with %d fetches, want a second fetch", got, calls.Load())
	}
	if c.Size() != 3 {
		t.Errorf("size %d, want 3", c.Size())
	}
}

func TestOneProcessPerDirectory(t *testing.T) {
	dir := t.TempDir()
	c, err := New(dir, 100)
	if err != nil {
		t.Fatal(err)
	}
	// flock locks belong to open file descriptions, so a second New in this
	// process conflicts just as another process would.
	if _, err := New(dir, 100); !errors.Is(err, ErrInUse) {
		t.Fatalf("second New = %v, want ErrInUse", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c2, err := New(dir, 100)
	if err != nil {
		t.Fatalf("New after Close: %v", err)
	}
	_ = c2.Close()
}
