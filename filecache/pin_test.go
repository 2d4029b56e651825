package filecache

import (
	"context"
	"os"
	"sync/atomic"
	"testing"
)

// A file held open stays on disk at its name, however small the cache and
// whatever is cached meanwhile (TIFF pages are read again by path while
// their document is open); once closed, it is evicted as usual.
func TestOpenFileIsNotEvicted(t *testing.T) {
	c, err := New(t.TempDir(), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var calls atomic.Int32
	held, err := c.Open(context.Background(), "held", 1, fetchString("held file", &calls))
	if err != nil {
		t.Fatal(err)
	}
	path := held.Name()
	// Two more files, each over the bound, are cached while it is open.
	read(t, c, "other", 1, fetchString("other file", &calls))
	read(t, c, "third", 1, fetchString("third file", &calls))
	if b, err := os.ReadFile(path); err != nil || string(b) != "held file" {
		t.Fatalf("held file at its path: %q, %v; want it kept while open", b, err)
	}
	if got := read(t, c, "held", 1, fetchString("held file", &calls)); got != "held file" || calls.Load() != 3 {
		t.Errorf("reopened held file: %q after %d fetches, want it served from the cache (3 fetches)", got, calls.Load())
	}
	if err := held.Close(); err != nil {
		t.Fatal(err)
	}
	// Closed, it is an ordinary entry again: the next file evicts it.
	read(t, c, "fourth", 1, fetchString("fourth file", &calls))
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("released file not evicted: stat %v", err)
	}
	if c.Size() != int64(len("fourth file")) {
		t.Errorf("size %d, want only the newest entry (%d)", c.Size(), len("fourth file"))
	}
}
