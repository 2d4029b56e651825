package ocr

/*
#cgo pkg-config: tesseract lept
#include <stdlib.h>
#include <tesseract/capi.h>
#include <leptonica/allheaders.h>

// folio_cancel is Tesseract's cancel callback: cancel_this points at a flag
// that Go sets when the request's context ends.
static bool folio_cancel(void *cancel_this, int words) {
	(void)words;
	return __atomic_load_n((int *)cancel_this, __ATOMIC_RELAXED) != 0;
}

static void folio_set_flag(int *flag) { __atomic_store_n(flag, 1, __ATOMIC_RELAXED); }

static ETEXT_DESC *folio_monitor(int *flag) {
	ETEXT_DESC *m = TessMonitorCreate();
	if (m == NULL) return NULL;
	TessMonitorSetCancelFunc(m, folio_cancel);
	TessMonitorSetCancelThis(m, flag);
	return m;
}
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"unsafe"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
)

// maxSide bounds an image's width and height in pixels: Tesseract keeps
// coordinates in 16-bit integers.
const maxSide = 32767

// ErrClosed is returned by Recognize after Close.
var ErrClosed = errors.New("ocr: engine closed")

// Options tune one recognition. The zero value recognizes an upright page
// at the resolution its file records (300 dpi when it records none).
type Options struct {
	// DPI is the scan resolution in dots per inch. If zero, the image's
	// [Image.Resolution] is used when it is plausible (50–2,400 dpi and a
	// page no longer than 34 inches), else 300.
	DPI int

	// DetectOrientation recognizes pages scanned sideways or upside down
	// upright; boxes are still reported in the image as given, their
	// vertices starting at the text's top-left. Tesseract's layout analysis
	// reads most sideways pages as they are; a page that reads poorly
	// (confidence under 0.6) is turned the way orientation detection (it
	// needs osd.traineddata) says, or upside down when it cannot tell, read
	// again, and the better reading is kept.
	DetectOrientation bool

	// Languages is a Tesseract language string such as "eng" or "eng+deu".
	// If empty, [Pool.Recognize] detects the script and uses a model for it
	// when one is installed, else English. [Engine.Recognize] ignores it:
	// an Engine recognizes the languages it was made with.
	Languages string
}

// Engine is one Tesseract instance (one TessBaseAPI) with a model loaded.
//
// An Engine is NOT safe for concurrent use: give each goroutine its own
// (Tesseract's API is not thread-safe) or use a [Pool]. Set
// OMP_THREAD_LIMIT=1 in the process environment before it starts; see the
// package documentation.
type Engine struct {
	api      *C.TessBaseAPI
	lang     string
	datapath string    // directory holding the traineddata files
	osd      *detector // made on first use
}

// New loads the Tesseract model for lang (a Tesseract language code such as
// "eng", or several joined with '+'; "" means "eng") with the LSTM engine
// only. The traineddata files are looked up in tessdataDir, or if it is
// empty in $TESSDATA_PREFIX when set, else in Tesseract's compiled-in
// default. Initialisation takes 0.1–0.4 s; reuse the engine across pages.
func New(lang, tessdataDir string) (*Engine, error) {
	if lang == "" {
		lang = "eng"
	}
	api, err := initAPI(lang, tessdataDir, C.OEM_LSTM_ONLY)
	if err != nil {
		return nil, err
	}
	return &Engine{api: api, lang: lang, datapath: C.GoString(C.TessBaseAPIGetDatapath(api))}, nil
}

// initAPI creates a TessBaseAPI with lang loaded and its debug output off.
func initAPI(lang, dir string, oem C.TessOcrEngineMode) (*C.TessBaseAPI, error) {
	api := C.TessBaseAPICreate()
	if api == nil {
		return nil, errors.New("ocr: TessBaseAPICreate failed")
	}
	if dir == "" {
		dir = os.Getenv("TESSDATA_PREFIX")
	}
	var cpath *C.char
	if dir != "" {
		cpath = C.CString(dir)
		defer C.free(unsafe.Pointer(cpath))
	}
	clang := C.CString(lang)
	defer C.free(unsafe.Pointer(clang))
	if rc := C.TessBaseAPIInit2(api, cpath, clang, oem); rc != 0 {
		C.TessBaseAPIEnd(api)
		C.TessBaseAPIDelete(api)
		return nil, fmt.Errorf("ocr: loading Tesseract model %q failed (is its traineddata installed in %q?)", lang, dir)
	}
	setVar(api, "debug_file", "/dev/null") // Tesseract's progress chatter
	// The library's default is a single uniform block of text (PSM 6):
	// columns would be read across. Full layout analysis is what the
	// tesseract command does by default.
	C.TessBaseAPISetPageSegMode(api, C.PSM_AUTO)
	return api, nil
}

func setVar(api *C.TessBaseAPI, name, value string) {
	cn, cv := C.CString(name), C.CString(value)
	defer C.free(unsafe.Pointer(cn))
	defer C.free(unsafe.Pointer(cv))
	C.TessBaseAPISetVariable(api, cn, cv)
}

// Languages returns the Tesseract language string the engine was made with.
func (e *Engine) Languages() string { return e.lang }

// Close frees the Tesseract instance. It is safe to call more than once.
func (e *Engine) Close() {
	if e == nil || e.api == nil {
		return
	}
	e.osd.close()
	e.osd = nil
	C.TessBaseAPIEnd(e.api)
	C.TessBaseAPIDelete(e.api)
	e.api = nil
}

// Recognize OCRs img into Vision's hierarchy: one page (width and height
// in img's pixels) of blocks (blockType TEXT), paragraphs, words and
// symbols, with normalizedVertices boxes on blocks, paragraphs and words
// (none on symbols, as in Vision's file output and
// [pipeline.BuildTextAnnotation]), Tesseract's confidences scaled to
// [0,1], detectedLanguages on words and the page, detectedBreak on the
// last symbol of each word (SPACE between words of a line, EOL_SURE_SPACE
// at the end of a line, HYPHEN for a hyphen that splits a word across
// lines, LINE_BREAK at the end of a paragraph) and text equal to what the
// symbols and breaks spell (see [pipeline.BreakText]). An image without
// text gives a page with no blocks and empty text.
//
// It runs exactly one recognition and one iterator pass (plus one
// orientation detection with opts.DetectOrientation). ctx is checked before
// recognition starts, and its cancellation is passed to Tesseract's cancel
// callback, which Tesseract polls between words; Tesseract cannot stop
// inside a word or during layout analysis, so a cancelled call may still
// take a fraction of a page's time to return ctx.Err(). The engine stays
// usable after a cancelled call.
func (e *Engine) Recognize(ctx context.Context, img *Image, opts Options) (*visionpb.TextAnnotation, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if e == nil || e.api == nil {
		return nil, ErrClosed
	}
	if err := img.check(); err != nil {
		return nil, err
	}
	dpi, err := resolveDPI(img, opts.DPI)
	if err != nil {
		return nil, err
	}
	ta, err := e.recognize(ctx, img, dpi, 0)
	if err != nil || !opts.DetectOrientation {
		return ta, err
	}
	return e.reread(ctx, img, dpi, ta, func() (orientation, error) {
		d, err := e.detector()
		if err != nil {
			return orientation{}, err
		}
		return d.detect(ctx, img, dpi)
	})
}

// poorReading is the page confidence under which a recognition is taken
// for a page that may be turned. Upright pages of the test scans read at
// 0.93–0.96; upside-down ones at about 0.40.
const poorReading = 0.6

// reread recognizes a page that read poorly (ta) again, turned the way
// orientation detection says, or upside down when it cannot tell (OSD tells
// 180° apart poorly: 0.6 confidence on a clear page), and returns the
// better reading. Pages scanned sideways mostly read well as they are,
// since Tesseract's layout analysis finds vertical lines itself; so
// detection, at about 0.7 s a page, runs only for pages that read poorly.
func (e *Engine) reread(ctx context.Context, img *Image, dpi int, ta *visionpb.TextAnnotation, detect func() (orientation, error)) (*visionpb.TextAnnotation, error) {
	conf := ta.GetPages()[0].GetConfidence()
	if len(ta.GetPages()[0].GetBlocks()) == 0 || conf >= poorReading {
		return ta, nil
	}
	o, err := detect()
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		o = orientation{} // no osd model: the upside-down retry still runs
	}
	quads := o.quads
	if quads == 0 {
		quads = 2
	}
	alt, err := e.recognize(ctx, img, dpi, quads)
	if err != nil {
		return nil, err
	}
	if alt.GetPages()[0].GetConfidence() > conf {
		return alt, nil
	}
	return ta, nil
}

// detector returns the engine's orientation detector, loading it once.
func (e *Engine) detector() (*detector, error) {
	if e.osd == nil {
		d, err := newDetector(e.datapath)
		if err != nil {
			return nil, err
		}
		e.osd = d
	}
	return e.osd, nil
}

// recognize turns img by quads quarter turns clockwise, scales it by
// upscaleFactor, recognizes it and maps the result back onto img.
func (e *Engine) recognize(ctx context.Context, img *Image, dpi, quads int) (*visionpb.TextAnnotation, error) {
	pix, effDPI, err := prepare(img, dpi, quads)
	if err != nil {
		return nil, err
	}
	if pix != img.pix {
		defer C.pixDestroy(&pix)
	}
	// Tesseract copies the pixels during SetImage2 (its thresholder keeps
	// its own copy), so pix is not retained and img is only read.
	C.TessBaseAPISetImage2(e.api, (*C.struct_Pix)(unsafe.Pointer(pix)))
	C.TessBaseAPISetSourceResolution(e.api, C.int(effDPI))
	defer C.TessBaseAPIClear(e.api)
	if err := runCancellable(ctx, func(mon *C.ETEXT_DESC) C.int { return C.TessBaseAPIRecognize(e.api, mon) }); err != nil {
		return nil, err
	}
	f := frame{w: int(C.pixGetWidth(pix)), h: int(C.pixGetHeight(pix)), quads: quads, vertical: verticalScript(e.lang)}
	return walk(e.api, f, img.w, img.h), nil
}

// runCancellable runs call with a Tesseract monitor whose cancel flag is
// raised when ctx ends, and returns ctx.Err() if it ended.
func runCancellable(ctx context.Context, call func(*C.ETEXT_DESC) C.int) error {
	flag := (*C.int)(C.calloc(1, C.size_t(unsafe.Sizeof(C.int(0)))))
	if flag == nil {
		return errors.New("ocr: out of memory")
	}
	defer C.free(unsafe.Pointer(flag))
	mon := C.folio_monitor(flag)
	if mon == nil {
		return errors.New("ocr: TessMonitorCreate failed")
	}
	defer C.TessMonitorDelete(mon)

	done := make(chan struct{})
	watcherDone := make(chan struct{})
	go func() {
		defer close(watcherDone)
		select {
		case <-ctx.Done():
			C.folio_set_flag(flag)
		case <-done:
		}
	}()
	rc := call(mon)
	close(done)
	<-watcherDone // the flag must outlive the watcher's last write
	if err := ctx.Err(); err != nil {
		return err
	}
	if rc != 0 {
		return fmt.Errorf("ocr: Tesseract recognition failed (%d)", int(rc))
	}
	return nil
}

// check reports whether im can be recognized.
func (im *Image) check() error {
	if im == nil {
		return errors.New("ocr: nil image")
	}
	if im.pix == nil {
		return errors.New("ocr: image closed")
	}
	return nil
}

// verticalScript reports whether the Tesseract language string lang has a
// model for a script also written top to bottom.
func verticalScript(lang string) bool {
	for _, m := range strings.Split(lang, "+") {
		if strings.HasPrefix(m, "chi_") || strings.HasPrefix(m, "jpn") || strings.HasPrefix(m, "kor") {
			return true
		}
	}
	return false
}
