package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/metrics"
	"runtime/pprof"
	"time"

	"github.com/klippa-app/go-pdfium"
	"github.com/klippa-app/go-pdfium/enums"
	"github.com/klippa-app/go-pdfium/references"
	"github.com/klippa-app/go-pdfium/requests"
	"github.com/klippa-app/go-pdfium/webassembly"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"

	"github.com/folio-ocr/folio/pipeline"
)

// The phases of reading a born-digital page, as pipeline's pdfDoc runs
// them: open (a pdfium instance, FPDF_LoadCustomDocument and the page
// count, and at the end closing both), pageload (FPDF_LoadPage, rotation,
// bounding box, FPDF_ClosePage), extract (go-pdfium's
// GetPageTextStructured in chars mode) and route (the object walk of
// pdfraster.go's scan).
var splitPhases = []string{"open", "pageload", "route", "extract"}

// splitUnit is how many pages the split reads per document, as a worker
// does with UNIT_PAGES=10.
const splitUnit = 10

// wasmPhases is one in-process run of the pdfium phases.
type wasmPhases struct {
	interrupt bool
	pages     int
	opens     int
	wall      map[string]time.Duration // wall time per phase
	cpu       map[string]time.Duration // CPU samples per phase
	native    map[string]time.Duration // of which in WebAssembly (runtime._ExternalCode)
	// calls counts Go→WebAssembly calls per phase: with the interrupt on,
	// wazero starts one goroutine per call, so the runtime's count of
	// goroutines created is the count of calls. Zero with it off.
	calls          map[string]int64
	chars, objects int
	// pipelinePage is the time pipeline's Document.Page took over the same
	// pages (pageload+route+extract, the real code), the replica's check.
	pipelinePage time.Duration
}

// wasmSplit is the split with the interrupt on and off.
type wasmSplit struct {
	pages   int
	on, off *wasmPhases
}

// splitWasm reads the first maxPages pages of data (all if maxPages is 0)
// phase by phase, with the interrupt on and then off, under a CPU profile
// with a pprof label per phase.
func splitWasm(ctx context.Context, data []byte, maxPages int) (*wasmSplit, error) {
	s := &wasmSplit{}
	for _, on := range []bool{true, false} {
		logf("in-process pdfium phases, interrupt %t", on)
		ph, err := runPhases(ctx, data, maxPages, on)
		if err != nil {
			return nil, err
		}
		if err := pipelinePages(ctx, data, ph); err != nil {
			return nil, err
		}
		if on {
			s.on = ph
		} else {
			s.off = ph
		}
		s.pages = ph.pages
	}
	return s, nil
}

// wazeroCache is pipeline.NewPDF's default compilation cache, shared so
// that pdfium is compiled once.
func wazeroCache() string {
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	return filepath.Join(base, "folio", "wazero")
}

func runPhases(ctx context.Context, data []byte, maxPages int, interrupt bool) (*wasmPhases, error) {
	cache, err := wazero.NewCompilationCacheWithDir(wazeroCache())
	if err != nil {
		return nil, err
	}
	defer cache.Close(ctx)
	// As pipeline.NewPDF configures it, without its memory cap.
	pool, err := webassembly.Init(webassembly.Config{
		MinIdle: 0, MaxIdle: 1, MaxTotal: 1,
		FSConfig: wazero.NewFSConfig(),
		RuntimeConfig: wazero.NewRuntimeConfig().
			WithCoreFeatures(api.CoreFeaturesV2 | experimental.CoreFeaturesExceptionHandling).
			WithCompilationCache(cache).
			WithCloseOnContextDone(interrupt),
		Stdout: io.Discard, Stderr: io.Discard,
	})
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	ph := &wasmPhases{interrupt: interrupt, wall: map[string]time.Duration{}, cpu: map[string]time.Duration{},
		native: map[string]time.Duration{}, calls: map[string]int64{}}
	var prof bytes.Buffer
	if err := pprof.StartCPUProfile(&prof); err != nil {
		return nil, err
	}
	err = readPhases(ctx, pool, data, maxPages, ph)
	pprof.StopCPUProfile()
	if err != nil {
		return nil, err
	}
	p, err := parsePprof(prof.Bytes())
	if err != nil {
		return nil, err
	}
	ci := p.index("cpu")
	for _, s := range p.samples {
		phase := s.labels["phase"]
		if phase == "" || ci < 0 {
			continue
		}
		d := time.Duration(s.values[ci])
		ph.cpu[phase] += d
		if len(s.stack) > 0 && s.stack[0] == "runtime._ExternalCode" {
			ph.native[phase] += d
		}
	}
	return ph, nil
}

// readPhases reads the pages in units of splitUnit, each on a fresh
// instance, timing every phase.
func readPhases(ctx context.Context, pool pdfium.Pool, data []byte, maxPages int, ph *wasmPhases) error {
	created := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	phase := func(name string, f func() error) error {
		metrics.Read(created)
		g0 := created[0].Value
		start := time.Now()
		var err error
		pprof.Do(ctx, pprof.Labels("phase", name), func(context.Context) { err = f() })
		ph.wall[name] += time.Since(start)
		metrics.Read(created)
		if created[0].Value.Kind() == metrics.KindUint64 && g0.Kind() == metrics.KindUint64 {
			ph.calls[name] += int64(created[0].Value.Uint64() - g0.Uint64())
		}
		return err
	}
	total := -1
	for first := 1; total < 0 || first <= total; first += splitUnit {
		var inst pdfium.Pdfium
		var doc references.FPDF_DOCUMENT
		err := phase("open", func() error {
			var err error
			if inst, err = pool.GetInstance(time.Minute); err != nil {
				return err
			}
			od, err := inst.OpenDocument(&requests.OpenDocument{FileReader: bytes.NewReader(data), FileReaderSize: int64(len(data))})
			if err != nil {
				return err
			}
			doc = od.Document
			pc, err := inst.FPDF_GetPageCount(&requests.FPDF_GetPageCount{Document: doc})
			if err != nil {
				return err
			}
			if total < 0 {
				total = pc.PageCount
				if maxPages > 0 && maxPages < total {
					total = maxPages
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		ph.opens++
		for n := first; n < first+splitUnit && n <= total; n++ {
			if err := readPage(inst, doc, n, ph, phase); err != nil {
				return fmt.Errorf("page %d: %w", n, err)
			}
			ph.pages++
		}
		err = phase("open", func() error {
			if _, err := inst.FPDF_CloseDocument(&requests.FPDF_CloseDocument{Document: doc}); err != nil {
				return err
			}
			return inst.Close()
		})
		if err != nil {
			return err
		}
	}
	return ctx.Err()
}

// readPage is pipeline's pdfDoc.page phase by phase.
func readPage(inst pdfium.Pdfium, doc references.FPDF_DOCUMENT, n int, ph *wasmPhases, phase func(string, func() error) error) error {
	var ref requests.Page
	var pageRef references.FPDF_PAGE
	err := phase("pageload", func() error {
		lp, err := inst.FPDF_LoadPage(&requests.FPDF_LoadPage{Document: doc, Index: n - 1})
		if err != nil {
			return err
		}
		pageRef = lp.Page
		ref = requests.Page{ByReference: &pageRef}
		if _, err := inst.FPDFPage_GetRotation(&requests.FPDFPage_GetRotation{Page: ref}); err != nil {
			return err
		}
		_, err = inst.FPDF_GetPageBoundingBox(&requests.FPDF_GetPageBoundingBox{Page: ref})
		return err
	})
	if err != nil {
		return err
	}
	err = phase("extract", func() error {
		text, err := inst.GetPageTextStructured(&requests.GetPageTextStructured{Page: ref, Mode: requests.GetPageTextStructuredModeChars})
		if err == nil {
			ph.chars += len(text.Chars)
		}
		return err
	})
	if err != nil {
		return err
	}
	err = phase("route", func() error {
		cnt, err := inst.FPDFPage_CountObjects(&requests.FPDFPage_CountObjects{Page: ref})
		if err != nil {
			return err
		}
		return walkObjects(inst, cnt.Count, func(i int) (references.FPDF_PAGEOBJECT, error) {
			o, err := inst.FPDFPage_GetObject(&requests.FPDFPage_GetObject{Page: ref, Index: i})
			if err != nil {
				return "", err
			}
			return o.PageObject, nil
		}, 0, ph)
	})
	if err != nil {
		return err
	}
	return phase("pageload", func() error {
		_, err := inst.FPDF_ClosePage(&requests.FPDF_ClosePage{Page: pageRef})
		return err
	})
}

// walkObjects is scanWalk.objects without the geometry: two calls an
// object, more for images and form XObjects.
func walkObjects(inst pdfium.Pdfium, n int, get func(int) (references.FPDF_PAGEOBJECT, error), depth int, ph *wasmPhases) error {
	for i := 0; i < n; i++ {
		obj, err := get(i)
		if err != nil {
			return err
		}
		ph.objects++
		typ, err := inst.FPDFPageObj_GetType(&requests.FPDFPageObj_GetType{PageObject: obj})
		if err != nil {
			return err
		}
		switch typ.Type {
		case enums.FPDF_PAGEOBJ_IMAGE:
			if _, err := inst.FPDFPageObj_GetMatrix(&requests.FPDFPageObj_GetMatrix{PageObject: obj}); err != nil {
				return err
			}
		case enums.FPDF_PAGEOBJ_FORM:
			if depth >= 8 {
				continue
			}
			if _, err := inst.FPDFPageObj_GetMatrix(&requests.FPDFPageObj_GetMatrix{PageObject: obj}); err != nil {
				return err
			}
			cnt, err := inst.FPDFFormObj_CountObjects(&requests.FPDFFormObj_CountObjects{PageObject: obj})
			if err != nil {
				return err
			}
			err = walkObjects(inst, cnt.Count, func(i int) (references.FPDF_PAGEOBJECT, error) {
				o, err := inst.FPDFFormObj_GetObject(&requests.FPDFFormObj_GetObject{PageObject: obj, Index: uint64(i)})
				if err != nil {
					return "", err
				}
				return o.PageObject, nil
			}, depth+1, ph)
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// pipelinePages times pipeline's own Document.Page over the same pages,
// units of splitUnit pages each on a fresh document.
func pipelinePages(ctx context.Context, data []byte, ph *wasmPhases) error {
	pdf, err := pipeline.NewPDF(pipeline.PDFConfig{Instances: 1, DisableInterrupt: !ph.interrupt})
	if err != nil {
		return err
	}
	defer pdf.Close()
	for first := 1; first <= ph.pages; first += splitUnit {
		doc, err := pdf.Open(ctx, bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return err
		}
		start := time.Now()
		for n := first; n < first+splitUnit && n <= ph.pages; n++ {
			if _, err := doc.Page(ctx, n); err != nil {
				doc.Close()
				return fmt.Errorf("page %d: %w", n, err)
			}
		}
		ph.pipelinePage += time.Since(start)
		doc.Close()
	}
	return nil
}
