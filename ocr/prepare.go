package ocr

/*
#cgo pkg-config: tesseract lept
#include <leptonica/allheaders.h>
*/
import "C"

import (
	"fmt"
	"math"
)

// Resolution handling.
const (
	defaultDPI = 300
	minDPI     = 50   // below this a recorded resolution is not believed
	maxDPI     = 2400 // above this neither
	maxInches  = 34   // nor when it makes a page longer than this (A1 is 33.1 in)

	// maxUpscaledPixels caps the size of an enlarged page (a Letter page
	// at 600 dpi is 33.7 million pixels).
	maxUpscaledPixels = 40_000_000
)

// resolveDPI returns the resolution to recognize img at: dpi if given,
// else the file's when plausible, else defaultDPI.
func resolveDPI(img *Image, dpi int) (int, error) {
	if dpi < 0 || dpi > 10000 {
		return 0, fmt.Errorf("ocr: dpi %d out of range", dpi)
	}
	if dpi > 0 {
		return dpi, nil
	}
	r := img.Resolution()
	if r < minDPI || r > maxDPI || max(img.w, img.h) > maxInches*r {
		return defaultDPI, nil
	}
	return r, nil
}

// upscaleFactor is how much a page scanned at dpi is enlarged before
// recognition. Enlarging low-resolution pages (2× with linear
// interpolation) did not lower the CER in measurements
// (TestMeasureUpscale; figures in the package documentation): it helped
// only small clean text at 100 dpi and hurt noisy scans, at 1.3–2× the
// time. So pages are recognized at their own resolution, which Tesseract is
// told. It is a variable so that tests can measure the alternatives.
var upscaleFactor = func(dpi int) float64 { return 1 }

// prepare returns the Pix to recognize (img.pix itself, or a new Pix that
// the caller destroys) and its resolution: img turned by quads quarter
// turns clockwise and enlarged when dpi is low.
func prepare(img *Image, dpi, quads int) (*C.PIX, int, error) {
	pix := img.pix
	if quads%4 != 0 {
		pix = C.pixRotateOrth(img.pix, C.l_int32(quads%4))
		if pix == nil {
			return nil, 0, fmt.Errorf("ocr: cannot rotate a %dx%d image", img.w, img.h)
		}
	}
	s := upscaleFactor(dpi)
	if n := float64(img.w) * float64(img.h) * s * s; n > maxUpscaledPixels {
		s = max(1, math.Sqrt(maxUpscaledPixels/(float64(img.w)*float64(img.h))))
	}
	if s*float64(max(img.w, img.h)) > maxSide {
		s = max(1, maxSide/float64(max(img.w, img.h)))
	}
	if s <= 1.05 {
		return pix, dpi, nil
	}
	src := pix
	if C.pixGetDepth(src) == 1 {
		// Bilevel pages are smoothed to gray first, so that the enlarged
		// glyphs have interpolated rather than staircase edges.
		gray := C.pixConvertTo8(src, 0)
		if gray == nil {
			return freeFail(pix, img.pix, "cannot convert a bilevel image to gray")
		}
		if pix != img.pix {
			C.pixDestroy(&pix)
		}
		pix, src = gray, gray
	}
	scaled := C.pixScale(src, C.l_float32(s), C.l_float32(s))
	if pix != img.pix {
		C.pixDestroy(&pix)
	}
	if scaled == nil {
		return nil, 0, fmt.Errorf("ocr: cannot scale a %dx%d image by %.2f", img.w, img.h, s)
	}
	return scaled, int(math.Round(float64(dpi) * s)), nil
}

func freeFail(pix, orig *C.PIX, msg string) (*C.PIX, int, error) {
	if pix != orig {
		C.pixDestroy(&pix)
	}
	return nil, 0, fmt.Errorf("ocr: %s", msg)
}
