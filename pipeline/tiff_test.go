package pipeline

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// buildTIFF writes a TIFF skeleton: a header and a chain of pages
// directories of entries entries each (no image data; the walker never
// reads it). If loopTo >= 0 the last directory points back at that one.
func buildTIFF(bo binary.ByteOrder, big bool, pages, entries, loopTo int) []byte {
	var b bytes.Buffer
	put := func(v any) { _ = binary.Write(&b, bo, v) }
	if bo == binary.ByteOrder(binary.LittleEndian) {
		b.WriteString("II")
	} else {
		b.WriteString("MM")
	}
	countSize, entrySize, nextSize, hdr := 2, 12, 4, 8
	if big {
		countSize, entrySize, nextSize, hdr = 8, 20, 8, 16
	}
	dirSize := countSize + entries*entrySize + nextSize
	offset := func(i int) uint64 { return uint64(hdr + i*dirSize) }
	first := uint64(0)
	if pages > 0 {
		first = offset(0)
	}
	if big {
		put(uint16(43))
		put(uint16(8))
		put(uint16(0))
		put(first)
	} else {
		put(uint16(42))
		put(uint32(first))
	}
	for i := range pages {
		next := uint64(0)
		switch {
		case i+1 < pages:
			next = offset(i + 1)
		case loopTo >= 0:
			next = offset(loopTo)
		}
		if big {
			put(uint64(entries))
		} else {
			put(uint16(entries))
		}
		b.Write(make([]byte, entries*entrySize))
		if big {
			put(next)
		} else {
			put(uint32(next))
		}
	}
	return b.Bytes()
}

func TestTIFFPageCount(t *testing.T) {
	le, be := binary.ByteOrder(binary.LittleEndian), binary.ByteOrder(binary.BigEndian)
	tests := []struct {
		name    string
		data    []byte
		want    int
		invalid bool
	}{
		{name: "one page II", data: buildTIFF(le, false, 1, 10, -1), want: 1},
		{name: "twenty pages MM", data: buildTIFF(be, false, 20, 14, -1), want: 20},
		{name: "BigTIFF II", data: buildTIFF(le, true, 5, 3, -1), want: 5},
		{name: "BigTIFF MM", data: buildTIFF(be, true, 3, 0, -1), want: 3},
		{name: "loop", data: buildTIFF(le, false, 4, 2, 1), invalid: true},
		{name: "self loop BigTIFF", data: buildTIFF(le, true, 1, 2, 0), invalid: true},
		{name: "no directories", data: buildTIFF(le, false, 0, 0, -1), invalid: true},
		{name: "truncated", data: buildTIFF(le, false, 3, 10, -1)[:60], invalid: true},
		{name: "not a TIFF", data: []byte("%PDF-1.7\n%more bytes"), invalid: true},
		{name: "wrong version", data: []byte("II\x2b\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"), invalid: true},
		{name: "short", data: []byte("II*"), invalid: true},
		{name: "offset past the end", data: []byte("II*\x00\xff\xff\xff\x7f"), invalid: true},
		{name: "entries overrun", data: append([]byte("II*\x00\x08\x00\x00\x00"), 0xff, 0xff, 0, 0), invalid: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := TIFFPageCount(bytes.NewReader(tt.data), int64(len(tt.data)))
			if tt.invalid {
				if !errors.Is(err, ErrInvalidInput) {
					t.Errorf("TIFFPageCount = %d, %v; want ErrInvalidInput", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("TIFFPageCount = %d, %v; want %d", got, err, tt.want)
			}
		})
	}
}

// FuzzTIFFPageCount: any bytes give a count or ErrInvalidInput, never a
// panic or a hang; a skeleton built with n pages counts n.
func FuzzTIFFPageCount(f *testing.F) {
	f.Add(buildTIFF(binary.LittleEndian, false, 3, 2, -1))
	f.Add(buildTIFF(binary.BigEndian, true, 2, 1, -1))
	f.Add(buildTIFF(binary.LittleEndian, false, 3, 2, 0))
	f.Add([]byte("MM\x00*\x00\x00\x00\x08"))
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := TIFFPageCount(bytes.NewReader(data), int64(len(data)))
		if err != nil && !errors.Is(err, ErrInvalidInput) {
			t.Fatalf("error %v does not wrap ErrInvalidInput", err)
		}
		if err == nil && (n < 1 || n > maxTIFFPages) {
			t.Fatalf("count %d out of range", n)
		}
		if len(data) > 0 {
			pages := int(data[0]%16) + 1
			big := data[len(data)-1]%2 == 1
			built := buildTIFF(binary.LittleEndian, big, pages, len(data)%7, -1)
			if got, err := TIFFPageCount(bytes.NewReader(built), int64(len(built))); err != nil || got != pages {
				t.Fatalf("built %d pages (big=%v): got %d, %v", pages, big, got, err)
			}
		}
	})
}
