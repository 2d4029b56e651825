package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/folio-ocr/folio/config"
	"github.com/folio-ocr/folio/jobs"
	"github.com/folio-ocr/folio/pipeline"
)

// defaultShutdownTimeout is the worker's SHUTDOWN_TIMEOUT default; keep it,
// plus handlerGrace, below compose's stop_grace_period and Kubernetes'
// terminationGracePeriodSeconds.
const defaultShutdownTimeout = 25 * time.Second

// defaultOperationDeadline is OPERATION_DEADLINE's default: long enough for
// a deep backlog on a small fleet, short enough that stuck work ends with
// an error that names it rather than expiring silently with the
// operation's keys (OPERATION_TTL, 30 days).
const defaultOperationDeadline = 72 * time.Hour

// workerConfig is the worker's configuration. Each field is read from an
// environment variable and may be overridden by the flag of the same name in
// kebab case (REDIS_URL → -redis-url).
type workerConfig struct {
	// Common are the settings shared with the api: REDIS_URL,
	// REDIS_KEY_PREFIX, QUEUE_NAME, OPERATION_TTL, LOG_LEVEL and
	// SHUTDOWN_TIMEOUT (default 25s: running ranges finish or are handed
	// back within it).
	config.Common
	Concurrency int // WORKER_CONCURRENCY: ranges at once. Default runtime.NumCPU().
	// SyncConcurrency (SYNC_CONCURRENCY) is how many synchronous calls
	// (files:annotate, images:annotate) run at once, on capacity of their
	// own beside the ranges. Default 2.
	SyncConcurrency int
	CacheDir        string        // CACHE_DIR: local copies of input files. Default <user cache dir>/folio/files.
	CacheMaxBytes   int64         // CACHE_MAX_BYTES. Default 10 GiB.
	WasmCacheDir    string        // PDFIUM_CACHE_DIR: compiled pdfium module. Default <user cache dir>/folio/wazero.
	MaxPages        int           // MAX_PAGES: most pages per file. Default 2000.
	MaxFileBytes    int64         // MAX_FILE_BYTES: largest input file. Default 1 GiB.
	PageTimeout     time.Duration // PAGE_TIMEOUT: most time on one page. Default 1m.
	// OperationDeadline (OPERATION_DEADLINE) is how long an operation may
	// run from its creation before the janitor ends it DEADLINE_EXCEEDED;
	// 0 turns it off. Default 72h.
	OperationDeadline time.Duration
	// FileErrors (FILE_ERRORS) is what a file that fails as a whole does
	// to its operation: "fail" ends the operation with the file's error,
	// "continue" writes the file's error into its output object and lets
	// the other files complete (see jobs.FileErrors). Default fail.
	FileErrors string
	// Isolate (PDFIUM_ISOLATE) runs pdfium in child processes of the
	// worker (pipeline.IsolatedPDF), with its interrupt off: PAGE_TIMEOUT
	// kills the child working on a page, which a fresh one replaces, and
	// text extraction runs 3-4x as fast as in the worker with the
	// interrupt on. Default true.
	Isolate bool
	// Interrupt (PDFIUM_INTERRUPT), with PDFIUM_ISOLATE=false, lets
	// PAGE_TIMEOUT stop pdfium mid-page inside the worker. Off, text
	// extraction runs 3-5x faster but a hostile page can hold a worker
	// forever: turn it off only for trusted input. Default true.
	Interrupt bool
	// RecyclePages (PDFIUM_RECYCLE_PAGES) is how many pages a document reads
	// on one pdfium instance before moving to a fresh one, which bounds
	// pdfium's memory on long ranges; 0 = never. Default 50.
	RecyclePages int
	// PDFMaxMemory (PDFIUM_MAX_MEMORY) bounds one pdfium instance's memory in
	// bytes: a page that needs more fails INVALID_ARGUMENT naming it. Default
	// pipeline.DefaultMaxMemory (1 GiB); at most 2 GiB, the module's limit.
	PDFMaxMemory int64
	// OCR.
	OCREngines    int    // OCR_ENGINES: Tesseract instances (pages OCR'd at once). Default runtime.NumCPU().
	OCRDPI        int    // OCR_DPI: resolution of rendered PDF pages. Default 300.
	MaxPagePixels int    // MAX_PAGE_PIXELS: most pixels of one page image. Default 100,000,000.
	TextLayer     string // TEXT_LAYER: auto, always or never (see pipeline.TextLayerPolicy). Default auto.
	MinTextChars  int    // MIN_TEXT_CHARS: fewest text-layer characters for a page to skip OCR. Default 16.
	UnitPages     int    // UNIT_PAGES: pages per task when a range is split across workers; 0 = no split. Default 10.
	Orientation   bool   // OCR_DETECT_ORIENTATION: detect pages scanned sideways or upside down. Default true.
	Tessdata      string // TESSDATA_PREFIX: directory of Tesseract's *.traineddata. Default: Tesseract's own.
	MetricsAddr   string // METRICS_ADDR: serves Prometheus metrics at /metrics (see package metrics) and the probes /healthz and /readyz (see health.go). Default "" (off).
	// DebugPprof (DEBUG_PPROF) adds Go's profiling endpoints,
	// /debug/pprof/ (net/http/pprof), to METRICS_ADDR. Default false.
	DebugPprof bool
	// Warmup (-warmup, no variable) compiles pdfium into PDFIUM_CACHE_DIR and
	// exits, so images and test runs can pay the compile once, ahead of time.
	// It compiles the variant the settings ask for: with the interrupt off
	// for PDFIUM_ISOLATE (the default), as PDFIUM_INTERRUPT says without.
	Warmup bool
	// SyntheticPageDelay (FOLIO_SYNTHETIC_PAGE_DELAY), a benchmarking aid,
	// answers every page with fixed text after this sleep instead of reading
	// or OCR'ing it (see synthetic.go). Default 0: off.
	SyntheticPageDelay time.Duration
}

// loadConfig reads the environment through getenv, then args (flags win).
func loadConfig(args []string, getenv func(string) string) (workerConfig, error) {
	base, err := os.UserCacheDir()
	if err != nil || base == "" {
		base = os.TempDir()
	}
	cfg := workerConfig{
		Common:            config.DefaultCommon(defaultShutdownTimeout),
		Concurrency:       runtime.NumCPU(),
		SyncConcurrency:   2,
		CacheDir:          filepath.Join(base, "folio", "files"),
		CacheMaxBytes:     10 << 30,
		WasmCacheDir:      filepath.Join(base, "folio", "wazero"),
		MaxPages:          2000,
		MaxFileBytes:      1 << 30,
		PageTimeout:       time.Minute,
		OperationDeadline: defaultOperationDeadline,
		FileErrors:        "fail",
		Isolate:           true,
		Interrupt:         true,
		RecyclePages:      pipeline.DefaultRecyclePages,
		PDFMaxMemory:      pipeline.DefaultMaxMemory,
		OCREngines:        runtime.NumCPU(),
		OCRDPI:            pipeline.DefaultDPI,
		MaxPagePixels:     pipeline.DefaultMaxPixels,
		TextLayer:         "auto",
		MinTextChars:      pipeline.DefaultMinTextChars,
		UnitPages:         10,
		Orientation:       true,
	}
	l := config.NewLoader("worker", getenv)
	cfg.Common.Bind(l)
	l.Int(&cfg.Concurrency, "WORKER_CONCURRENCY", "page ranges processed at once")
	l.Int(&cfg.SyncConcurrency, "SYNC_CONCURRENCY", "synchronous calls (files:annotate, images:annotate) processed at once")
	l.String(&cfg.CacheDir, "CACHE_DIR", "local cache of input files")
	l.Int64(&cfg.CacheMaxBytes, "CACHE_MAX_BYTES", "size bound of the file cache")
	l.String(&cfg.WasmCacheDir, "PDFIUM_CACHE_DIR", "compilation cache of the pdfium module")
	l.Int(&cfg.MaxPages, "MAX_PAGES", "most pages per input file")
	l.Int64(&cfg.MaxFileBytes, "MAX_FILE_BYTES", "largest input file in bytes")
	l.Bool(&cfg.Isolate, "PDFIUM_ISOLATE", "run pdfium in child processes, killed and replaced at PAGE_TIMEOUT")
	l.Bool(&cfg.Interrupt, "PDFIUM_INTERRUPT", "with PDFIUM_ISOLATE=false: let PAGE_TIMEOUT interrupt pdfium mid-page in the worker")
	l.Int(&cfg.RecyclePages, "PDFIUM_RECYCLE_PAGES", "pages a document reads on one pdfium instance before a fresh one (0: never)")
	l.Int64(&cfg.PDFMaxMemory, "PDFIUM_MAX_MEMORY", "most memory of one pdfium instance, in bytes; a page needing more fails")
	l.Int(&cfg.OCREngines, "OCR_ENGINES", "Tesseract instances, pages OCR'd at once")
	l.Int(&cfg.OCRDPI, "OCR_DPI", "resolution of PDF pages rendered for OCR")
	l.Int(&cfg.MaxPagePixels, "MAX_PAGE_PIXELS", "most pixels of one page image")
	l.String(&cfg.TextLayer, "TEXT_LAYER", "when to trust a PDF text layer: auto, always or never")
	l.Int(&cfg.MinTextChars, "MIN_TEXT_CHARS", "fewest text-layer characters for a page to skip OCR")
	l.Int(&cfg.UnitPages, "UNIT_PAGES", "pages per task when a range is split across workers (0: no split)")
	l.Bool(&cfg.Orientation, "OCR_DETECT_ORIENTATION", "detect pages scanned sideways or upside down")
	l.String(&cfg.Tessdata, "TESSDATA_PREFIX", "directory of Tesseract's traineddata files")
	l.String(&cfg.MetricsAddr, "METRICS_ADDR", "listen address of /metrics (Prometheus), /healthz and /readyz (empty: off)")
	l.Bool(&cfg.DebugPprof, "DEBUG_PPROF", "serve Go's profiling endpoints /debug/pprof/ on METRICS_ADDR")
	l.Duration(&cfg.PageTimeout, "PAGE_TIMEOUT", "most time spent on one page")
	l.Duration(&cfg.OperationDeadline, "OPERATION_DEADLINE", "an operation unfinished this long after its creation ends DEADLINE_EXCEEDED (0: never)")
	l.String(&cfg.FileErrors, "FILE_ERRORS", "a file that fails as a whole: fail (ends its operation) or continue (its output carries the error; the other files complete)")
	l.Duration(&cfg.SyntheticPageDelay, "FOLIO_SYNTHETIC_PAGE_DELAY", "benchmarking only: answer every page with fixed text after this sleep (0: off)")
	l.FlagSet().BoolVar(&cfg.Warmup, "warmup", false, "compile pdfium into PDFIUM_CACHE_DIR and exit")
	if err := l.Parse(args); err != nil {
		return cfg, err
	}
	if err := cfg.validate(); err != nil {
		return cfg, fmt.Errorf("config: %w", err)
	}
	return cfg, nil
}

// validate reports every invalid field, each as a full sentence.
func (c workerConfig) validate() error {
	errs := c.Common.Validate()
	if c.SyncConcurrency < 1 {
		errs = append(errs, fmt.Errorf("SYNC_CONCURRENCY must be at least 1, got %d", c.SyncConcurrency))
	}
	if c.Concurrency < 1 {
		errs = append(errs, fmt.Errorf("WORKER_CONCURRENCY must be at least 1, got %d", c.Concurrency))
	}
	if c.CacheMaxBytes <= 0 {
		errs = append(errs, fmt.Errorf("CACHE_MAX_BYTES must be positive, got %d", c.CacheMaxBytes))
	}
	if c.MaxPages < 1 {
		errs = append(errs, fmt.Errorf("MAX_PAGES must be at least 1, got %d", c.MaxPages))
	}
	if c.MaxFileBytes < 1 {
		errs = append(errs, fmt.Errorf("MAX_FILE_BYTES must be at least 1, got %d", c.MaxFileBytes))
	}
	if c.OperationDeadline < 0 {
		errs = append(errs, fmt.Errorf("OPERATION_DEADLINE must not be negative, got %s", c.OperationDeadline))
	}
	if c.PageTimeout <= 0 {
		errs = append(errs, fmt.Errorf("PAGE_TIMEOUT must be positive, got %s", c.PageTimeout))
	}
	if c.OCREngines < 1 {
		errs = append(errs, fmt.Errorf("OCR_ENGINES must be at least 1, got %d", c.OCREngines))
	}
	if c.OCRDPI < 50 || c.OCRDPI > 1200 {
		errs = append(errs, fmt.Errorf("OCR_DPI must be between 50 and 1200, got %d", c.OCRDPI))
	}
	if c.MaxPagePixels < 1_000_000 {
		errs = append(errs, fmt.Errorf("MAX_PAGE_PIXELS must be at least 1000000, got %d", c.MaxPagePixels))
	}
	if _, err := pipeline.ParseTextLayerPolicy(c.TextLayer); err != nil {
		errs = append(errs, fmt.Errorf("TEXT_LAYER must be auto, always or never, got %q", c.TextLayer))
	}
	if _, err := jobs.ParseFileErrors(c.FileErrors); err != nil {
		errs = append(errs, fmt.Errorf("FILE_ERRORS must be fail or continue, got %q", c.FileErrors))
	}
	if c.MinTextChars < 1 {
		errs = append(errs, fmt.Errorf("MIN_TEXT_CHARS must be at least 1, got %d", c.MinTextChars))
	}
	if c.UnitPages < 0 {
		errs = append(errs, fmt.Errorf("UNIT_PAGES must not be negative, got %d", c.UnitPages))
	}
	if c.SyntheticPageDelay < 0 {
		errs = append(errs, fmt.Errorf("FOLIO_SYNTHETIC_PAGE_DELAY must not be negative, got %s", c.SyntheticPageDelay))
	}
	if c.PDFMaxMemory < 64<<20 || c.PDFMaxMemory > 2<<30 {
		errs = append(errs, fmt.Errorf("PDFIUM_MAX_MEMORY must be between 67108864 (64 MiB) and 2147483648 (2 GiB), got %d", c.PDFMaxMemory))
	}
	if c.RecyclePages < 0 {
		errs = append(errs, fmt.Errorf("PDFIUM_RECYCLE_PAGES must not be negative, got %d", c.RecyclePages))
	}
	if c.DebugPprof && c.MetricsAddr == "" {
		errs = append(errs, errors.New("DEBUG_PPROF needs METRICS_ADDR, which serves /debug/pprof/"))
	}
	if _, _, err := net.SplitHostPort(c.MetricsAddr); c.MetricsAddr != "" && err != nil {
		errs = append(errs, fmt.Errorf("METRICS_ADDR must be host:port, :port or empty, got %q", c.MetricsAddr))
	}
	return errors.Join(errs...)
}
