package pipeline

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// maxTIFFPages bounds the directory walk of TIFFPageCount whatever the file
// claims; callers apply their own, lower page limit.
const maxTIFFPages = 1 << 20

// TIFFPageCount counts the pages (image file directories) of a classic or
// BigTIFF file by walking its directory chain, without decoding any image.
// A malformed header, an offset outside the file or a directory chain that
// loops back on itself is an error wrapping ErrInvalidInput.
func TIFFPageCount(r io.ReaderAt, size int64) (int, error) {
	var hdr [16]byte
	if size < 8 {
		return 0, fmt.Errorf("pipeline: tiff: %d bytes is too short for a header: %w", size, ErrInvalidInput)
	}
	if _, err := r.ReadAt(hdr[:min(size, 16)], 0); err != nil && !errors.Is(err, io.EOF) {
		return 0, fmt.Errorf("pipeline: tiff: read header: %w", err)
	}
	var bo binary.ByteOrder
	switch string(hdr[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 0, fmt.Errorf("pipeline: tiff: not a TIFF file (byte order mark %q): %w", hdr[:2], ErrInvalidInput)
	}
	t := tiffWalker{r: r, size: size, bo: bo}
	switch bo.Uint16(hdr[2:]) {
	case 42:
		t.big = false
		return t.count(uint64(bo.Uint32(hdr[4:])))
	case 43:
		if size < 16 || bo.Uint16(hdr[4:]) != 8 || bo.Uint16(hdr[6:]) != 0 {
			return 0, fmt.Errorf("pipeline: tiff: malformed BigTIFF header: %w", ErrInvalidInput)
		}
		t.big = true
		return t.count(bo.Uint64(hdr[8:]))
	default:
		return 0, fmt.Errorf("pipeline: tiff: not a TIFF file (version %d): %w", bo.Uint16(hdr[2:]), ErrInvalidInput)
	}
}

type tiffWalker struct {
	r    io.ReaderAt
	size int64
	bo   binary.ByteOrder
	big  bool
}

// count follows the chain of directories from the first offset.
func (t tiffWalker) count(off uint64) (int, error) {
	seen := map[uint64]bool{}
	pages := 0
	for off != 0 {
		if seen[off] {
			return 0, fmt.Errorf("pipeline: tiff: directory %d loops back to offset %d: %w", pages+1, off, ErrInvalidInput)
		}
		if pages == maxTIFFPages {
			return 0, fmt.Errorf("pipeline: tiff: more than %d directories: %w", maxTIFFPages, ErrInvalidInput)
		}
		seen[off] = true
		next, err := t.next(off)
		if err != nil {
			return 0, fmt.Errorf("pipeline: tiff: directory %d: %w", pages+1, err)
		}
		pages++
		off = next
	}
	if pages == 0 {
		return 0, fmt.Errorf("pipeline: tiff: no image directories: %w", ErrInvalidInput)
	}
	return pages, nil
}

// next returns the offset of the directory after the one at off.
func (t tiffWalker) next(off uint64) (uint64, error) {
	countSize, entrySize, nextSize := uint64(2), uint64(12), uint64(4)
	if t.big {
		countSize, entrySize, nextSize = 8, 20, 8
	}
	if off < 8 || off > uint64(t.size) || uint64(t.size)-off < countSize {
		return 0, fmt.Errorf("offset %d outside the file of %d bytes: %w", off, t.size, ErrInvalidInput)
	}
	var buf [8]byte
	if _, err := t.r.ReadAt(buf[:countSize], int64(off)); err != nil {
		return 0, fmt.Errorf("read entry count: %w", err)
	}
	var n uint64
	if t.big {
		n = t.bo.Uint64(buf[:8])
	} else {
		n = uint64(t.bo.Uint16(buf[:2]))
	}
	// The entries and the next offset must fit in the file.
	rest := uint64(t.size) - off - countSize
	if n > rest/entrySize || rest-n*entrySize < nextSize {
		return 0, fmt.Errorf("%d entries at offset %d overrun the file of %d bytes: %w", n, off, t.size, ErrInvalidInput)
	}
	at := int64(off + countSize + n*entrySize)
	if _, err := t.r.ReadAt(buf[:nextSize], at); err != nil {
		return 0, fmt.Errorf("read next offset: %w", err)
	}
	if t.big {
		return t.bo.Uint64(buf[:8]), nil
	}
	return uint64(t.bo.Uint32(buf[:4])), nil
}
