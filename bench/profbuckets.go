package main

import (
	"strings"
	"time"
)

// folio is the module path, which starts Folio's function names.
const folio = "github.com/folio-ocr/folio/"

// profileBucket is where a profile sample's time goes: the first bucket
// one of whose functions is on the sample's stack, searched from the
// innermost frame out, so that the nearest caller decides (a gzip write
// inside writeUnit's page callback is gzip, not annotation). Two buckets
// are decided first: gc (a GC worker or assist anywhere on the stack) and
// wasm (the sample is in native code, runtime._ExternalCode: compiled
// WebAssembly, which Go's profiler cannot unwind).
type profileBucket struct {
	id, label string
	// funcs are function names, or prefixes of them when they end in "/",
	// "." or "(": a name matches itself, its closures (name.func1) and, for
	// a package, every function of it.
	funcs []string
}

var profileBuckets = []profileBucket{
	{"open", "opening documents (pdfium instance start, document load per unit, recycle, close; isolated: child hand-out and wire)", []string{
		folio + "pipeline.(*PDF).Open", folio + "pipeline.(*pdfDoc).load", folio + "pipeline.(*pdfDoc).release",
		folio + "pipeline.(*pdfDoc).recycle", folio + "pipeline.(*pdfDoc).discard", folio + "pipeline.(*pdfDoc).renew",
		folio + "pipeline.(*pdfDoc).Close", folio + "jobs.(*Handlers).open", folio + "jobs.(*Handlers).openFile",
		folio + "jobs.(*annotator).open", folio + "filecache.",
		// The worker's side of pdfium in child processes (PDFIUM_ISOLATE).
		folio + "pipeline.(*IsolatedPDF).", folio + "pipeline.(*procDoc).Close", folio + "pipeline.(*procDoc).release",
		// The pool, not webassembly.(*pdfiumInstance), which wraps every call.
		"github.com/klippa-app/go-pdfium/webassembly.(*pdfiumPool).", "github.com/klippa-app/go-pdfium/webassembly.initWithConfig",
		"github.com/jolestar/go-commons-pool/"}},
	{"pageload", "page load (FPDF_LoadPage, rotation, box, close)", []string{folio + "pipeline.(*pdfDoc).withPage"}},
	{"route", "routing (page object walk, Router.Route)", []string{
		folio + "pipeline.(*pdfDoc).scan", folio + "pipeline.(*scanWalk).", folio + "pipeline.Router.Route",
		folio + "pipeline.visibleChars"}},
	{"extract", "character extraction (FPDFText_* through wasm; isolated: the worker's side of the page call)", []string{
		folio + "pipeline.(*pdfDoc).page", folio + "pipeline.(*pdfDoc).Page", folio + "pipeline.(*pdfDoc).call",
		folio + "pipeline.(*procDoc).Page"}},
	{"layout", "layout and assembly (assemble.go, annotate.go)", []string{
		folio + "pipeline.AnnotatePage", folio + "pipeline.BuildTextAnnotation", folio + "pipeline.TextAnnotations",
		folio + "pipeline.Respond", folio + "pipeline.PixelBoxes"}},
	{"encode", "JSON encoding (EncodePage, FileWriter)", []string{
		folio + "pipeline.EncodePage", folio + "pipeline.(*FileWriter).", folio + "pipeline.NewFileWriter",
		folio + "jobs.(*annotator).encode", "google.golang.org/protobuf/encoding/protojson."}},
	{"parts", "gzip and Redis parts of units (SavePart, merge)", []string{
		"compress/", "hash/crc32.", folio + "jobs.copyPages", folio + "jobs.failedPage",
		folio + "store.(*RedisOperations).SavePart", folio + "store.(*RedisOperations).Part"}},
	{"gcs", "GCS upload and download (storage client)", []string{
		"cloud.google.com/go/storage", folio + "store.(*GCS).", "google.golang.org/api/"}},
	{"queue", "asynq, Redis and store round trips", []string{
		"github.com/hibiken/asynq", "github.com/redis/go-redis/", folio + "store."}},
	{"task", "other task handling (jobs, logs, metrics)", []string{
		folio + "jobs.", "go.uber.org/zap", "github.com/prometheus/", folio + "metrics."}},
	{"interrupt", "interrupt watchers (one goroutine per wasm call)", []string{
		"github.com/tetratelabs/wazero/internal/wasm.(*ModuleInstance).closeModuleOnCanceledOrTimeout"}},
}

// Buckets decided before the stack search, and the rest.
const (
	bucketGC    = "gc"
	bucketWasm  = "wasm"
	bucketSched = "sched"
	bucketOther = "other"
	// bucketChildren is not from the profile: the CPU of the worker's
	// pdfium child processes, from /proc (see childCPU).
	bucketChildren = "children"
)

var extraBucketLabels = map[string]string{
	bucketGC:       "GC (background marking, assists, sweeping)",
	bucketWasm:     "WebAssembly native code (runtime._ExternalCode)",
	bucketSched:    "Go scheduler (goroutine switches, idle spinning)",
	bucketOther:    "other (net/http, syscalls, runtime)",
	bucketChildren: "pdfium child processes",
}

var gcFuncs = []string{"runtime.gcBgMarkWorker", "runtime.gcAssistAlloc", "runtime.bgsweep", "runtime.bgscavenge",
	"runtime.gcStart", "runtime.gcMarkDone", "runtime.gcMarkTermination", "runtime.deductSweepCredit"}

var schedFuncs = []string{"runtime.schedule", "runtime.findRunnable", "runtime.mcall", "runtime.park_m",
	"runtime.goexit0", "runtime.gopreempt_m", "runtime.newproc", "runtime.mstart"}

// matchFunc reports whether fn is pattern or, as described at
// profileBucket.funcs, under it.
func matchFunc(fn, pattern string) bool {
	if !strings.HasPrefix(fn, pattern) {
		return false
	}
	if len(fn) == len(pattern) {
		return true
	}
	switch pattern[len(pattern)-1] {
	case '/', '.', '(':
		return true
	}
	c := fn[len(pattern)]
	return c == '.' || c == '/'
}

func anyFrame(stack, funcs []string) bool {
	for _, f := range stack {
		for _, p := range funcs {
			if matchFunc(f, p) {
				return true
			}
		}
	}
	return false
}

// classify returns the bucket of a stack, innermost frame first.
func classify(stack []string) string {
	if anyFrame(stack, gcFuncs) {
		return bucketGC
	}
	if len(stack) > 0 && stack[0] == "runtime._ExternalCode" {
		return bucketWasm
	}
	for _, f := range stack {
		for _, b := range profileBuckets {
			for _, p := range b.funcs {
				if matchFunc(f, p) {
					return b.id
				}
			}
		}
	}
	if anyFrame(stack, schedFuncs) {
		return bucketSched
	}
	return bucketOther
}

// bucketTotals sums a profile's values per bucket.
type bucketTotals map[string]int64

func (t bucketTotals) sub(o bucketTotals) {
	for k, v := range o {
		t[k] -= v
	}
}

func (t bucketTotals) total() int64 {
	var n int64
	for _, v := range t {
		n += v
	}
	return n
}

// bucketize sums the values of type typ per bucket; with cross set, it
// also sums, per name in cross, the samples with a frame under that name
// (cross-cutting views, such as wazero's Go side).
func bucketize(p *pprofData, typ string, cross []crossView) bucketTotals {
	t := bucketTotals{}
	i := p.index(typ)
	if i < 0 {
		return t
	}
	for _, s := range p.samples {
		t[classify(s.stack)] += s.values[i]
		for _, c := range cross {
			if anyFrame(s.stack, c.funcs) {
				t["cross:"+c.name] += s.values[i]
			}
		}
	}
	return t
}

// crossViews are cross-cutting views of a CPU profile, reported beside the
// buckets (a sample may be in several).
var crossViews = []crossView{
	{"wazero Go side (call entry, back-edge checks, interrupt goroutines, instantiation)", []string{"github.com/tetratelabs/wazero"}},
	{"go-pdfium request layer (Go side)", []string{"github.com/klippa-app/go-pdfium/internal/"}},
	{"allocation (runtime.mallocgc)", []string{"runtime.mallocgc"}},
	{"goroutine creation (runtime.newproc)", []string{"runtime.newproc"}},
}

type crossView struct {
	name  string
	funcs []string
}

// cpuTotals buckets a CPU profile, as durations.
func cpuTotals(p *pprofData) map[string]time.Duration {
	out := map[string]time.Duration{}
	for k, v := range bucketize(p, "cpu", crossViews) {
		out[k] = time.Duration(v)
	}
	return out
}
