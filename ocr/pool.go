package ocr

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
)

// ErrPoolClosed is returned by [Pool.Recognize] after [Pool.Close].
var ErrPoolClosed = errors.New("ocr: pool closed")

// PoolConfig configures a [Pool].
type PoolConfig struct {
	// Size is the number of recognitions that run at once, and so the
	// number of engines kept. If zero, runtime.NumCPU().
	Size int
	// TessdataDir is the directory of the traineddata files. If empty,
	// $TESSDATA_PREFIX when set, else Tesseract's compiled-in default.
	TessdataDir string
	// MaxPixels is the largest image (width × height) the pool recognizes;
	// larger ones get an error wrapping [ErrTooLarge]. If zero,
	// [DefaultMaxPixels].
	MaxPixels int
}

// Pool runs recognitions on at most Size Tesseract engines at once, each
// used by one goroutine at a time. It keeps idle engines by language string
// and loads a new one for a language it has no idle engine for, closing an
// idle engine of another language when Size engines already exist. Its
// methods are safe for concurrent use.
type Pool struct {
	cfg   PoolConfig
	slots chan struct{} // one token per running recognition

	mu       sync.Mutex
	idle     map[string][]*Engine // by language string
	nEngines int                  // idle and busy
	osd      []*detector          // idle orientation detectors
	closed   bool

	dirOnce sync.Once
	dir     string // the tessdata directory, once known
	scripts bool   // a model for a non-Latin script is installed there
}

// NewPool returns a pool configured by cfg. Engines are loaded on demand.
func NewPool(cfg PoolConfig) (*Pool, error) {
	if cfg.Size < 0 || cfg.MaxPixels < 0 {
		return nil, fmt.Errorf("ocr: pool size %d and max pixels %d must not be negative", cfg.Size, cfg.MaxPixels)
	}
	if cfg.Size == 0 {
		cfg.Size = runtime.NumCPU()
	}
	if cfg.MaxPixels == 0 {
		cfg.MaxPixels = DefaultMaxPixels
	}
	return &Pool{cfg: cfg, slots: make(chan struct{}, cfg.Size), idle: map[string][]*Engine{}}, nil
}

// Recognize OCRs img as [Engine.Recognize] does, on an engine for
// opts.Languages. When opts.Languages is empty it uses English, or, when
// orientation detection runs (opts.DetectOrientation) and finds a
// non-Latin script with confidence, that script's model if it is installed.
// It waits for a free slot while ctx allows, returning ctx.Err() if ctx ends
// first. An engine whose recognition was cancelled is reused.
func (p *Pool) Recognize(ctx context.Context, img *Image, opts Options) (*visionpb.TextAnnotation, error) {
	if err := img.check(); err != nil {
		return nil, err
	}
	if w, h := img.Size(); w*h > p.cfg.MaxPixels {
		return nil, fmt.Errorf("%w: %dx%d pixels (limit %d)", ErrTooLarge, w, h, p.cfg.MaxPixels)
	}
	dpi, err := resolveDPI(img, opts.DPI)
	if err != nil {
		return nil, err
	}
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-p.slots }()

	// Script detection needs orientation detection (0.3–0.8 s a page): it
	// is worth it only when a model for a non-Latin script is installed.
	var o orientation
	detected := false
	if opts.Languages == "" && p.scriptModels() {
		if o, err = p.detect(ctx, img, dpi); err != nil {
			return nil, err
		}
		detected = true
	}
	lang := opts.Languages
	if lang == "" {
		lang = "eng"
		if m := scriptModel(o.script); m != "" && p.hasModel(m) {
			lang = m
		}
	}
	e, err := p.take(lang)
	if err != nil {
		return nil, err
	}
	defer p.put(e)
	quads := 0
	if opts.DetectOrientation {
		quads = o.quads
	}
	ta, err := e.recognize(ctx, img, dpi, quads)
	if err != nil || !opts.DetectOrientation {
		return ta, err
	}
	return e.reread(ctx, img, dpi, ta, func() (orientation, error) {
		if detected {
			return o, nil
		}
		return p.detect(ctx, img, dpi)
	})
}

// detect runs orientation detection on an idle detector.
func (p *Pool) detect(ctx context.Context, img *Image, dpi int) (orientation, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return orientation{}, ErrPoolClosed
	}
	var d *detector
	if n := len(p.osd); n > 0 {
		d, p.osd = p.osd[n-1], p.osd[:n-1]
	}
	p.mu.Unlock()
	if d == nil {
		var err error
		if d, err = newDetector(p.cfg.TessdataDir); err != nil {
			return orientation{}, err
		}
	}
	o, err := d.detect(ctx, img, dpi)
	p.mu.Lock()
	if p.closed {
		d.close()
	} else {
		p.osd = append(p.osd, d)
	}
	p.mu.Unlock()
	return o, err
}

// take returns an engine for lang for the caller's slot: an idle one, or
// a new one, closing an idle engine of another language first when the
// pool already has Size engines.
func (p *Pool) take(lang string) (*Engine, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrPoolClosed
	}
	if es := p.idle[lang]; len(es) > 0 {
		e := es[len(es)-1]
		p.idle[lang] = es[:len(es)-1]
		p.mu.Unlock()
		return e, nil
	}
	var evict *Engine
	if p.nEngines >= p.cfg.Size {
		// The caller holds a slot but no engine, so at least one engine
		// is idle, and none of them is for lang.
		for l, es := range p.idle {
			if len(es) > 0 {
				evict = es[len(es)-1]
				p.idle[l] = es[:len(es)-1]
				if len(p.idle[l]) == 0 {
					delete(p.idle, l)
				}
				break
			}
		}
		if evict != nil {
			p.nEngines--
		}
	}
	p.nEngines++ // reserved for the engine made below
	p.mu.Unlock()
	evict.Close()
	e, err := New(lang, p.cfg.TessdataDir)
	if err != nil {
		p.mu.Lock()
		p.nEngines--
		p.mu.Unlock()
		return nil, err
	}
	return e, nil
}

// put returns an engine to the idle set, or closes it if the pool closed.
func (p *Pool) put(e *Engine) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		p.nEngines--
		e.Close()
		return
	}
	p.idle[e.lang] = append(p.idle[e.lang], e)
}

// tessdata returns the directory of the traineddata files: the configured
// one, else $TESSDATA_PREFIX, else where Tesseract found eng.
func (p *Pool) tessdata() string {
	p.dirOnce.Do(func() {
		p.dir = p.cfg.TessdataDir
		if p.dir == "" {
			p.dir = os.Getenv("TESSDATA_PREFIX")
		}
		if p.dir == "" {
			if e, err := p.take("eng"); err == nil {
				p.dir = e.datapath
				p.put(e)
			}
		}
		for _, m := range scriptModels {
			if _, err := os.Stat(filepath.Join(p.dir, m+".traineddata")); err == nil {
				p.scripts = true
			}
		}
	})
	return p.dir
}

// hasModel reports whether the traineddata file of model is installed.
func (p *Pool) hasModel(model string) bool {
	_, err := os.Stat(filepath.Join(p.tessdata(), model+".traineddata"))
	return err == nil
}

// scriptModels reports whether a model for a non-Latin script is
// installed, so that script detection can change the language.
func (p *Pool) scriptModels() bool {
	p.tessdata()
	return p.scripts
}

// Close closes the idle engines and detectors and makes later Recognize
// calls fail with [ErrPoolClosed]; engines busy in a recognition are closed
// when it returns. It is safe to call more than once.
func (p *Pool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	for _, es := range p.idle {
		for _, e := range es {
			e.Close()
			p.nEngines--
		}
	}
	p.idle = nil
	for _, d := range p.osd {
		d.close()
	}
	p.osd = nil
}
