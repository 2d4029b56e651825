package ocr

/*
#cgo pkg-config: lept libtiff-4
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tiffio.h>
#include <leptonica/allheaders.h>

// folio_tiff is one libtiff handle with the first error libtiff reported
// on it (its warnings are dropped).
typedef struct {
	TIFF *tif;
	char msg[256];
} folio_tiff;

static int folio_tiff_error(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap) {
	folio_tiff *t = user;
	if (t != NULL && t->msg[0] == 0) vsnprintf(t->msg, sizeof t->msg, fmt, ap);
	return 1; // handled: nothing on stderr
}

static int folio_tiff_warning(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap) {
	return 1;
}

// folio_tiff_open opens path for reading its header, without reading a
// directory (a broken first page must not hide the others) and without
// memory-mapping it (a file cut short under a mapping would raise
// SIGBUS). t->tif is NULL on failure, with t->msg saying why.
static void folio_tiff_open(folio_tiff *t, const char *path) {
	TIFFOpenOptions *o = TIFFOpenOptionsAlloc();
	if (o == NULL) {
		snprintf(t->msg, sizeof t->msg, "out of memory");
		return;
	}
	TIFFOpenOptionsSetErrorHandlerExtR(o, folio_tiff_error, t);
	TIFFOpenOptionsSetWarningHandlerExtR(o, folio_tiff_warning, t);
	t->tif = TIFFOpenExt(path, "rmh", o);
	TIFFOpenOptionsFree(o);
}

// folio_tiff_dir holds the tags of one directory that decide how it is read.
typedef struct {
	uint32_t w, h;
	uint16_t bps, spp, comp, photo, planar, orient, extra, sampleformat, resunit;
	int has_photo, tiled, alpha;
	float xres, yres;
} folio_tiff_dir;

// folio_tiff_read_dir reads directory index into d; it returns -1 if
// libtiff refuses the directory, with the size it read, if any, in d.
static int folio_tiff_read_dir(folio_tiff *t, int index, folio_tiff_dir *d) {
	TIFF *tif = t->tif;
	if (!TIFFSetDirectory(tif, (tdir_t)index)) {
		TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &d->w);
		TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &d->h);
		return -1;
	}
	uint16_t n = 0, *kinds = NULL;
	TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &d->w);
	TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &d->h);
	TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &d->bps);
	TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &d->spp);
	TIFFGetFieldDefaulted(tif, TIFFTAG_COMPRESSION, &d->comp);
	d->has_photo = TIFFGetField(tif, TIFFTAG_PHOTOMETRIC, &d->photo);
	TIFFGetFieldDefaulted(tif, TIFFTAG_PLANARCONFIG, &d->planar);
	TIFFGetFieldDefaulted(tif, TIFFTAG_ORIENTATION, &d->orient);
	TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLEFORMAT, &d->sampleformat);
	TIFFGetFieldDefaulted(tif, TIFFTAG_RESOLUTIONUNIT, &d->resunit);
	if (TIFFGetField(tif, TIFFTAG_EXTRASAMPLES, &n, &kinds)) {
		d->extra = n;
		for (uint16_t i = 0; i < n; i++)
			if (kinds[i] == EXTRASAMPLE_ASSOCALPHA || kinds[i] == EXTRASAMPLE_UNASSALPHA) d->alpha = 1;
	}
	TIFFGetField(tif, TIFFTAG_XRESOLUTION, &d->xres);
	TIFFGetField(tif, TIFFTAG_YRESOLUTION, &d->yres);
	d->tiled = TIFFIsTiled(tif);
	return 0;
}

// folio_tiff_rgba decodes the current directory through libtiff's RGBA
// interface, which reads every layout libtiff knows (tiles, separate
// planes, any photometric, bit depth and codec), into a new 32-bpp Pix in
// the stored frame: rows as stored, the Orientation tag not applied.
static PIX *folio_tiff_rgba(folio_tiff *t, const folio_tiff_dir *d) {
	char emsg[1024] = "";
	if (!TIFFRGBAImageOK(t->tif, emsg)) {
		if (t->msg[0] == 0) snprintf(t->msg, sizeof t->msg, "%s", emsg);
		return NULL;
	}
	PIX *pix = pixCreate((l_int32)d->w, (l_int32)d->h, 32);
	if (pix == NULL) {
		snprintf(t->msg, sizeof t->msg, "cannot allocate %ux%u pixels", d->w, d->h);
		return NULL;
	}
	l_uint32 *data = pixGetData(pix); // 32 bpp: one word per pixel, rows unpadded
	// Asking for the file's own orientation makes libtiff flip nothing.
	int orient = d->orient >= 1 && d->orient <= 8 ? d->orient : ORIENTATION_TOPLEFT;
	if (!TIFFReadRGBAImageOriented(t->tif, d->w, d->h, data, orient, 0)) {
		if (t->msg[0] == 0) snprintf(t->msg, sizeof t->msg, "libtiff cannot decode it");
		pixDestroy(&pix);
		return NULL;
	}
	// libtiff packs R | G<<8 | B<<16 | A<<24; Leptonica wants R<<24 | ... | A.
	size_t n = (size_t)d->w * d->h;
	for (size_t i = 0; i < n; i++) data[i] = __builtin_bswap32(data[i]);
	if (d->alpha) pixSetSpp(pix, 4);
	return pix;
}

// folio_orient turns pix, in the stored frame of a page with TIFF
// orientation o, into the frame a viewer shows, taking ownership.
static PIX *folio_orient(PIX *pix, int o) {
	PIX *r;
	switch (o) {
	case ORIENTATION_TOPRIGHT: pixFlipLR(pix, pix); return pix;
	case ORIENTATION_BOTRIGHT: pixRotate180(pix, pix); return pix;
	case ORIENTATION_BOTLEFT: pixFlipTB(pix, pix); return pix;
	case ORIENTATION_LEFTTOP: r = pixRotate90(pix, 1); if (r) pixFlipLR(r, r); break; // transpose
	case ORIENTATION_RIGHTTOP: r = pixRotate90(pix, 1); break;
	case ORIENTATION_RIGHTBOT: r = pixRotate90(pix, 1); if (r) pixFlipTB(r, r); break; // transverse
	case ORIENTATION_LEFTBOT: r = pixRotate90(pix, -1); break;
	default: return pix;
	}
	pixDestroy(&pix);
	return r;
}
*/
import "C"

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unsafe"
)

// ReadTIFFPage decodes page index (0-based) of the TIFF file at path as a
// viewer shows it: the Orientation tag is applied, so text that a viewer
// shows upright is upright in the Image and sizes are those of the
// displayed page. Every codec and layout libtiff reads is read (classic
// TIFF and BigTIFF; strips or tiles; contiguous or separate planes; none,
// PackBits, LZW, Deflate, CCITT RLE, G3 and G4, JPEG, old-style JPEG, JBIG,
// LZMA, ZSTD, WebP; bilevel, gray and RGB of 1 to 16 bits, palette, CMYK,
// YCbCr, CIELab, with or without alpha); pages differ from each other as
// they like. Leptonica decodes the common cases (bilevel pages stay 1 bpp)
// and libtiff's RGBA interface the rest.
//
// The page's directory is read first, and a page with more than maxPixels
// pixels (0 or less means [DefaultMaxPixels]) is refused with an error
// wrapping [ErrTooLarge] before it is decoded. A page that cannot be read
// gives an error wrapping [ErrFormat] that names the page (numbered from 1)
// and the problem: "TIFF page 3: compression JPEG 2000 (34712) is not
// supported", "TIFF page 2: 0x0 image", an index past the last page ("no
// TIFF page 5: the file has 4"), or a corrupt file with libtiff's reason. A
// missing file gives an error wrapping [os.ErrNotExist]. The errors wrapping
// ErrFormat or ErrTooLarge do not name path, which is a local file that
// callers may not want to show (Folio's input cache).
func ReadTIFFPage(path string, index int, maxPixels int) (*Image, error) {
	quietLeptonica()
	if index < 0 {
		return nil, fmt.Errorf("ocr: TIFF page index %d is negative", index)
	}
	// A file this process cannot open is not the page's fault: say why
	// with the os error, not as a format error.
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("ocr: %w", err)
	}
	f.Close()
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	// t is C memory: libtiff keeps a pointer to it for error reports.
	t := (*C.folio_tiff)(C.calloc(1, C.size_t(unsafe.Sizeof(C.folio_tiff{}))))
	if t == nil {
		return nil, fmt.Errorf("ocr: out of memory")
	}
	defer C.free(unsafe.Pointer(t))
	tiffMsg := func() string { return hidePath(C.GoString(&t.msg[0]), path) }
	C.folio_tiff_open(t, cpath)
	if t.tif == nil {
		return nil, fmt.Errorf("%w: not a readable TIFF file: %s", ErrFormat, tiffMsg())
	}
	defer C.TIFFClose(t.tif)
	page := index + 1
	if n := int(C.TIFFNumberOfDirectories(t.tif)); index >= n {
		return nil, fmt.Errorf("%w: no TIFF page %d: the file has %d", ErrFormat, page, n)
	}
	var d C.folio_tiff_dir
	if C.folio_tiff_read_dir(t, C.int(index), &d) != 0 {
		if d.w == 0 || d.h == 0 {
			return nil, fmt.Errorf("%w: TIFF page %d: %dx%d image", ErrFormat, page, int(d.w), int(d.h))
		}
		return nil, fmt.Errorf("%w: TIFF page %d: unreadable directory: %s", ErrFormat, page, tiffMsg())
	}
	if err := checkTIFFDir(&d); err != nil {
		return nil, fmt.Errorf("%w: TIFF page %d: %s", ErrFormat, page, err)
	}
	if err := checkSize(int(d.w), int(d.h), maxPixels); err != nil {
		return nil, fmt.Errorf("TIFF page %d: %w", page, err)
	}
	w, h := int(d.w), int(d.h)
	turned := d.orient >= C.ORIENTATION_LEFTTOP && d.orient <= C.ORIENTATION_LEFTBOT // a quarter turn for display
	if turned {
		w, h = h, w
	}
	var pix *C.PIX
	if leptonicaReads(&d) {
		// Leptonica applies the Orientation tag itself.
		pix = C.pixReadTiff(cpath, C.l_int32(index))
	}
	if pix == nil {
		t.msg[0] = 0
		if pix = C.folio_tiff_rgba(t, &d); pix == nil {
			return nil, fmt.Errorf("%w: TIFF page %d: cannot decode %s: %s", ErrFormat, page, describeTIFFDir(&d), tiffMsg())
		}
		if pix = C.folio_orient(pix, C.int(d.orient)); pix == nil {
			return nil, fmt.Errorf("%w: TIFF page %d: cannot orient %dx%d pixels", ErrFormat, page, w, h)
		}
		xres, yres := tiffDPI(&d)
		if turned {
			xres, yres = yres, xres
		}
		C.pixSetResolution(pix, C.l_int32(xres), C.l_int32(yres))
		if grayTIFF(&d) && d.alpha == 0 {
			gray := C.pixConvertRGBToLuminance(pix)
			C.pixDestroy(&pix)
			if pix = gray; pix == nil {
				return nil, fmt.Errorf("%w: TIFF page %d: cannot convert to gray", ErrFormat, page)
			}
		}
	}
	im, err := newImage(pix, w, h)
	if err != nil {
		return nil, fmt.Errorf("TIFF page %d: %w", page, err)
	}
	return im, nil
}

// checkTIFFDir names what makes a directory unreadable before any decoding
// is tried: no pixels, or a codec libtiff lacks.
func checkTIFFDir(d *C.folio_tiff_dir) error {
	if d.w == 0 || d.h == 0 {
		return fmt.Errorf("%dx%d image", int(d.w), int(d.h))
	}
	if C.TIFFIsCODECConfigured(d.comp) == 0 {
		return fmt.Errorf("compression %s is not supported", compressionName(int(d.comp)))
	}
	return nil
}

// leptonicaReads reports whether a directory is of a layout Leptonica's
// pixReadTiff decodes: strips of contiguous samples in a photometric it
// interprets. It fails cleanly on the codecs it refuses (JBIG, WebP), which
// then go through libtiff's RGBA interface like the other layouts.
// Leptonica applies the Orientation tag, but 1.82 turns a page of several
// samples per pixel with orientation 8 upside down (measured: right for
// 1-bit, gray and palette pages in all eight, and for RGB in the seven
// others); such pages of orientation 2 to 8 are oriented by Folio instead.
func leptonicaReads(d *C.folio_tiff_dir) bool {
	if d.tiled != 0 || (d.planar == C.PLANARCONFIG_SEPARATE && d.spp > 1) || d.has_photo == 0 {
		return false
	}
	if d.spp > 1 && d.orient > C.ORIENTATION_TOPLEFT && d.orient <= C.ORIENTATION_LEFTBOT {
		return false
	}
	if d.sampleformat != C.SAMPLEFORMAT_UINT {
		return false
	}
	switch d.photo {
	case C.PHOTOMETRIC_MINISWHITE, C.PHOTOMETRIC_MINISBLACK, C.PHOTOMETRIC_RGB, C.PHOTOMETRIC_PALETTE,
		C.PHOTOMETRIC_SEPARATED, C.PHOTOMETRIC_YCBCR:
		return true
	}
	return false
}

// grayTIFF reports whether a directory holds gray or bilevel pixels, which
// are kept at 8 bpp instead of libtiff's RGBA.
func grayTIFF(d *C.folio_tiff_dir) bool {
	return d.has_photo != 0 && (d.photo == C.PHOTOMETRIC_MINISWHITE || d.photo == C.PHOTOMETRIC_MINISBLACK)
}

// tiffDPI returns a directory's resolution in dots per inch (0 if unset).
func tiffDPI(d *C.folio_tiff_dir) (x, y int) {
	scale := float32(1)
	switch d.resunit {
	case C.RESUNIT_CENTIMETER:
		scale = 2.54
	case C.RESUNIT_NONE:
		return 0, 0
	}
	return int(float32(d.xres)*scale + 0.5), int(float32(d.yres)*scale + 0.5)
}

// describeTIFFDir describes a directory's layout for an error message:
// "16-bit CIELab, 3 samples per pixel, compression LZW (5), tiled".
func describeTIFFDir(d *C.folio_tiff_dir) string {
	photo := "no photometric"
	if d.has_photo != 0 {
		photo = photometricName(int(d.photo))
	}
	kind := ""
	switch d.sampleformat {
	case C.SAMPLEFORMAT_INT:
		kind = "signed "
	case C.SAMPLEFORMAT_IEEEFP:
		kind = "floating-point "
	}
	s := fmt.Sprintf("%d-bit %s%s", int(d.bps), kind, photo)
	if d.spp > 1 {
		s += fmt.Sprintf(", %d samples per pixel", int(d.spp))
	}
	s += ", compression " + compressionName(int(d.comp))
	if d.tiled != 0 {
		s += ", tiled"
	}
	if d.planar == C.PLANARCONFIG_SEPARATE && d.spp > 1 {
		s += ", separate planes"
	}
	return s
}

// hidePath removes the local file's name from a libtiff message.
func hidePath(msg, path string) string {
	msg = strings.ReplaceAll(msg, path, "file")
	if base := filepath.Base(path); len(base) > 3 {
		msg = strings.ReplaceAll(msg, base, "file")
	}
	if msg == "" {
		return "libtiff gave no reason"
	}
	return msg
}

// compressionNames are the TIFF Compression tag values seen in the wild,
// by their usual names.
var compressionNames = map[int]string{
	1: "none", 2: "CCITT RLE", 3: "CCITT G3 (T.4)", 4: "CCITT G4 (T.6)", 5: "LZW", 6: "OJPEG",
	7: "JPEG", 8: "Deflate", 9: "JBIG (T.85)", 10: "JBIG2 (T.43)", 32766: "NeXT", 32771: "CCITT RLEW",
	32773: "PackBits", 32809: "ThunderScan", 32895: "IT8CTPAD", 32896: "IT8LW", 32897: "IT8MP",
	32898: "IT8BL", 32908: "PixarFilm", 32909: "PixarLog", 32946: "Deflate", 32947: "Kodak DCS",
	34661: "JBIG", 34676: "SGILog", 34677: "SGILog24", 34712: "JPEG 2000", 34887: "LERC", 34925: "LZMA",
	50000: "ZSTD", 50001: "WebP", 50002: "JPEG XL", 52546: "JPEG XL",
}

// compressionName names a Compression tag value with its number: "LZW (5)".
func compressionName(c int) string {
	if n, ok := compressionNames[c]; ok {
		return fmt.Sprintf("%s (%d)", n, c)
	}
	return fmt.Sprintf("unknown (%d)", c)
}

func photometricName(p int) string {
	switch p {
	case 0:
		return "MinIsWhite"
	case 1:
		return "MinIsBlack"
	case 2:
		return "RGB"
	case 3:
		return "palette"
	case 4:
		return "mask"
	case 5:
		return "CMYK"
	case 6:
		return "YCbCr"
	case 8:
		return "CIELab"
	case 9:
		return "ICCLab"
	case 10:
		return "ITULab"
	case 32803:
		return "CFA"
	case 32844:
		return "LogL"
	case 32845:
		return "LogLuv"
	case 34892:
		return "LinearRaw"
	}
	return fmt.Sprintf("photometric %d", p)
}
