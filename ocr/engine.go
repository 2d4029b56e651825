package ocr

/*
#cgo pkg-config: tesseract lept
#include <stdlib.h>
#include <tesseract/capi.h>

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
	"image"
	"math"
	"os"
	"unsafe"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"

	"github.com/folio-ocr/folio/pipeline"
)

// maxSide bounds an image's width and height in pixels (A0 at 900 dpi is
// under 30,000 px; larger sizes are almost surely a bug upstream).
const maxSide = 32767

// ErrClosed is returned by Recognize after Close.
var ErrClosed = errors.New("ocr: engine closed")

// Engine is one Tesseract instance (one TessBaseAPI) with a model loaded.
//
// An Engine is NOT safe for concurrent use: give each goroutine its own
// (Tesseract's API is not thread-safe), and size a pool of engines to the
// cores. Set OMP_THREAD_LIMIT=1 in the process environment before it starts;
// see the package documentation.
type Engine struct {
	api  *C.TessBaseAPI
	lang string
}

// New loads the Tesseract model for lang (a Tesseract language code such as
// "eng", or several joined with '+'; "" means "eng") with the LSTM engine
// only. The traineddata is looked up in $TESSDATA_PREFIX when set, else in
// Tesseract's compiled-in default. Initialisation takes 0.1–0.4 s; reuse the
// engine across pages.
func New(lang string) (*Engine, error) {
	if lang == "" {
		lang = "eng"
	}
	api := C.TessBaseAPICreate()
	if api == nil {
		return nil, errors.New("ocr: TessBaseAPICreate failed")
	}
	var cpath *C.char
	if p := os.Getenv("TESSDATA_PREFIX"); p != "" {
		cpath = C.CString(p)
		defer C.free(unsafe.Pointer(cpath))
	}
	clang := C.CString(lang)
	defer C.free(unsafe.Pointer(clang))
	if rc := C.TessBaseAPIInit2(api, cpath, clang, C.OEM_LSTM_ONLY); rc != 0 {
		C.TessBaseAPIEnd(api)
		C.TessBaseAPIDelete(api)
		return nil, fmt.Errorf("ocr: loading Tesseract model %q failed (is tesseract-ocr-%s installed, TESSDATA_PREFIX=%q?)", lang, lang, os.Getenv("TESSDATA_PREFIX"))
	}
	return &Engine{api: api, lang: lang}, nil
}

// Close frees the Tesseract instance. It is safe to call more than once.
func (e *Engine) Close() {
	if e == nil || e.api == nil {
		return
	}
	C.TessBaseAPIEnd(e.api)
	C.TessBaseAPIDelete(e.api)
	e.api = nil
}

// Recognize OCRs img, scanned at dpi dots per inch, into Vision's hierarchy:
// one page (width and height in pixels) of blocks (blockType TEXT),
// paragraphs, words and symbols, with normalizedVertices boxes on blocks,
// paragraphs and words (none on symbols, as in Vision's file output and
// [pipeline.BuildTextAnnotation]), Tesseract's confidences scaled to [0,1],
// detectedBreak on the last symbol of each word (SPACE between words of a
// line, EOL_SURE_SPACE at the end of a line, LINE_BREAK at the end of a
// paragraph) and text equal to what the symbols and breaks spell (see
// [pipeline.BreakText]). An image without text gives a page with no blocks
// and empty text.
//
// It runs exactly one recognition and one iterator pass. ctx is checked
// before recognition starts, and its cancellation is passed to Tesseract's
// cancel callback, which Tesseract polls between words; Tesseract cannot
// stop inside a word or during layout analysis, so a cancelled call may
// still take a fraction of a page's time to return ctx.Err().
func (e *Engine) Recognize(ctx context.Context, img *image.Gray, dpi int) (*visionpb.TextAnnotation, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if e == nil || e.api == nil {
		return nil, ErrClosed
	}
	if img == nil {
		return nil, errors.New("ocr: nil image")
	}
	b := img.Rect
	w, h := b.Dx(), b.Dy()
	if w <= 0 || h <= 0 || w > maxSide || h > maxSide {
		return nil, fmt.Errorf("ocr: image size %dx%d out of range (1..%d)", w, h, maxSide)
	}
	if dpi <= 0 || dpi > 10000 {
		return nil, fmt.Errorf("ocr: dpi %d out of range", dpi)
	}
	if img.Stride < w || len(img.Pix) < img.PixOffset(b.Min.X, b.Min.Y)+(h-1)*img.Stride+w {
		return nil, errors.New("ocr: image buffer smaller than its bounds")
	}

	// Tesseract copies the pixels into its own Pix during SetImage, so the
	// Go buffer is not retained after the call.
	pix := img.Pix[img.PixOffset(b.Min.X, b.Min.Y):]
	C.TessBaseAPISetImage(e.api, (*C.uchar)(unsafe.Pointer(&pix[0])), C.int(w), C.int(h), 1, C.int(img.Stride))
	C.TessBaseAPISetSourceResolution(e.api, C.int(dpi))
	defer C.TessBaseAPIClear(e.api)

	flag := (*C.int)(C.calloc(1, C.size_t(unsafe.Sizeof(C.int(0)))))
	if flag == nil {
		return nil, errors.New("ocr: out of memory")
	}
	defer C.free(unsafe.Pointer(flag))
	mon := C.folio_monitor(flag)
	if mon == nil {
		return nil, errors.New("ocr: TessMonitorCreate failed")
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
	rc := C.TessBaseAPIRecognize(e.api, mon)
	close(done)
	<-watcherDone // the flag must outlive the watcher's last write
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if rc != 0 {
		return nil, fmt.Errorf("ocr: Tesseract recognition failed (%d)", int(rc))
	}
	return e.walk(w, h), nil
}

// breakRank orders word boundaries by strength.
type breakRank int

const (
	noBreak breakRank = iota
	spaceBreak
	lineBreak
	paraBreak
)

func (r breakRank) breakType() visionpb.TextAnnotation_DetectedBreak_BreakType {
	switch r {
	case spaceBreak:
		return visionpb.TextAnnotation_DetectedBreak_SPACE
	case lineBreak:
		return visionpb.TextAnnotation_DetectedBreak_EOL_SURE_SPACE
	case paraBreak:
		return visionpb.TextAnnotation_DetectedBreak_LINE_BREAK
	}
	return visionpb.TextAnnotation_DetectedBreak_UNKNOWN
}

// walk reads the last recognition's results in one pass at symbol level.
func (e *Engine) walk(w, h int) *visionpb.TextAnnotation {
	page := &visionpb.Page{Width: int32(w), Height: int32(h)}
	ta := &visionpb.TextAnnotation{Pages: []*visionpb.Page{page}}

	ri := C.TessBaseAPIGetIterator(e.api)
	if ri == nil { // nothing recognized
		return ta
	}
	defer C.TessResultIteratorDelete(ri)
	// The page iterator is a view of ri (its base class), not a separate
	// allocation: it is not deleted on its own.
	pi := C.TessResultIteratorGetPageIterator(ri)

	var (
		blk      *visionpb.Block
		par      *visionpb.Paragraph
		wrd      *visionpb.Word
		lastSym  *visionpb.Symbol
		pending  breakRank
		confSum  float64
		confN    int
		blockNew bool
		paraNew  bool
	)
	box := func(level C.TessPageIteratorLevel) *visionpb.BoundingPoly {
		var l, t, r, bt C.int
		if C.TessPageIteratorBoundingBox(pi, level, &l, &t, &r, &bt) == 0 {
			return nil
		}
		return poly(int(l), int(t), int(r), int(bt), w, h)
	}
	conf := func(level C.TessPageIteratorLevel) float32 {
		return clampConf(float64(C.TessResultIteratorConfidence(ri, level)) / 100)
	}

	for {
		atBlock := C.TessPageIteratorIsAtBeginningOf(pi, C.RIL_BLOCK) != 0
		atPara := atBlock || C.TessPageIteratorIsAtBeginningOf(pi, C.RIL_PARA) != 0
		atLine := atPara || C.TessPageIteratorIsAtBeginningOf(pi, C.RIL_TEXTLINE) != 0
		atWord := atLine || C.TessPageIteratorIsAtBeginningOf(pi, C.RIL_WORD) != 0

		switch {
		case atPara:
			pending = max(pending, paraBreak)
		case atLine:
			pending = max(pending, lineBreak)
		case atWord:
			pending = max(pending, spaceBreak)
		}
		// Nodes are created here but attached only once they hold a
		// symbol, so empty words, paragraphs and blocks never appear.
		if atBlock || blk == nil {
			blk = &visionpb.Block{BoundingBox: box(C.RIL_BLOCK), BlockType: visionpb.Block_TEXT, Confidence: conf(C.RIL_BLOCK)}
			blockNew = true
		}
		if atPara || par == nil {
			par = &visionpb.Paragraph{BoundingBox: box(C.RIL_PARA), Confidence: conf(C.RIL_PARA)}
			paraNew = true
		}
		if atWord || wrd == nil {
			wrd = &visionpb.Word{BoundingBox: box(C.RIL_WORD), Confidence: conf(C.RIL_WORD)}
		}

		if txt := C.TessResultIteratorGetUTF8Text(ri, C.RIL_SYMBOL); txt != nil {
			s := C.GoString(txt)
			C.TessDeleteText(txt)
			if s != "" {
				if lastSym != nil && pending != noBreak {
					lastSym.Property = newBreak(pending.breakType())
				}
				pending = noBreak
				if blockNew {
					page.Blocks = append(page.Blocks, blk)
					blockNew = false
				}
				if paraNew {
					blk.Paragraphs = append(blk.Paragraphs, par)
					paraNew = false
				}
				if len(wrd.Symbols) == 0 {
					par.Words = append(par.Words, wrd)
					confSum += float64(wrd.Confidence)
					confN++
				}
				sym := &visionpb.Symbol{Text: s, Confidence: conf(C.RIL_SYMBOL)}
				wrd.Symbols = append(wrd.Symbols, sym)
				lastSym = sym
			}
		}
		if C.TessResultIteratorNext(ri, C.RIL_SYMBOL) == 0 {
			break
		}
	}
	if lastSym != nil {
		lastSym.Property = newBreak(visionpb.TextAnnotation_DetectedBreak_LINE_BREAK)
	}
	if confN > 0 {
		page.Confidence = clampConf(confSum / float64(confN))
	}
	ta.Text = spell(ta)
	return ta
}

// spell returns what the symbols and their breaks spell, the convention of
// fullTextAnnotation.text.
func spell(ta *visionpb.TextAnnotation) string {
	var n int
	var sb []byte
	for _, p := range ta.GetPages() {
		for _, b := range p.GetBlocks() {
			for _, pa := range b.GetParagraphs() {
				for _, w := range pa.GetWords() {
					n += len(w.GetSymbols()) * 2
				}
			}
		}
	}
	sb = make([]byte, 0, n)
	for _, p := range ta.GetPages() {
		for _, b := range p.GetBlocks() {
			for _, pa := range b.GetParagraphs() {
				for _, w := range pa.GetWords() {
					for _, s := range w.GetSymbols() {
						sb = append(sb, s.GetText()...)
						sb = append(sb, pipeline.BreakText(s.GetProperty().GetDetectedBreak().GetType())...)
					}
				}
			}
		}
	}
	return string(sb)
}

func newBreak(t visionpb.TextAnnotation_DetectedBreak_BreakType) *visionpb.TextAnnotation_TextProperty {
	return &visionpb.TextAnnotation_TextProperty{DetectedBreak: &visionpb.TextAnnotation_DetectedBreak{Type: t}}
}

func clampConf(v float64) float32 {
	if math.IsNaN(v) || v < 0 {
		return 0
	}
	if v > 1 {
		return 1
	}
	return float32(v)
}

// poly converts a pixel box (left, top, right, bottom; y down) into four
// normalized vertices, top-left, top-right, bottom-right, bottom-left.
func poly(l, t, r, b, w, h int) *visionpb.BoundingPoly {
	nx := func(x int) float32 { return float32(min(max(float64(x)/float64(w), 0), 1)) }
	ny := func(y int) float32 { return float32(min(max(float64(y)/float64(h), 0), 1)) }
	return &visionpb.BoundingPoly{NormalizedVertices: []*visionpb.NormalizedVertex{
		{X: nx(l), Y: ny(t)}, {X: nx(r), Y: ny(t)}, {X: nx(r), Y: ny(b)}, {X: nx(l), Y: ny(b)},
	}}
}
