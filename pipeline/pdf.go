package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/klippa-app/go-pdfium"
	pdfiumerrors "github.com/klippa-app/go-pdfium/errors"
	"github.com/klippa-app/go-pdfium/references"
	"github.com/klippa-app/go-pdfium/requests"
	"github.com/klippa-app/go-pdfium/responses"
	"github.com/klippa-app/go-pdfium/webassembly"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"

	"github.com/folio-ocr/folio/rpcerr"
)

// DefaultMaxPageChars is the text-layer size above which [PDF] rejects a page
// when [PDFConfig.MaxPageChars] is zero. A dense printed page holds a few
// thousand characters.
const DefaultMaxPageChars = 200_000

// DefaultRecyclePages is how many pages an open [Document] reads on one
// PDFium instance before moving to a fresh one when
// [PDFConfig.RecyclePages] is zero. PDFium keeps memory for every page a
// document has loaded until the document closes, and WebAssembly memory
// never shrinks: reading a 2,000-page scan on one instance grew the
// process to 2.4 GB (82 KB a page on a born-digital file). Reopening costs
// about 10 ms.
const DefaultRecyclePages = 50

// PDFConfig configures [NewPDF].
type PDFConfig struct {
	// Instances is the number of documents that may be open at once; each
	// open document holds one PDFium WebAssembly instance (a few MB for text
	// pages, up to a few hundred MB after image-heavy pages). Open blocks
	// while all are in use. Zero means runtime.NumCPU().
	Instances int
	// CacheDir holds wazero's compilation cache, which cuts start-up from
	// about 5 s to 0.3 s. Empty means os.UserCacheDir()/folio/wazero (or the
	// temporary directory when there is no user cache directory). It is
	// created if missing.
	CacheDir string
	// MaxPageChars bounds the characters of one page's text layer; a larger
	// page fails with ErrInvalidInput. Zero means DefaultMaxPageChars,
	// negative means no limit.
	MaxPageChars int
	// RecyclePages is how many pages a Document reads on one PDFium
	// instance (a page read and then rendered counts once) before it
	// closes the document, discards the instance and reopens the file on
	// a fresh one, so that a long document does not grow an instance's
	// memory without bound. Zero means DefaultRecyclePages, negative means
	// never.
	RecyclePages int
	// MaxMemory bounds the WebAssembly memory of one instance, in bytes;
	// a page that needs more fails with ErrInvalidInput, and the document
	// moves to a fresh instance. Zero means DefaultMaxMemory; at most 2 GB,
	// the module's own limit.
	MaxMemory int64
	// Log receives whatever PDFium prints on its stdout and stderr. Nil
	// discards it.
	Log io.Writer
	// DisableInterrupt turns off wazero's context checks inside PDFium.
	// Text extraction then runs 4-5 times as fast (R-intro.pdf page 11:
	// 3.2 ms instead of 14.6 ms, see BenchmarkExtract), but a Page call
	// that runs past its context's deadline can no longer be stopped: the
	// goroutine stays in WebAssembly until PDFium returns, and since that
	// code cannot be preempted, a garbage collection started meanwhile
	// waits for it, stalling the whole process. Only for trusted input, or
	// with an external watchdog that restarts a stuck worker.
	//
	// The interrupt costs this much because wazero v1.12 (a) starts a
	// goroutine for every call into WebAssembly, which for text is three
	// calls per character, and (b) leaves native code for Go at every loop
	// back-edge. A wazero patched to test the closed flag inline and to skip
	// the goroutine for a context without Done measured 3-5 ms per page
	// with interruption kept (wazero PRs #2524 and #2533 do the same).
	DisableInterrupt bool
}

// PDF opens PDF files with PDFium compiled to WebAssembly (go-pdfium on
// wazero: pure Go, no cgo). It implements [Opener] and is safe for
// concurrent use; create one per process and Close it on shutdown.
//
// Each open [Document] owns a fresh PDFium instance, which is discarded on
// Document.Close and replaced every RecyclePages pages, so WebAssembly
// memory (which never shrinks) is returned after every document and stays
// bounded within a long one.
type PDF struct {
	pool     pdfium.Pool
	cache    wazero.CompilationCache
	maxChars int
	recycle  int
	mem      *memoryLimit

	mu     sync.Mutex
	closed bool
}

var _ Opener = (*PDF)(nil)

// NewPDF compiles PDFium (or loads it from the compilation cache) and starts
// the instance pool.
func NewPDF(cfg PDFConfig) (*PDF, error) {
	if cfg.Instances <= 0 {
		cfg.Instances = runtime.NumCPU()
	}
	dir, err := cacheDir(cfg.CacheDir)
	if err != nil {
		return nil, err
	}
	cache, err := wazero.NewCompilationCacheWithDir(dir)
	if err != nil {
		return nil, fmt.Errorf("pipeline: open wazero cache: %w", err)
	}
	logw := cfg.Log
	if logw == nil {
		logw = io.Discard
	}
	maxChars := cfg.MaxPageChars
	if maxChars == 0 {
		maxChars = DefaultMaxPageChars
	}
	if cfg.MaxMemory <= 0 {
		cfg.MaxMemory = DefaultMaxMemory
	}
	mem := &memoryLimit{max: uint64(cfg.MaxMemory)}
	pool, err := webassembly.Init(webassembly.Config{
		// Instances are created with this context: it carries the
		// allocator that caps their memory.
		Context:  experimental.WithMemoryAllocator(context.Background(), mem),
		MinIdle:  0,
		MaxIdle:  cfg.Instances,
		MaxTotal: cfg.Instances,
		// PDFium reads documents through FileReader callbacks only: give it
		// no view of the host file system.
		FSConfig: wazero.NewFSConfig(),
		// The bundled module needs the exception-handling feature (setjmp
		// and longjmp). CloseOnContextDone lets Document.Page interrupt a
		// call that runs past its context's deadline.
		RuntimeConfig: wazero.NewRuntimeConfig().
			WithCoreFeatures(api.CoreFeaturesV2 | experimental.CoreFeaturesExceptionHandling).
			WithCompilationCache(cache).
			WithCloseOnContextDone(!cfg.DisableInterrupt),
		Stdout: logw,
		Stderr: logw,
	})
	if err != nil {
		_ = cache.Close(context.Background())
		return nil, fmt.Errorf("pipeline: start pdfium: %w", err)
	}
	recycle := cfg.RecyclePages
	if recycle == 0 {
		recycle = DefaultRecyclePages
	}
	return &PDF{pool: pool, cache: cache, maxChars: maxChars, recycle: recycle, mem: mem}, nil
}

// cacheDir returns dir, or the default compilation cache directory if dir
// is empty, after creating it.
func cacheDir(dir string) (string, error) {
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			base = os.TempDir()
		}
		dir = filepath.Join(base, "folio", "wazero")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("pipeline: create wazero cache dir: %w", err)
	}
	return dir, nil
}

// Close stops the pool, closing any documents still open, and releases the
// compilation cache. Later calls return nil.
func (p *PDF) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	err := p.pool.Close()
	if cerr := p.cache.Close(context.Background()); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("pipeline: close pdfium: %w", err)
	}
	return nil
}

// Open opens the PDF in r, whose length is size, waiting for a free instance
// while ctx allows. PDFium reads r on demand (Seek and Read, also during
// later Page calls), so a large file is not loaded into memory; r must stay
// usable until the Document is closed. Errors wrap [ErrInvalidInput] (not a
// PDF, corrupt, truncated, no pages) or [ErrEncrypted] (password needed);
// an error of r itself is returned wrapped as it is.
func (p *PDF) Open(ctx context.Context, r io.ReadSeeker, size int64) (Document, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("pipeline: open pdf: %w", err)
	}
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return nil, errors.New("pipeline: open pdf: pdfium pool is closed")
	}
	if size <= 0 {
		return nil, fmt.Errorf("pipeline: open pdf: empty file: %w", ErrInvalidInput)
	}
	d := &pdfDoc{pool: p.pool, maxChars: p.maxChars, recycleAfter: p.recycle, reader: &recordingReader{r: r}, size: size, mem: p.mem}
	if err := d.load(ctx); err != nil {
		return nil, err
	}
	if d.pages < 1 {
		d.discard()
		return nil, fmt.Errorf("pipeline: open pdf: document has no pages: %w", ErrInvalidInput)
	}
	return d, nil
}

// load takes a PDFium instance from the pool, waiting while ctx allows, and
// opens the document on it, counting its pages. On error the instance is
// discarded.
func (d *pdfDoc) load(ctx context.Context) (err error) {
	inst, err := d.pool.GetInstanceWithContext(ctx)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			err = ctxErr
		}
		return fmt.Errorf("pipeline: acquire pdfium instance: %w", err)
	}
	d.inst, d.hasInst, d.visits, d.lastPage, d.broken = inst, true, 0, 0, false
	defer func() {
		if err != nil {
			d.discard()
		}
	}()
	var opened references.FPDF_DOCUMENT
	err = guard(func() error {
		resp, err := inst.OpenDocument(&requests.OpenDocument{FileReader: d.reader, FileReaderSize: d.size})
		if err != nil {
			return err
		}
		opened = resp.Document
		return nil
	})
	if err != nil {
		if rerr := d.reader.Err(); rerr != nil {
			return fmt.Errorf("pipeline: read pdf: %w", rerr)
		}
		return fmt.Errorf("pipeline: open pdf: %w", classify(err))
	}
	d.doc, d.hasDoc = opened, true

	var count int
	err = guard(func() error {
		resp, err := inst.FPDF_GetPageCount(&requests.FPDF_GetPageCount{Document: opened})
		if err != nil {
			return err
		}
		count = resp.PageCount
		return nil
	})
	if err != nil {
		return fmt.Errorf("pipeline: count pdf pages: %w", classify(err))
	}
	if d.pages != 0 && count != d.pages {
		return fmt.Errorf("pipeline: reopen pdf: %d pages, was %d", count, d.pages)
	}
	d.pages = count
	return nil
}

// classify maps go-pdfium's errors onto the package's sentinels. Every error
// PDFium reports while parsing is a fault of the file; errors from the
// WebAssembly runtime itself (a trap on hostile input) are treated the same,
// since retrying cannot help. A panic that guard recovered stays INTERNAL.
func classify(err error) error {
	switch {
	case errors.Is(err, rpcerr.ErrPanic):
		return err
	case errors.Is(err, pdfiumerrors.ErrPassword), errors.Is(err, pdfiumerrors.ErrSecurity):
		return fmt.Errorf("%w: %w", ErrEncrypted, err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.Is(err, pdfiumerrors.ErrFormat):
		return fmt.Errorf("not a PDF or a damaged one: %w", ErrInvalidInput)
	case errors.Is(err, pdfiumerrors.ErrPage):
		return fmt.Errorf("damaged page: %w", ErrInvalidInput)
	case errors.Is(err, pdfiumerrors.ErrFile):
		return fmt.Errorf("unreadable file: %w", ErrInvalidInput)
	default:
		return fmt.Errorf("%w: %w", ErrInvalidInput, err)
	}
}

// guard runs f and turns a panic into an INTERNAL error (rpcerr.Recovered)
// that carries the panic's value and stack: go-pdfium should return errors,
// but a document must never take the process down.
func guard(f func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = rpcerr.Recovered(v, "internal error in pdfium")
		}
	}()
	return f()
}

// recordingReader remembers the first error of the underlying reader other
// than io.EOF, so that a failing read (network, disk) is reported as such and
// not as a corrupt file.
type recordingReader struct {
	r   io.ReadSeeker
	mu  sync.Mutex
	err error
}

func (rr *recordingReader) record(err error) {
	if err == nil || errors.Is(err, io.EOF) {
		return
	}
	rr.mu.Lock()
	if rr.err == nil {
		rr.err = err
	}
	rr.mu.Unlock()
}

// Err returns the first error recorded.
func (rr *recordingReader) Err() error {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	return rr.err
}

func (rr *recordingReader) Read(b []byte) (int, error) {
	n, err := rr.r.Read(b)
	rr.record(err)
	return n, err
}

func (rr *recordingReader) Seek(off int64, whence int) (int64, error) {
	n, err := rr.r.Seek(off, whence)
	rr.record(err)
	return n, err
}

// pdfDoc is a Document backed by one PDFium instance.
type pdfDoc struct {
	pool     pdfium.Pool
	inst     pdfium.Pdfium
	hasInst  bool
	doc      references.FPDF_DOCUMENT
	hasDoc   bool
	pages    int
	maxChars int
	reader   *recordingReader
	size     int64

	visits       int // pages loaded on inst, a page read again at once counted once
	lastPage     int // the page last loaded on inst
	recycleAfter int // visits after which inst is replaced; <= 0: never

	killed atomic.Bool // the instance was killed because a ctx ended mid-call
	closed bool
	// broken is set when a call on the instance failed: PDFium may have
	// trapped midway (out of memory, say), leaving the instance in any
	// state, so the next call moves to a fresh one.
	broken bool
	mem    *memoryLimit
}

func (d *pdfDoc) PageCount() int { return d.pages }

// Page extracts page n. Width and Height are the page as displayed (the
// crop box, with /Rotate applied), and char boxes are in that displayed
// space, origin bottom left; Angle is the glyph's direction as displayed,
// counter-clockwise. If ctx ends while PDFium is working, the call is
// interrupted and the Document becomes unusable (later calls fail).
func (d *pdfDoc) Page(ctx context.Context, n int) (*Page, error) {
	var page *Page
	err := d.call(ctx, n, "read", func() (err error) {
		page, err = d.page(n)
		return err
	})
	return page, err
}

// call runs f, which works on page n, so that ctx ending interrupts it: the
// instance is killed and the Document becomes unusable. Errors name the page
// and what was done to it.
func (d *pdfDoc) call(ctx context.Context, n int, what string, f func() error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("pipeline: %s pdf page %d: %w", what, n, err)
	}
	if d.closed || d.killed.Load() {
		return fmt.Errorf("pipeline: %s pdf page %d: document is closed", what, n)
	}
	if n < 1 || n > d.pages {
		return fmt.Errorf("pipeline: %s pdf page %d: out of range 1..%d", what, n, d.pages)
	}
	if d.broken {
		if err := d.renew(ctx); err != nil {
			return fmt.Errorf("pipeline: %s pdf page %d: %w", what, n, err)
		}
	}
	if n != d.lastPage {
		if d.recycleAfter > 0 && d.visits >= d.recycleAfter {
			if err := d.recycle(ctx); err != nil {
				return fmt.Errorf("pipeline: %s pdf page %d: %w", what, n, err)
			}
		}
		d.visits, d.lastPage = d.visits+1, n
	}
	var unmap func() // the killed instance's memory, unmapped once f has returned
	killed := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(killed)
		d.killed.Store(true)
		unmap = d.mem.kill(func() { _ = guard(d.inst.Kill) })
	})
	refused := d.mem.refused.Load()
	err := guard(f)
	stopped := stop()
	if !stopped {
		<-killed
		unmap()
	}
	if !stopped || d.killed.Load() {
		// The instance was killed; whatever the call returned is void.
		cerr := ctx.Err()
		if cerr == nil {
			cerr = context.Canceled
		}
		return fmt.Errorf("pipeline: %s pdf page %d: %w", what, n, cerr)
	}
	if err != nil {
		d.broken = true
		if rerr := d.reader.Err(); rerr != nil {
			return fmt.Errorf("pipeline: %s pdf page %d: %w", what, n, rerr)
		}
		if d.mem.refused.Load() != refused {
			// Some instance was refused memory during the call: most
			// likely this one (another document's page failing at the same
			// moment would be named here too).
			return fmt.Errorf("pipeline: %s pdf page %d: page needs more than %d MB of memory: %w",
				what, n, d.mem.max>>20, ErrInvalidInput)
		}
		return fmt.Errorf("pipeline: %s pdf page %d: %w", what, n, classify(err))
	}
	return nil
}

// renew discards the instance, which may be broken, without calling into
// it, and opens the file again on a fresh one. On error the Document is
// closed.
func (d *pdfDoc) renew(ctx context.Context) error {
	_ = guard(d.inst.Kill)
	d.hasInst, d.hasDoc = false, false
	if err := d.load(ctx); err != nil {
		d.closed = true
		return err
	}
	return nil
}

// withPage loads page n, runs f on it with its display transform, and
// closes it.
func (d *pdfDoc) withPage(n int, f func(ref requests.Page, tf pageTransform) error) error {
	lp, err := d.inst.FPDF_LoadPage(&requests.FPDF_LoadPage{Document: d.doc, Index: n - 1})
	if err != nil {
		return err
	}
	pageRef := lp.Page
	defer func() {
		_ = guard(func() error {
			_, err := d.inst.FPDF_ClosePage(&requests.FPDF_ClosePage{Page: pageRef})
			return err
		})
	}()
	ref := requests.Page{ByReference: &pageRef}
	rot, err := d.inst.FPDFPage_GetRotation(&requests.FPDFPage_GetRotation{Page: ref})
	if err != nil {
		return err
	}
	bb, err := d.inst.FPDF_GetPageBoundingBox(&requests.FPDF_GetPageBoundingBox{Page: ref})
	if err != nil {
		return err
	}
	tf := newPageTransform(float64(bb.Rect.Left), float64(bb.Rect.Bottom),
		float64(bb.Rect.Right), float64(bb.Rect.Top), int(rot.PageRotation))
	return f(ref, tf)
}

func (d *pdfDoc) page(n int) (*Page, error) {
	out := &Page{Number: n}
	err := d.withPage(n, func(ref requests.Page, tf pageTransform) error {
		out.Width, out.Height = tf.width, tf.height
		text, err := d.inst.GetPageTextStructured(&requests.GetPageTextStructured{
			Page: ref,
			Mode: requests.GetPageTextStructuredModeChars,
		})
		if err != nil {
			return err
		}
		if d.maxChars > 0 && len(text.Chars) > d.maxChars {
			return fmt.Errorf("page has %d characters, over the limit of %d: %w", len(text.Chars), d.maxChars, ErrInvalidInput)
		}
		raw, err := d.replacedUnits(ref, text.Chars)
		if err != nil {
			return err
		}
		out.Chars = make([]Char, 0, len(text.Chars))
		for i := 0; i < len(text.Chars); i++ {
			c := text.Chars[i]
			if c == nil || c.Text == "" {
				continue
			}
			r, _ := utf8.DecodeRuneInString(c.Text)
			if u, ok := raw[i]; ok && utf16.IsSurrogate(rune(u)) {
				// PDFium gives a character beyond the BMP (Miao, math
				// letters, emoji) as two with the glyph's box, its UTF-16
				// surrogates, which the structured call turns into
				// U+FFFD each: join them. Halves from two glyphs (a
				// broken ToUnicode map) stay apart.
				if v, ok := raw[i+1]; ok && text.Chars[i+1].PointPosition == c.PointPosition {
					if j := utf16.DecodeRune(rune(u), rune(v)); j != utf8.RuneError {
						r = j
						i++
					}
				}
			}
			if unmapped(r) {
				out.Unmapped++
			}
			if r == 0x02 {
				// PDFium reports a hyphen that it judges to end a line
				// inside a word as U+0002.
				r = '-'
			}
			pp := c.PointPosition
			if !finite(pp.Left, pp.Bottom, pp.Right, pp.Top, c.Angle) {
				continue
			}
			out.Chars = append(out.Chars, Char{
				Rune:  r,
				Box:   tf.rect(pp.Left, pp.Bottom, pp.Right, pp.Top),
				Angle: tf.angle(c.Angle),
			})
		}
		sc, err := d.scan(ref, tf)
		if err != nil {
			return err
		}
		out.ImageCover = sc.cover
		if sc.textObjects > 0 {
			out.InvisibleText = float64(sc.invisible) / float64(sc.textObjects)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// SampleFonts reads the font size of every character of pages, and the
// heights of some of their x-height letters (see [FontSampler]).
func (d *pdfDoc) SampleFonts(ctx context.Context, pages []int) (*Fonts, error) {
	if err := checkSamplePages(len(pages)); err != nil {
		return nil, err
	}
	var t fontTally
	for _, n := range pages {
		err := d.call(ctx, n, "sample fonts of", func() error {
			return d.withPage(n, func(ref requests.Page, _ pageTransform) error { return d.tallyFonts(ref, &t) })
		})
		if err != nil {
			return nil, err
		}
	}
	return t.fonts(), nil
}

// tallyFonts counts the characters of page ref by font size into t, with
// the heights of up to maxXHeightsPerPage upright x-height letters.
func (d *pdfDoc) tallyFonts(ref requests.Page, t *fontTally) error {
	return d.withTextPage(ref, func(tp references.FPDF_TEXTPAGE) error {
		cnt, err := d.inst.FPDFText_CountChars(&requests.FPDFText_CountChars{TextPage: tp})
		if err != nil {
			return err
		}
		if d.maxChars > 0 && cnt.Count > d.maxChars {
			return fmt.Errorf("page has %d characters, over the limit of %d: %w", cnt.Count, d.maxChars, ErrInvalidInput)
		}
		measured := 0
		for i := 0; i < cnt.Count; i++ {
			u, err := d.inst.FPDFText_GetUnicode(&requests.FPDFText_GetUnicode{TextPage: tp, Index: i})
			if err != nil {
				return err
			}
			r := rune(u.Unicode)
			if r == 0 || isBreakRune(r) {
				continue
			}
			s, err := d.inst.FPDFText_GetFontSize(&requests.FPDFText_GetFontSize{TextPage: tp, Index: i})
			if err != nil {
				return err
			}
			h := -1.0
			if ratio, _ := emRatio(r); ratio == xHeightRatio && measured < maxXHeightsPerPage {
				if h, err = d.uprightHeight(tp, i); err != nil {
					return err
				}
				if h > 0 {
					asc, desc, ok, err := d.fontBox(tp, i)
					if err != nil {
						return err
					}
					if ok {
						t.addFontBox(s.FontSize, asc, desc)
					}
				}
				measured++
			}
			t.add(r, s.FontSize, h)
		}
		return nil
	})
}

// withTextPage runs f on a text page of page ref, closed after it.
func (d *pdfDoc) withTextPage(ref requests.Page, f func(tp references.FPDF_TEXTPAGE) error) error {
	tp, err := d.inst.FPDFText_LoadPage(&requests.FPDFText_LoadPage{Page: ref})
	if err != nil {
		return err
	}
	defer func() { _, _ = d.inst.FPDFText_ClosePage(&requests.FPDFText_ClosePage{TextPage: tp.TextPage}) }()
	return f(tp.TextPage)
}

// fontBox is how far the font box of upright character i on text page tp
// reaches above and below its baseline, in points: PDFium's loose box is
// drawn from the ascent and descent its font declares, as pdftotext's word
// boxes are. ok is false for a font that is not embedded, whose box PDFium
// takes from the face it substitutes and pdftotext from the standard
// font's metrics.
func (d *pdfDoc) fontBox(tp references.FPDF_TEXTPAGE, i int) (ascent, descent float64, ok bool, err error) {
	obj, err := d.inst.FPDFText_GetTextObject(&requests.FPDFText_GetTextObject{TextPage: tp, Index: i})
	if err != nil {
		return 0, 0, false, err
	}
	font, err := d.inst.FPDFTextObj_GetFont(&requests.FPDFTextObj_GetFont{PageObject: obj.TextObject})
	if err != nil {
		return 0, 0, false, err
	}
	emb, err := d.inst.FPDFFont_GetIsEmbedded(&requests.FPDFFont_GetIsEmbedded{Font: font.Font})
	if err != nil || !emb.IsEmbedded {
		return 0, 0, false, err
	}
	b, err := d.inst.FPDFText_GetLooseCharBox(&requests.FPDFText_GetLooseCharBox{TextPage: tp, Index: i})
	if err != nil {
		return 0, 0, false, err
	}
	o, err := d.inst.FPDFText_GetCharOrigin(&requests.FPDFText_GetCharOrigin{TextPage: tp, Index: i})
	if err != nil {
		return 0, 0, false, err
	}
	return float64(b.Rect.Top) - o.Y, o.Y - float64(b.Rect.Bottom), true, nil
}

// uprightHeight is the height of character i's tight box on text page tp,
// or -1 if the character is turned.
func (d *pdfDoc) uprightHeight(tp references.FPDF_TEXTPAGE, i int) (float64, error) {
	a, err := d.inst.FPDFText_GetCharAngle(&requests.FPDFText_GetCharAngle{TextPage: tp, Index: i})
	if err != nil {
		return 0, err
	}
	if quarterTurns(float64(a.CharAngle)) != 0 {
		return -1, nil
	}
	b, err := d.inst.FPDFText_GetCharBox(&requests.FPDFText_GetCharBox{TextPage: tp, Index: i})
	if err != nil {
		return 0, err
	}
	return b.Top - b.Bottom, nil
}

// replacedUnits returns, by index, the code units PDFium holds for the
// characters of page ref that the structured call gave as U+FFFD (chars,
// in index order), which are UTF-16 surrogates where the page has text
// beyond the BMP; nil, without a call into PDFium, when there are none.
func (d *pdfDoc) replacedUnits(ref requests.Page, chars []*responses.GetPageTextStructuredChar) (map[int]uint, error) {
	var idx []int
	for i, c := range chars {
		if c != nil && c.Text == string(utf8.RuneError) {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return nil, nil
	}
	units := make(map[int]uint, len(idx))
	err := d.withTextPage(ref, func(tp references.FPDF_TEXTPAGE) error {
		for _, i := range idx {
			u, err := d.inst.FPDFText_GetUnicode(&requests.FPDFText_GetUnicode{TextPage: tp, Index: i})
			if err != nil {
				return err
			}
			units[i] = u.Unicode
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return units, nil
}

// Close closes the document and discards its PDFium instance. It is safe to
// call more than once.
func (d *pdfDoc) Close() error {
	if d.closed {
		return nil
	}
	return d.discard()
}

// recycle closes the document, discards its instance and opens the file
// again on a fresh one. On error the Document is closed.
func (d *pdfDoc) recycle(ctx context.Context) error {
	err := d.release()
	if err == nil {
		err = d.load(ctx)
	}
	if err != nil {
		d.closed = true
	}
	return err
}

// discard closes the Document for good: its PDFium document and instance.
func (d *pdfDoc) discard() error {
	d.closed = true
	return d.release()
}

// release closes the PDFium document and returns the instance, which the
// pool then discards (it does not reuse instances). A killed instance is
// gone already.
func (d *pdfDoc) release() error {
	if d.killed.Load() || !d.hasInst {
		d.hasInst, d.hasDoc = false, false
		return nil
	}
	var err error
	if d.hasDoc {
		err = guard(func() error {
			_, err := d.inst.FPDF_CloseDocument(&requests.FPDF_CloseDocument{Document: d.doc})
			return err
		})
		d.hasDoc = false
	}
	if cerr := guard(d.inst.Close); err == nil {
		err = cerr
	}
	d.hasInst = false
	if err != nil {
		return fmt.Errorf("pipeline: close pdf: %w", err)
	}
	return nil
}

func finite(vs ...float64) bool {
	for _, v := range vs {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}

// pageTransform maps PDFium's page space (PDF user space: origin at the
// bottom left of the media box, y up, /Rotate not applied) to the page as
// displayed: origin at the bottom left of the crop box after rotation.
type pageTransform struct {
	left, bottom  float64 // crop box origin in page space
	w0, h0        float64 // crop box size before rotation
	rot           int     // quarter turns clockwise, 0..3
	width, height float64 // displayed size
}

func newPageTransform(l, b, r, t float64, rotation int) pageTransform {
	if l > r {
		l, r = r, l
	}
	if b > t {
		b, t = t, b
	}
	tf := pageTransform{left: l, bottom: b, w0: r - l, h0: t - b, rot: ((rotation % 4) + 4) % 4}
	tf.width, tf.height = tf.w0, tf.h0
	if tf.rot%2 == 1 {
		tf.width, tf.height = tf.h0, tf.w0
	}
	return tf
}

// point maps one point.
func (tf pageTransform) point(x, y float64) (float64, float64) {
	u, v := x-tf.left, y-tf.bottom
	switch tf.rot {
	case 1: // 90° clockwise: the top-left corner goes to the top right
		return v, tf.w0 - u
	case 2:
		return tf.w0 - u, tf.h0 - v
	case 3:
		return tf.h0 - v, u
	default:
		return u, v
	}
}

// rect maps a box given by two opposite corners.
func (tf pageTransform) rect(l, b, r, t float64) Rect {
	x1, y1 := tf.point(l, b)
	x2, y2 := tf.point(r, t)
	return Rect{Left: min(x1, x2), Bottom: min(y1, y2), Right: max(x1, x2), Top: max(y1, y2)}
}

// cover is the share of the crop box that the box l, b, r, t (page space)
// covers.
func (tf pageTransform) cover(l, b, r, t float64) float64 {
	w := math.Min(r, tf.left+tf.w0) - math.Max(l, tf.left)
	h := math.Min(t, tf.bottom+tf.h0) - math.Max(b, tf.bottom)
	if w <= 0 || h <= 0 || tf.w0*tf.h0 <= 0 {
		return 0
	}
	return w * h / (tf.w0 * tf.h0)
}

// angle turns a glyph direction in page space as PDFium reports it
// (radians, clockwise: FPDFText_GetCharAngle is atan2(c, a) of the glyph
// matrix) into the displayed direction, counter-clockwise, normalised to
// [0, 2π).
func (tf pageTransform) angle(a float64) float64 {
	a = -a - float64(tf.rot)*math.Pi/2
	a = math.Mod(a, 2*math.Pi)
	if a < 0 {
		a += 2 * math.Pi
	}
	return a
}
