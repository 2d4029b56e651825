// Package filecache keeps recently used input files on local disk, so a
// worker that processes many page ranges of one file downloads it once.
//
// Entries are keyed by object URI and generation, so a replaced object is
// never served stale. The cache holds at most MaxBytes; the least recently
// used entries are removed first, but never one that a [File] returned by
// [Cache.Open] still holds open: its file stays on disk, at its name, until
// Close, so a reader may also reopen it by path (libtiff does). While files
// are held the cache may exceed MaxBytes; their entries become evictable
// when the last one is closed.
package filecache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/folio-ocr/folio/internal/iox"
)

// Fetch writes the content of the object to w.
type Fetch func(ctx context.Context, w io.Writer) error

// Cache is a size-bounded LRU cache of files in one directory. It is safe
// for concurrent use; concurrent requests for one key download it once.
type Cache struct {
	dir      string
	maxBytes int64
	lock     *os.File // flocked: one process per directory

	mu      sync.Mutex
	entries map[string]*entry
	total   int64
}

type entry struct {
	path     string
	size     int64
	lastUsed time.Time
	ready    chan struct{} // closed when the download ended
	err      error         // download error, valid after ready
	pins     int           // Files open on the entry; it is not evicted while positive
}

// File is a cached file open for reading. Its entry is pinned: the file
// stays on disk under Name until Close, whatever the cache evicts meanwhile.
type File struct {
	*os.File
	release func()
	once    sync.Once
}

// Close closes the file and unpins its entry; the entry may then be
// evicted.
func (f *File) Close() error {
	err := f.File.Close()
	f.once.Do(f.release)
	return err
}

// ErrInUse is returned by New when another process holds the directory.
var ErrInUse = errors.New("filecache: directory is in use by another process")

// New returns a cache in dir holding at most maxBytes. The directory is
// locked for this process (another New on it fails with ErrInUse until
// Close), and files left in it by an earlier process are removed.
func New(dir string, maxBytes int64) (*Cache, error) {
	if maxBytes <= 0 {
		return nil, fmt.Errorf("filecache: max bytes must be positive, got %d", maxBytes)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("filecache: create %s: %w", dir, err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o640)
	if err != nil {
		return nil, fmt.Errorf("filecache: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = lock.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s (give each worker its own CACHE_DIR)", ErrInUse, dir)
		}
		return nil, fmt.Errorf("filecache: lock %s: %w", dir, err)
	}
	old, err := filepath.Glob(filepath.Join(dir, "*.blob*"))
	if err != nil {
		_ = lock.Close()
		return nil, fmt.Errorf("filecache: list %s: %w", dir, err)
	}
	for _, p := range old {
		_ = os.Remove(p)
	}
	return &Cache{dir: dir, maxBytes: maxBytes, lock: lock, entries: map[string]*entry{}}, nil
}

// Close releases the directory. Files stay until the next New removes them.
func (c *Cache) Close() error { return c.lock.Close() }

// Open returns the file for (uri, generation), downloading it with fetch
// when it is not cached. The caller closes the file; until then the entry
// is not evicted (see [File]).
func (c *Cache) Open(ctx context.Context, uri string, generation int64, fetch Fetch) (*File, error) {
	key := keyOf(uri, generation)
	for attempt := 0; ; attempt++ {
		if attempt == 5 {
			return nil, fmt.Errorf("filecache: %s keeps disappearing from %s", uri, c.dir)
		}
		c.mu.Lock()
		e, ok := c.entries[key]
		mine := !ok
		if mine {
			e = &entry{path: filepath.Join(c.dir, key+".blob"), ready: make(chan struct{})}
			c.entries[key] = e
			c.mu.Unlock()
			c.download(ctx, key, e, fetch)
		} else {
			c.mu.Unlock()
		}
		select {
		case <-e.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if e.err != nil {
			// Another caller's download failed (perhaps its ctx ended); try
			// again with ours unless the failure was ours.
			if mine || ctx.Err() != nil {
				return nil, errors.Join(e.err, ctx.Err())
			}
			continue
		}
		// Pin the entry before opening its file, so that no eviction
		// comes between the two.
		c.mu.Lock()
		if c.entries[key] != e {
			c.mu.Unlock()
			continue // evicted between ready and now: download again
		}
		e.pins++
		e.lastUsed = time.Now()
		c.mu.Unlock()
		f, err := os.Open(e.path)
		if err != nil {
			c.mu.Lock()
			e.pins--
			if errors.Is(err, os.ErrNotExist) && c.entries[key] == e {
				// Removed behind our back: forget it and download again.
				c.total -= e.size
				delete(c.entries, key)
			}
			c.mu.Unlock()
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return nil, fmt.Errorf("filecache: open %s: %w", uri, err)
		}
		return &File{File: f, release: func() { c.unpin(key, e) }}, nil
	}
}

// unpin releases one File's hold on e. When it was the last, the cache is
// brought back within its bound (pins may have held it over) now rather
// than at the next download; e itself stays, as a fresh download does.
func (c *Cache) unpin(key string, e *entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e.pins--
	if e.pins == 0 && c.entries[key] == e {
		c.evictLocked(key)
	}
}

func (c *Cache) download(ctx context.Context, key string, e *entry, fetch Fetch) {
	size, err := c.write(ctx, e.path, fetch)
	c.mu.Lock()
	defer c.mu.Unlock()
	defer close(e.ready)
	if err != nil {
		e.err = err
		delete(c.entries, key)
		return
	}
	e.size = size
	e.lastUsed = time.Now()
	c.total += size
	c.evictLocked(key)
}

func (c *Cache) write(ctx context.Context, path string, fetch Fetch) (int64, error) {
	tmp, err := os.CreateTemp(c.dir, filepath.Base(path)+".*.tmp")
	if err != nil {
		return 0, fmt.Errorf("filecache: %w", err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	cw := &iox.CountingWriter{W: tmp}
	err = fetch(ctx, cw)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return 0, fmt.Errorf("filecache: %w", err)
	}
	return cw.N, nil
}

// evictLocked removes least recently used entries, never keep, until the
// cache fits. Entries still downloading or pinned by an open File are
// skipped.
func (c *Cache) evictLocked(keep string) {
	for c.total > c.maxBytes {
		var oldest string
		for k, e := range c.entries {
			if k == keep || !isClosed(e.ready) || e.err != nil || e.pins > 0 {
				continue
			}
			if oldest == "" || e.lastUsed.Before(c.entries[oldest].lastUsed) {
				oldest = k
			}
		}
		if oldest == "" {
			return
		}
		e := c.entries[oldest]
		_ = os.Remove(e.path)
		c.total -= e.size
		delete(c.entries, oldest)
	}
}

// Size returns the bytes the cache holds.
func (c *Cache) Size() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func keyOf(uri string, generation int64) string {
	h := sha256.Sum256([]byte(uri))
	return hex.EncodeToString(h[:12]) + "-" + strconv.FormatInt(generation, 10)
}
