package pipeline

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"testing"

	"golang.org/x/image/bmp"
)

// testImage returns a w×h gray image with a dark square in its middle.
func testImage(w, h int) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := uint8(255)
			if x > w/4 && x < 3*w/4 && y > h/4 && y < 3*h/4 {
				c = 20
			}
			img.SetGray(x, y, color.Gray{Y: c})
		}
	}
	return img
}

func encode(t testing.TB, f func(*bytes.Buffer) error) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := f(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// icoOf wraps entries (PNG files or BMP DIBs) of the given sizes in an ICO
// file.
func icoOf(entries [][]byte, sizes []int) []byte {
	var b bytes.Buffer
	_ = binary.Write(&b, binary.LittleEndian, [3]uint16{0, 1, uint16(len(entries))})
	off := 6 + 16*len(entries)
	for i, e := range entries {
		s := byte(sizes[i] % 256)
		b.Write([]byte{s, s, 0, 0, 1, 0, 32, 0})
		_ = binary.Write(&b, binary.LittleEndian, [2]uint32{uint32(len(e)), uint32(off)})
		off += len(e)
	}
	for _, e := range entries {
		b.Write(e)
	}
	return b.Bytes()
}

// dibOf returns the BMP file data as an ICO entry stores it: without the
// 14-byte file header and with the height doubled (for the AND mask).
func dibOf(bmpFile []byte) []byte {
	dib := bytes.Clone(bmpFile[14:])
	h := binary.LittleEndian.Uint32(dib[8:])
	binary.LittleEndian.PutUint32(dib[8:], 2*h)
	return dib
}

func TestSniffImage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		head string
		want string
	}{
		{"%PDF-1.7\n", MIMEPDF},
		{"II*\x00\x08\x00\x00\x00", MIMETIFF},
		{"MM\x00*\x00\x00\x00\x08", MIMETIFF},
		{"II+\x00\x08\x00\x00\x00", MIMETIFF},
		{"GIF89a\x01\x00", MIMEGIF},
		{"GIF87a\x01\x00", MIMEGIF},
		{"\xff\xd8\xff\xe0\x00\x10JFIF", MIMEJPEG},
		{"\x89PNG\r\n\x1a\n\x00", MIMEPNG},
		{"BM\x00\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00", MIMEBMP},
		{"RIFF\x00\x00\x00\x00WEBPVP8 ", MIMEWebP},
		{"RIFF\x00\x00\x00\x00WAVEfmt ", ""},
		{"\x00\x00\x01\x00\x01\x00", MIMEICO},
		{"\x00\x00\x01\x00\x00\x00", ""},
		{"BM", ""},
		{"hello", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := SniffImage([]byte(tt.head)); got != tt.want {
			t.Errorf("SniffImage(%q) = %q, want %q", tt.head, got, tt.want)
		}
	}
}

func TestStill(t *testing.T) {
	t.Parallel()
	img := testImage(64, 48)
	pngData := encode(t, func(b *bytes.Buffer) error { return png.Encode(b, img) })
	jpegData := encode(t, func(b *bytes.Buffer) error { return jpeg.Encode(b, img, nil) })
	bmpData := encode(t, func(b *bytes.Buffer) error { return bmp.Encode(b, img) })
	rgbaBMP := encode(t, func(b *bytes.Buffer) error {
		rgba := image.NewRGBA(img.Rect)
		for i, v := range img.Pix {
			copy(rgba.Pix[4*i:], []byte{v, v, v, 255})
		}
		return bmp.Encode(b, rgba)
	})
	smallPNG := encode(t, func(b *bytes.Buffer) error { return png.Encode(b, testImage(16, 16)) })
	tests := []struct {
		name string
		data []byte
		// kind is the raster's Kind ("encoded" as stored, "pixels" decoded);
		// empty means the open fails with ErrInvalidInput.
		kind string
		max  int
	}{
		{"png as stored", pngData, "encoded", 0},
		{"jpeg as stored", jpegData, "encoded", 0},
		{"gray bmp decoded", bmpData, "pixels", 0},
		{"rgba bmp decoded", rgbaBMP, "pixels", 0},
		{"ico: the largest png entry", icoOf([][]byte{smallPNG, pngData}, []int{16, 64}), "encoded", 0},
		{"ico: a bmp entry", icoOf([][]byte{dibOf(rgbaBMP)}, []int{64}), "pixels", 0},
		{"over the pixel limit", pngData, "", 64*48 - 1},
		{"truncated png", pngData[:30], "", 0},
		{"not an image", []byte("plain text"), "", 0},
		{"ico entry outside the file", icoOf([][]byte{pngData}, []int{64})[:40], "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			doc, err := Still{MaxPixels: tt.max}.Open(ctx, bytes.NewReader(tt.data), int64(len(tt.data)))
			if tt.kind == "" {
				if !errors.Is(err, ErrInvalidInput) {
					t.Fatalf("Open = %v, want ErrInvalidInput", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer doc.Close()
			if doc.PageCount() != 1 {
				t.Fatalf("PageCount = %d", doc.PageCount())
			}
			r, err := doc.Raster(ctx, 1, RasterOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if r.Kind() != tt.kind {
				t.Errorf("Kind = %s, want %s", r.Kind(), tt.kind)
			}
			if r.Gray != nil {
				if b := r.Gray.Bounds(); b.Dx() != 64 || b.Dy() != 48 && b.Dy() != 64 {
					t.Errorf("decoded %v", b)
				}
				if r.Gray.GrayAt(32, 24).Y > 50 || r.Gray.GrayAt(2, 2).Y < 200 {
					t.Errorf("pixels not decoded: center %d, corner %d", r.Gray.GrayAt(32, 24).Y, r.Gray.GrayAt(2, 2).Y)
				}
			}
		})
	}
}

// FuzzStill opens arbitrary bytes as a still image: no panic, and every
// failure is ErrInvalidInput.
func FuzzStill(f *testing.F) {
	img := testImage(8, 8)
	pngData := encode(f, func(b *bytes.Buffer) error { return png.Encode(b, img) })
	f.Add(pngData)
	f.Add(encode(f, func(b *bytes.Buffer) error { return bmp.Encode(b, img) }))
	f.Add(icoOf([][]byte{pngData}, []int{8}))
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx := context.Background()
		doc, err := Still{MaxPixels: 1 << 16}.Open(ctx, bytes.NewReader(data), int64(len(data)))
		if err != nil {
			if !errors.Is(err, ErrInvalidInput) {
				t.Fatalf("Open = %v, not ErrInvalidInput", err)
			}
			return
		}
		if _, err := doc.Raster(ctx, 1, RasterOptions{}); err != nil && !errors.Is(err, ErrInvalidInput) {
			t.Fatalf("Raster = %v, not ErrInvalidInput", err)
		}
	})
}
