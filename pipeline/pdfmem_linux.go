package pipeline

import (
	"syscall"

	"github.com/tetratelabs/wazero/experimental"
)

// mmapMemory is a linear memory in an anonymous mapping of its maximum
// size, reserved but not committed: a growth copies nothing (a Go slice
// grown to 1 GB held 1.8 GB while it copied), and only the pages PDFium
// touches count in the process's RSS, until Free returns them at once.
type mmapMemory struct {
	limit *memoryLimit
	mem   []byte
}

// reserveMemory maps max bytes, or returns nil if it cannot.
func reserveMemory(l *memoryLimit, max uint64) experimental.LinearMemory {
	if max == 0 || max > 1<<32 {
		return nil
	}
	mem, err := syscall.Mmap(-1, 0, int(max), syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_PRIVATE|syscall.MAP_ANON|syscall.MAP_NORESERVE)
	if err != nil {
		return nil
	}
	return &mmapMemory{limit: l, mem: mem}
}

func (m *mmapMemory) Reallocate(size uint64) []byte {
	if size > uint64(len(m.mem)) {
		m.limit.refused.Add(1)
		return nil
	}
	return m.mem[:size:size]
}

// Free unmaps the memory, or, while an instance is being killed (see
// memoryLimit.kill), returns its pages and leaves the unmapping to the
// killer.
func (m *mmapMemory) Free() {
	mem := m.mem
	m.mem = nil
	if mem == nil {
		return
	}
	if m.limit.deferUnmap(func() { _ = syscall.Munmap(mem) }) {
		_ = syscall.Madvise(mem, syscall.MADV_DONTNEED)
		return
	}
	_ = syscall.Munmap(mem)
}
