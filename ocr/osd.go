package ocr

/*
#cgo pkg-config: tesseract lept
#include <tesseract/capi.h>
*/
import "C"

import (
	"context"
	"fmt"
	"unsafe"
)

// Thresholds on Tesseract's OSD confidences (arbitrary units; the margin of
// the best orientation or script over the next). Below them a page is left
// as it is and the script is not trusted. See the package documentation
// for the measurements behind them.
const (
	minOrientationConf = 4.0
	minScriptConf      = 1.0
)

// orientation is the result of OSD on a page.
type orientation struct {
	quads      int     // quarter turns clockwise that make the page upright
	conf       float64 // Tesseract's orientation confidence
	script     string  // e.g. "Latin", "Han", "" if unknown
	scriptConf float64
}

// detector runs Tesseract's orientation and script detection with the
// legacy osd model. Like an Engine it is not safe for concurrent use.
type detector struct {
	api *C.TessBaseAPI
}

// newDetector loads osd.traineddata from dir ("" as for [New]).
func newDetector(dir string) (*detector, error) {
	api, err := initAPI("osd", dir, C.OEM_TESSERACT_ONLY)
	if err != nil {
		return nil, fmt.Errorf("ocr: orientation detection needs osd.traineddata (tesseract-ocr-osd): %w", err)
	}
	C.TessBaseAPISetPageSegMode(api, C.PSM_OSD_ONLY)
	return &detector{api: api}, nil
}

func (d *detector) close() {
	if d == nil || d.api == nil {
		return
	}
	C.TessBaseAPIEnd(d.api)
	C.TessBaseAPIDelete(d.api)
	d.api = nil
}

// detect finds img's orientation and script. A page with too little text
// for OSD, or a low orientation confidence, is reported upright (quads 0);
// a low script confidence gives no script. Detection cannot be interrupted,
// so ctx is only checked before it starts.
func (d *detector) detect(ctx context.Context, img *Image, dpi int) (orientation, error) {
	if err := ctx.Err(); err != nil {
		return orientation{}, err
	}
	C.TessBaseAPISetImage2(d.api, (*C.struct_Pix)(unsafe.Pointer(img.pix)))
	C.TessBaseAPISetSourceResolution(d.api, C.int(dpi))
	defer C.TessBaseAPIClear(d.api)
	var (
		deg          C.int
		oconf, sconf C.float
		script       *C.char
	)
	// script points into the osd model's character set: it is not freed.
	if C.TessBaseAPIDetectOrientationScript(d.api, &deg, &oconf, &script, &sconf) == 0 {
		return orientation{}, nil // too few characters to tell
	}
	o := orientation{conf: float64(oconf), scriptConf: float64(sconf)}
	if script != nil && o.scriptConf >= minScriptConf {
		o.script = C.GoString(script)
	}
	if o.conf >= minOrientationConf {
		o.quads = quadsFromDegrees(int(deg))
	}
	return o, nil
}

// quadsFromDegrees converts OSD's orientation (the counter-clockwise
// rotation the page has undergone, in degrees: 0, 90, 180 or 270) into the
// quarter turns clockwise that undo it.
func quadsFromDegrees(deg int) int {
	return (4 - ((deg/90)%4+4)%4) % 4
}
