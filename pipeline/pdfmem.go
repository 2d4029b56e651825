package pipeline

import (
	"sync"
	"sync/atomic"

	"github.com/tetratelabs/wazero/experimental"
)

// DefaultMaxMemory is the WebAssembly memory one PDFium instance may use
// when [PDFConfig.MaxMemory] is zero. PDFium decodes a content stream whole
// and holds every object of a page: without a cap, a page built to inflate
// (26 kB of nested /FlateDecode that decode to 2 GB) grew an instance by
// 670 MB in the 4.7 s before its page timeout, and would have grown it to
// the 2 GB the module allows, per instance open. The most a legitimate
// page took, measured: 644 MB to render a page covered by a 93-megapixel
// RGB image at the default 100 megapixels (273 MB to read that image as
// a scan; 97 MB to render a text page at 100 megapixels).
const DefaultMaxMemory = 1 << 30

// memoryLimit allocates the linear memory of PDFium instances, each at
// most max bytes, and counts the growths it refused. PDFium sees a refused
// growth as malloc failing, and aborts the call (a WebAssembly trap).
type memoryLimit struct {
	max     uint64
	refused atomic.Int64

	killMu sync.Mutex // one kill at a time
	mu     sync.Mutex
	// unmaps, while a kill runs, collects the unmapping of the memories
	// freed meanwhile, for the killer to run once the killed call returns.
	unmaps *[]func()
}

// kill runs kill, which discards an instance whose code may still be
// running on another goroutine, and returns what unmaps the memory it
// freed: to be called once that code has returned. Unmapping memory under
// running code would crash the process (a Go slice, which the running code
// keeps reachable, needs none of this).
func (l *memoryLimit) kill(kill func()) (unmap func()) {
	l.killMu.Lock()
	defer l.killMu.Unlock()
	var fs []func()
	l.mu.Lock()
	l.unmaps = &fs
	l.mu.Unlock()
	kill()
	l.mu.Lock()
	l.unmaps = nil
	l.mu.Unlock()
	return func() {
		for _, f := range fs {
			f()
		}
	}
}

// deferUnmap hands unmap to the kill in progress and reports whether there
// is one.
func (l *memoryLimit) deferUnmap(unmap func()) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.unmaps == nil {
		return false
	}
	*l.unmaps = append(*l.unmaps, unmap)
	return true
}

var _ experimental.MemoryAllocator = (*memoryLimit)(nil)

// Allocate returns a linear memory of at most l.max bytes (less if the
// module's own maximum is lower): a reserved mapping where the system has
// one (pdfmem_linux.go), else a Go slice.
func (l *memoryLimit) Allocate(capacity, max uint64) experimental.LinearMemory {
	max = min(max, l.max)
	if m := reserveMemory(l, max); m != nil {
		return m
	}
	return &sliceMemory{limit: l, max: max, buf: make([]byte, 0, min(capacity, max))}
}

// sliceMemory is a linear memory in a Go slice, grown as wazero grows its
// own (append), up to max bytes. The slice stays reachable while code of a
// killed instance may still run on it, which an unmapped region would not.
type sliceMemory struct {
	limit *memoryLimit
	max   uint64
	buf   []byte
}

func (m *sliceMemory) Reallocate(size uint64) []byte {
	if size > m.max {
		m.limit.refused.Add(1)
		return nil
	}
	if n := uint64(len(m.buf)); size > uint64(cap(m.buf)) {
		m.buf = append(m.buf, make([]byte, size-n)...)
	}
	m.buf = m.buf[:size]
	return m.buf
}

func (m *sliceMemory) Free() { m.buf = nil }
