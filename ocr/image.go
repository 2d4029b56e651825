package ocr

/*
#cgo pkg-config: tesseract lept
#include <stdlib.h>
#include <leptonica/allheaders.h>

// folio_copy_gray copies h rows of w bytes from src (stride bytes apart)
// into the 8-bpp pix, whose bytes sit in big-endian 32-bit words.
static void folio_copy_gray(PIX *pix, const l_uint8 *src, int stride) {
	l_int32 w = pixGetWidth(pix), h = pixGetHeight(pix), wpl = pixGetWpl(pix);
	l_uint32 *data = pixGetData(pix);
	for (l_int32 y = 0; y < h; y++) {
		l_uint32 *line = data + (size_t)y * wpl;
		const l_uint8 *row = src + (size_t)y * stride;
		for (l_int32 x = 0; x < w; x++) SET_DATA_BYTE(line, x, row[x]);
	}
}

static PIX *folio_read_mem(const l_uint8 *data, size_t size) { return pixReadMem(data, size); }
*/
import "C"

import (
	"errors"
	"fmt"
	"image"
	"sync"
	"unsafe"
)

// DefaultMaxPixels is the pixel limit that [Decode] and [ReadTIFFPage]
// apply when given a limit of 0 or less: 2^27, about 134 million pixels
// (an A2 sheet at 580 dpi, a Letter page at 1,200 dpi).
const DefaultMaxPixels = 1 << 27

// ErrTooLarge is wrapped by the errors of [Decode] and [ReadTIFFPage] for an
// image whose width × height exceeds the pixel limit, or whose side exceeds
// 32,767 pixels (Tesseract's limit). It is detected from the header, before
// any pixel is decoded.
var ErrTooLarge = errors.New("ocr: image too large")

// ErrFormat is wrapped by the errors of [Decode] and [ReadTIFFPage] for input
// that is not an image in a supported format, or is corrupt or truncated.
var ErrFormat = errors.New("ocr: unsupported or corrupt image")

// Image is a page image held in Leptonica memory (a Pix), the input of
// [Engine.Recognize] and [Pool.Recognize]. Its depth is 1 (bilevel), 8
// (gray) or 32 (RGB) bits per pixel; colormaps and alpha are removed when
// it is made.
//
// Image holds C memory that the garbage collector does not see: callers
// must call Close. Recognition only reads an Image, so several goroutines
// may recognize the same Image at once, but Close must not run until they
// have returned.
type Image struct {
	pix  *C.PIX
	w, h int
	xres int
}

var quietOnce sync.Once

// quietLeptonica turns off Leptonica's messages on stderr (they also cover
// libtiff's, which Leptonica routes through its own handlers); every failure
// is reported as a Go error instead.
func quietLeptonica() {
	quietOnce.Do(func() { C.setMsgSeverity(C.L_SEVERITY_NONE) })
}

// FromGray copies img into a new 8-bpp Image with no resolution set.
func FromGray(img *image.Gray) (*Image, error) {
	quietLeptonica()
	if img == nil {
		return nil, errors.New("ocr: nil image")
	}
	b := img.Rect
	w, h := b.Dx(), b.Dy()
	if w <= 0 || h <= 0 || w > maxSide || h > maxSide {
		return nil, fmt.Errorf("ocr: image size %dx%d out of range (1..%d)", w, h, maxSide)
	}
	if img.Stride < w || len(img.Pix) < img.PixOffset(b.Min.X, b.Min.Y)+(h-1)*img.Stride+w {
		return nil, errors.New("ocr: image buffer smaller than its bounds")
	}
	pix := C.pixCreateNoInit(C.l_int32(w), C.l_int32(h), 8)
	if pix == nil {
		return nil, fmt.Errorf("ocr: cannot allocate a %dx%d image", w, h)
	}
	src := img.Pix[img.PixOffset(b.Min.X, b.Min.Y):]
	C.folio_copy_gray(pix, (*C.l_uint8)(unsafe.Pointer(&src[0])), C.int(img.Stride))
	return &Image{pix: pix, w: w, h: h}, nil
}

// Decode decodes the first image in data: JPEG, PNG, PNM, BMP, GIF, WebP or
// TIFF (its first page; for other pages use [ReadTIFFPage]). The header is
// read first, and an image with more than maxPixels pixels (0 or less means
// [DefaultMaxPixels]) is refused with an error wrapping [ErrTooLarge] before
// anything is decoded. Unknown, corrupt or truncated input gives an error
// wrapping [ErrFormat].
func Decode(data []byte, maxPixels int) (*Image, error) {
	quietLeptonica()
	if len(data) < 8 {
		return nil, fmt.Errorf("%w: %d bytes", ErrFormat, len(data))
	}
	p := (*C.l_uint8)(unsafe.Pointer(&data[0]))
	n := C.size_t(len(data))
	var format, w, h, bps, spp, cmap C.l_int32
	if C.pixReadHeaderMem(p, n, &format, &w, &h, &bps, &spp, &cmap) != 0 {
		return nil, fmt.Errorf("%w: unreadable header", ErrFormat)
	}
	if !decodable(int(format)) {
		return nil, fmt.Errorf("%w: format %s", ErrFormat, formatName(int(format)))
	}
	if err := checkSize(int(w), int(h), maxPixels); err != nil {
		return nil, err
	}
	pix := C.folio_read_mem(p, n)
	if pix == nil {
		return nil, fmt.Errorf("%w: cannot decode %s data", ErrFormat, formatName(int(format)))
	}
	return newImage(pix, int(w), int(h))
}

// checkSize applies the pixel limit to a header's size.
func checkSize(w, h, maxPixels int) error {
	if maxPixels <= 0 {
		maxPixels = DefaultMaxPixels
	}
	if w <= 0 || h <= 0 {
		return fmt.Errorf("%w: image size %dx%d", ErrFormat, w, h)
	}
	if w > maxSide || h > maxSide || w*h > maxPixels {
		return fmt.Errorf("%w: %dx%d pixels (limit %d pixels, %d per side)", ErrTooLarge, w, h, maxPixels, maxSide)
	}
	return nil
}

// newImage takes ownership of pix, checks it against the size its header
// announced and brings it to 1, 8 or 32 bpp without colormap or alpha.
func newImage(pix *C.PIX, w, h int) (*Image, error) {
	if int(C.pixGetWidth(pix)) != w || int(C.pixGetHeight(pix)) != h {
		gw, gh := int(C.pixGetWidth(pix)), int(C.pixGetHeight(pix))
		C.pixDestroy(&pix)
		return nil, fmt.Errorf("%w: header says %dx%d, data %dx%d", ErrFormat, w, h, gw, gh)
	}
	pix, err := normalize(pix)
	if err != nil {
		return nil, err
	}
	var xres, yres C.l_int32
	C.pixGetResolution(pix, &xres, &yres)
	return &Image{pix: pix, w: w, h: h, xres: int(xres)}, nil
}

// normalize replaces pix (taking ownership) by an equivalent Pix of depth
// 1, 8 or 32 with no colormap and no alpha (blended onto white).
func normalize(pix *C.PIX) (*C.PIX, error) {
	swap := func(next *C.PIX) {
		C.pixDestroy(&pix)
		pix = next
	}
	if C.pixGetColormap(pix) != nil {
		next := C.pixRemoveColormap(pix, C.REMOVE_CMAP_BASED_ON_SRC)
		if next == nil {
			C.pixDestroy(&pix)
			return nil, fmt.Errorf("%w: bad colormap", ErrFormat)
		}
		swap(next)
	}
	switch d := C.pixGetDepth(pix); {
	case d == 32 && C.pixGetSpp(pix) == 4:
		next := C.pixAlphaBlendUniform(pix, 0xffffff00)
		if next == nil {
			C.pixDestroy(&pix)
			return nil, fmt.Errorf("%w: cannot remove alpha", ErrFormat)
		}
		swap(next)
		C.pixSetSpp(pix, 3)
	case d == 1 || d == 8 || d == 32:
	default: // 2, 4 or 16 bpp
		next := C.pixConvertTo8(pix, 0)
		if next == nil {
			C.pixDestroy(&pix)
			return nil, fmt.Errorf("%w: cannot convert %d bpp", ErrFormat, int(d))
		}
		swap(next)
	}
	return pix, nil
}

// Size returns the image's width and height in pixels.
func (im *Image) Size() (w, h int) { return im.w, im.h }

// Resolution returns the horizontal resolution recorded in the image file
// in dots per inch, or 0 when the file records none.
func (im *Image) Resolution() int { return im.xres }

// Turn turns the image by quads quarter turns clockwise, in place: a page
// stored sideways or upside down, as its PDF page's /Rotate displays it.
// Its resolution follows the turn.
func (im *Image) Turn(quads int) error {
	quads = ((quads % 4) + 4) % 4
	if quads == 0 {
		return nil
	}
	if im == nil || im.pix == nil {
		return ErrClosed
	}
	pix := C.pixRotateOrth(im.pix, C.l_int32(quads))
	if pix == nil {
		return fmt.Errorf("ocr: cannot turn a %dx%d image", im.w, im.h)
	}
	C.pixDestroy(&im.pix)
	im.pix = pix
	if quads%2 == 1 {
		im.w, im.h = im.h, im.w
	}
	return nil
}

// Close frees the image's memory. It is safe to call more than once.
func (im *Image) Close() {
	if im == nil || im.pix == nil {
		return
	}
	C.pixDestroy(&im.pix)
	im.pix = nil
}

// decodable reports whether Decode accepts a format: the common raster
// formats, but neither Leptonica's own serialization, PostScript, PDF nor
// JPEG 2000.
func decodable(f int) bool {
	switch f {
	case C.IFF_BMP, C.IFF_JFIF_JPEG, C.IFF_PNG, C.IFF_PNM, C.IFF_GIF, C.IFF_WEBP,
		C.IFF_TIFF, C.IFF_TIFF_PACKBITS, C.IFF_TIFF_RLE, C.IFF_TIFF_G3, C.IFF_TIFF_G4,
		C.IFF_TIFF_LZW, C.IFF_TIFF_ZIP, C.IFF_TIFF_JPEG:
		return true
	}
	return false
}

func formatName(f int) string {
	switch f {
	case C.IFF_BMP:
		return "BMP"
	case C.IFF_JFIF_JPEG:
		return "JPEG"
	case C.IFF_PNG:
		return "PNG"
	case C.IFF_PNM:
		return "PNM"
	case C.IFF_GIF:
		return "GIF"
	case C.IFF_WEBP:
		return "WebP"
	case C.IFF_JP2:
		return "JPEG 2000"
	case C.IFF_PS:
		return "PostScript"
	case C.IFF_LPDF:
		return "PDF"
	case C.IFF_SPIX:
		return "Leptonica SPIX"
	case C.IFF_UNKNOWN:
		return "unknown"
	}
	return "TIFF"
}

// grayAt returns the pixel at (x, y) of an 8-bpp image (tests use it).
func (im *Image) grayAt(x, y int) uint8 {
	var v C.l_uint32
	C.pixGetPixel(im.pix, C.l_int32(x), C.l_int32(y), &v)
	return uint8(v)
}

// gray8 returns the image converted to 8-bpp gray, row by row (tests use
// it).
func (im *Image) gray8() []byte {
	p8 := C.pixConvertTo8(im.pix, 0) // luminance of RGB
	defer C.pixDestroy(&p8)
	out := make([]byte, 0, im.w*im.h)
	for y := 0; y < im.h; y++ {
		for x := 0; x < im.w; x++ {
			var v C.l_uint32
			C.pixGetPixel(p8, C.l_int32(x), C.l_int32(y), &v)
			out = append(out, uint8(v))
		}
	}
	return out
}
