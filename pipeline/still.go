package pipeline

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"image"
	"image/draw"
	_ "image/jpeg" // image.DecodeConfig and image.Decode of JPEG
	_ "image/png"  // and PNG
	"io"

	_ "golang.org/x/image/bmp"  // and BMP
	_ "golang.org/x/image/webp" // and WebP
)

// Image MIME types Folio reads as single images (images:annotate), besides
// the document types; [SniffImage] returns them.
const (
	MIMEJPEG = "image/jpeg"
	MIMEPNG  = "image/png"
	MIMEBMP  = "image/bmp"
	MIMEWebP = "image/webp"
	MIMEICO  = "image/x-icon"
)

// SniffImage returns the MIME type of an image file from its first bytes:
// one of the document types (PDF, TIFF, GIF) or of the still image types
// that [Still] opens; "" for anything else. Google's images:annotate reads
// these formats (GIF: its first frame; PDF and TIFF: their first page).
func SniffImage(head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte("%PDF-")):
		return MIMEPDF
	case bytes.HasPrefix(head, []byte("II*\x00")), bytes.HasPrefix(head, []byte("MM\x00*")),
		bytes.HasPrefix(head, []byte("II+\x00")), bytes.HasPrefix(head, []byte("MM\x00+")):
		return MIMETIFF
	case bytes.HasPrefix(head, []byte("GIF87a")), bytes.HasPrefix(head, []byte("GIF89a")):
		return MIMEGIF
	case bytes.HasPrefix(head, []byte("\xff\xd8\xff")):
		return MIMEJPEG
	case bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")):
		return MIMEPNG
	case bytes.HasPrefix(head, []byte("BM")) && len(head) >= 14:
		return MIMEBMP
	case len(head) >= 12 && bytes.Equal(head[:4], []byte("RIFF")) && bytes.Equal(head[8:12], []byte("WEBP")):
		return MIMEWebP
	case bytes.HasPrefix(head, []byte("\x00\x00\x01\x00")) && len(head) >= 6 && binary.LittleEndian.Uint16(head[4:]) > 0:
		return MIMEICO
	}
	return ""
}

// Still opens single still images (JPEG, PNG, BMP, WebP, ICO) as one-page
// documents. JPEG and PNG pages go to the OCR engine as they are stored;
// the others are decoded here. The image's size is checked against
// MaxPixels from its header before anything is decoded; an image that is
// larger, truncated or not of a format above is an error wrapping
// ErrInvalidInput. An ICO gives its largest entry.
type Still struct {
	// MaxPixels bounds width×height; zero means DefaultMaxPixels.
	MaxPixels int
	// MaxBytes bounds the file's size; zero means 64 MiB.
	MaxBytes int64
}

var _ Opener = Still{}

// Open reads the image in r.
func (s Still) Open(ctx context.Context, r io.ReadSeeker, size int64) (Document, error) {
	maxBytes := s.MaxBytes
	if maxBytes <= 0 {
		maxBytes = 64 << 20
	}
	if size > maxBytes {
		return nil, fmt.Errorf("pipeline: image is %d bytes, over the limit of %d: %w", size, maxBytes, ErrInvalidInput)
	}
	data, err := io.ReadAll(io.LimitReader(r, maxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("pipeline: read image: %w", err)
	}
	mime := SniffImage(data)
	if mime == MIMEICO {
		if data, err = largestIcon(data); err != nil {
			return nil, err
		}
		mime = SniffImage(data)
	}
	switch mime {
	case MIMEJPEG, MIMEPNG, MIMEBMP, MIMEWebP:
	default:
		return nil, fmt.Errorf("pipeline: not a JPEG, PNG, BMP, WebP or ICO image: %w", ErrInvalidInput)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("pipeline: %s image: %v: %w", mime, err, ErrInvalidInput)
	}
	max := s.MaxPixels
	if max <= 0 {
		max = DefaultMaxPixels
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, fmt.Errorf("pipeline: %s image has no pixels: %w", format, ErrInvalidInput)
	}
	if int64(cfg.Width)*int64(cfg.Height) > int64(max) {
		return nil, fmt.Errorf("pipeline: %s image is %d×%d pixels, over the limit of %d: %w",
			format, cfg.Width, cfg.Height, max, ErrInvalidInput)
	}
	return &imageDoc{pages: 1, raster: func(int) (*Raster, error) {
		if mime == MIMEJPEG || mime == MIMEPNG {
			return &Raster{Data: data}, nil
		}
		img, _, err := image.Decode(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("pipeline: %s image: %v: %w", format, err, ErrInvalidInput)
		}
		return &Raster{Gray: toGray(img)}, nil
	}}, nil
}

// toGray converts img to gray, flattening transparency onto white.
func toGray(img image.Image) *image.Gray {
	if g, ok := img.(*image.Gray); ok {
		return g
	}
	b := img.Bounds()
	rgba := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(rgba, rgba.Rect, img, b.Min, draw.Src)
	out := image.NewGray(rgba.Rect)
	flattenOnWhite(out, rgba)
	return out
}

// largestIcon returns the image of an ICO file's largest entry: a PNG as
// it is stored, or a BMP DIB made into a BMP file by adding its header
// (the DIB's height counts the AND mask too, so it is halved).
func largestIcon(ico []byte) ([]byte, error) {
	bad := func(why string) ([]byte, error) {
		return nil, fmt.Errorf("pipeline: ico: %s: %w", why, ErrInvalidInput)
	}
	if len(ico) < 6 {
		return bad("truncated header")
	}
	n := int(binary.LittleEndian.Uint16(ico[4:]))
	if n == 0 || len(ico) < 6+16*n {
		return bad("truncated directory")
	}
	best, bestArea := -1, -1
	for i := range n {
		e := ico[6+16*i:]
		w, h := int(e[0]), int(e[1])
		if w == 0 {
			w = 256
		}
		if h == 0 {
			h = 256
		}
		if w*h > bestArea {
			best, bestArea = i, w*h
		}
	}
	e := ico[6+16*best:]
	size := int64(binary.LittleEndian.Uint32(e[8:]))
	off := int64(binary.LittleEndian.Uint32(e[12:]))
	if off < 0 || size <= 0 || off+size > int64(len(ico)) {
		return bad("entry outside the file")
	}
	img := ico[off : off+size]
	if bytes.HasPrefix(img, []byte("\x89PNG\r\n\x1a\n")) {
		return img, nil
	}
	if len(img) < 40 || binary.LittleEndian.Uint32(img) < 40 {
		return bad("entry is neither PNG nor a BMP DIB")
	}
	dib := bytes.Clone(img)
	height := int32(binary.LittleEndian.Uint32(dib[8:]))
	binary.LittleEndian.PutUint32(dib[8:], uint32(height/2))
	headerLen := binary.LittleEndian.Uint32(dib)
	colors := binary.LittleEndian.Uint32(dib[32:])
	bpp := binary.LittleEndian.Uint16(dib[14:])
	if colors == 0 && bpp <= 8 {
		colors = 1 << bpp
	}
	pixelOff := 14 + headerLen + 4*colors
	file := make([]byte, 14, 14+len(dib))
	copy(file, "BM")
	binary.LittleEndian.PutUint32(file[2:], uint32(14+len(dib)))
	binary.LittleEndian.PutUint32(file[10:], pixelOff)
	return append(file, dib...), nil
}
