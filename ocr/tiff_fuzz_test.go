package ocr

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/folio-ocr/folio/pipeline"
)

// fuzzTIFF returns a little-endian TIFF of 8-bit gray pages, one strip
// each, uncompressed, of the given sizes: a seed the fuzzer mutates
// field by field.
func fuzzTIFF(sizes ...[2]int) []byte {
	var b bytes.Buffer
	le := binary.LittleEndian
	b.WriteString("II*\x00\x00\x00\x00\x00")
	next := 4 // where the offset of the next directory goes
	for i, wh := range sizes {
		w, h := wh[0], wh[1]
		pix := b.Len()
		for j := range w * h {
			b.WriteByte(byte(j*7 + i*50))
		}
		if b.Len()%2 == 1 {
			b.WriteByte(0)
		}
		ifd := b.Len()
		le.PutUint32(b.Bytes()[next:], uint32(ifd))
		entries := [][3]uint32{ // tag, type (3 short, 4 long), value
			{256, 4, uint32(w)}, {257, 4, uint32(h)}, {258, 3, 8}, {259, 3, 1}, {262, 3, 1},
			{273, 4, uint32(pix)}, {277, 3, 1}, {278, 4, uint32(h)}, {279, 4, uint32(w * h)},
		}
		_ = binary.Write(&b, le, uint16(len(entries)))
		for _, e := range entries {
			_ = binary.Write(&b, le, uint16(e[0]))
			_ = binary.Write(&b, le, uint16(e[1]))
			_ = binary.Write(&b, le, uint32(1))
			_ = binary.Write(&b, le, e[2]) // shorts are left-justified in LE too
		}
		next = b.Len()
		_ = binary.Write(&b, le, uint32(0))
	}
	return b.Bytes()
}

// FuzzReadTIFFPage reads pages of TIFF files through libtiff and
// Leptonica, as workers read uploaded TIFFs from their input cache, with
// a small pixel limit. A page it reads is non-empty, within the limit,
// and one that pipeline.TIFFPageCount (which plans the pages) counts;
// every failure wraps ErrFormat or ErrTooLarge and does not name the
// file's path.
func FuzzReadTIFFPage(f *testing.F) {
	f.Add(fuzzTIFF([2]int{8, 6}), uint8(0))
	f.Add(fuzzTIFF([2]int{8, 6}, [2]int{5, 9}), uint8(1))
	f.Add(fuzzTIFF([2]int{8, 6}, [2]int{5, 9}), uint8(2))
	f.Add(fuzzTIFF([2]int{300, 300}), uint8(0)) // over the limit
	f.Add(fuzzTIFF([2]int{0, 6}), uint8(0))
	f.Add(fuzzTIFF([2]int{8, 6})[:40], uint8(0))
	for name, data := range encodings(f) {
		if strings.HasPrefix(name, "tiff") {
			f.Add(data, uint8(0))
		}
	}
	f.Add([]byte("MM\x00\x2b\x00\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00\x10"), uint8(0)) // BigTIFF, no directory
	const limit = 1 << 14
	dir := f.TempDir()
	path := filepath.Join(dir, "input-cache-entry.tif")
	f.Fuzz(func(t *testing.T, data []byte, index uint8) {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		i := int(index % 4)
		im, err := ReadTIFFPage(path, i, limit)
		if err != nil {
			if !errors.Is(err, ErrFormat) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("page %d: %v wraps neither ErrFormat nor ErrTooLarge", i, err)
			}
			if strings.Contains(err.Error(), dir) || strings.Contains(err.Error(), filepath.Base(path)) {
				t.Fatalf("page %d: %v names the file", i, err)
			}
			return
		}
		defer im.Close()
		if w, h := im.Size(); w <= 0 || h <= 0 || w*h > limit {
			t.Fatalf("page %d: accepted %dx%d", i, w, h)
		}
		if n, err := pipeline.TIFFPageCount(bytes.NewReader(data), int64(len(data))); err == nil && i >= n {
			t.Fatalf("read page %d (0-based) of a file TIFFPageCount counts %d pages in", i, n)
		}
	})
}
