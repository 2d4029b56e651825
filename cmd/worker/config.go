package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap/zapcore"

	"github.com/folio-ocr/folio/pipeline"
)

// config is the worker's configuration. Each field is read from an
// environment variable and may be overridden by the flag of the same name in
// kebab case (REDIS_URL → -redis-url).
type config struct {
	RedisURL        string        // REDIS_URL. Default "redis://127.0.0.1:6379/0".
	KeyPrefix       string        // REDIS_KEY_PREFIX: operation keys. Default "folio:".
	Queue           string        // QUEUE_NAME: asynq queue. Default "folio".
	Concurrency     int           // WORKER_CONCURRENCY: ranges at once. Default runtime.NumCPU().
	ShutdownTimeout time.Duration // SHUTDOWN_TIMEOUT: drain time on SIGTERM. Default 25s.
	CacheDir        string        // CACHE_DIR: local copies of input files. Default <user cache dir>/folio/files.
	CacheMaxBytes   int64         // CACHE_MAX_BYTES. Default 10 GiB.
	WasmCacheDir    string        // PDFIUM_CACHE_DIR: compiled pdfium module. Default <user cache dir>/folio/wazero.
	MaxPages        int           // MAX_PAGES: most pages per file. Default 2000.
	MaxFileBytes    int64         // MAX_FILE_BYTES: largest input file. Default 1 GiB.
	PageTimeout     time.Duration // PAGE_TIMEOUT: most time on one page. Default 1m.
	// Interrupt (PDFIUM_INTERRUPT) lets PAGE_TIMEOUT stop pdfium mid-page.
	// Off, text extraction runs 3-5x faster but a hostile page can hold a
	// worker forever: turn it off only for trusted input. Default true.
	Interrupt bool
	// RecyclePages (PDFIUM_RECYCLE_PAGES) is how many pages a document reads
	// on one pdfium instance before moving to a fresh one, which bounds
	// pdfium's memory on long ranges; 0 = never. Default 50.
	RecyclePages int
	OperationTTL time.Duration // OPERATION_TTL. Default 720h.
	// OCR.
	OCREngines    int    // OCR_ENGINES: Tesseract instances (pages OCR'd at once). Default runtime.NumCPU().
	OCRDPI        int    // OCR_DPI: resolution of rendered PDF pages. Default 300.
	MaxPagePixels int    // MAX_PAGE_PIXELS: most pixels of one page image. Default 100,000,000.
	TextLayer     string // TEXT_LAYER: auto, always or never (see pipeline.TextLayerPolicy). Default auto.
	MinTextChars  int    // MIN_TEXT_CHARS: fewest text-layer characters for a page to skip OCR. Default 16.
	UnitPages     int    // UNIT_PAGES: pages per task when a range is split across workers; 0 = no split. Default 10.
	Orientation   bool   // OCR_DETECT_ORIENTATION: detect pages scanned sideways or upside down. Default true.
	Tessdata      string // TESSDATA_PREFIX: directory of Tesseract's *.traineddata. Default: Tesseract's own.
	MetricsAddr   string // METRICS_ADDR: serves /debug/vars (page counts by route, Go runtime). Default "" (off).
	LogLevel      string // LOG_LEVEL: debug, info, warn or error. Default "info".
	// Warmup (-warmup, no variable) compiles pdfium into PDFIUM_CACHE_DIR and
	// exits, so images and test runs can pay the compile once, ahead of time.
	Warmup bool
}

// loadConfig reads the environment through getenv, then args (flags win).
func loadConfig(args []string, getenv func(string) string) (config, error) {
	base, err := os.UserCacheDir()
	if err != nil || base == "" {
		base = os.TempDir()
	}
	cfg := config{
		RedisURL:        "redis://127.0.0.1:6379/0",
		KeyPrefix:       "folio:",
		Queue:           "folio",
		Concurrency:     runtime.NumCPU(),
		ShutdownTimeout: 25 * time.Second,
		CacheDir:        filepath.Join(base, "folio", "files"),
		CacheMaxBytes:   10 << 30,
		WasmCacheDir:    filepath.Join(base, "folio", "wazero"),
		MaxPages:        2000,
		MaxFileBytes:    1 << 30,
		PageTimeout:     time.Minute,
		Interrupt:       true,
		RecyclePages:    pipeline.DefaultRecyclePages,
		OperationTTL:    30 * 24 * time.Hour,
		LogLevel:        "info",
		OCREngines:      runtime.NumCPU(),
		OCRDPI:          pipeline.DefaultDPI,
		MaxPagePixels:   pipeline.DefaultMaxPixels,
		TextLayer:       "auto",
		MinTextChars:    pipeline.DefaultMinTextChars,
		UnitPages:       10,
		Orientation:     true,
	}
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	var errs []error
	str := func(dst *string, env, name, usage string) {
		if v := getenv(env); v != "" {
			*dst = v
		}
		fs.StringVar(dst, name, *dst, usage+" ("+env+")")
	}
	num := func(dst *int, env, name, usage string) {
		if v := getenv(env); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s must be an integer, got %q", env, v))
			}
			*dst = n
		}
		fs.IntVar(dst, name, *dst, usage+" ("+env+")")
	}
	num64 := func(dst *int64, env, name, usage string) {
		if v := getenv(env); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s must be an integer, got %q", env, v))
			}
			*dst = n
		}
		fs.Int64Var(dst, name, *dst, usage+" ("+env+")")
	}
	dur := func(dst *time.Duration, env, name, usage string) {
		if v := getenv(env); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s must be a duration such as \"25s\", got %q", env, v))
			}
			*dst = d
		}
		fs.DurationVar(dst, name, *dst, usage+" ("+env+")")
	}
	str(&cfg.RedisURL, "REDIS_URL", "redis-url", "Redis URL")
	str(&cfg.KeyPrefix, "REDIS_KEY_PREFIX", "redis-key-prefix", "prefix of operation keys")
	str(&cfg.Queue, "QUEUE_NAME", "queue-name", "asynq queue")
	num(&cfg.Concurrency, "WORKER_CONCURRENCY", "worker-concurrency", "page ranges processed at once")
	dur(&cfg.ShutdownTimeout, "SHUTDOWN_TIMEOUT", "shutdown-timeout", "drain time on SIGTERM")
	str(&cfg.CacheDir, "CACHE_DIR", "cache-dir", "local cache of input files")
	num64(&cfg.CacheMaxBytes, "CACHE_MAX_BYTES", "cache-max-bytes", "size bound of the file cache")
	str(&cfg.WasmCacheDir, "PDFIUM_CACHE_DIR", "pdfium-cache-dir", "compilation cache of the pdfium module")
	num(&cfg.MaxPages, "MAX_PAGES", "max-pages", "most pages per input file")
	num64(&cfg.MaxFileBytes, "MAX_FILE_BYTES", "max-file-bytes", "largest input file in bytes")
	boolean := func(dst *bool, env, name, usage string) {
		if v := getenv(env); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s must be true or false, got %q", env, v))
			}
			*dst = b
		}
		fs.BoolVar(dst, name, *dst, usage+" ("+env+")")
	}
	boolean(&cfg.Interrupt, "PDFIUM_INTERRUPT", "pdfium-interrupt", "let PAGE_TIMEOUT interrupt pdfium mid-page")
	num(&cfg.RecyclePages, "PDFIUM_RECYCLE_PAGES", "pdfium-recycle-pages", "pages a document reads on one pdfium instance before a fresh one (0: never)")
	num(&cfg.OCREngines, "OCR_ENGINES", "ocr-engines", "Tesseract instances, pages OCR'd at once")
	num(&cfg.OCRDPI, "OCR_DPI", "ocr-dpi", "resolution of PDF pages rendered for OCR")
	num(&cfg.MaxPagePixels, "MAX_PAGE_PIXELS", "max-page-pixels", "most pixels of one page image")
	str(&cfg.TextLayer, "TEXT_LAYER", "text-layer", "when to trust a PDF text layer: auto, always or never")
	num(&cfg.MinTextChars, "MIN_TEXT_CHARS", "min-text-chars", "fewest text-layer characters for a page to skip OCR")
	num(&cfg.UnitPages, "UNIT_PAGES", "unit-pages", "pages per task when a range is split across workers (0: no split)")
	boolean(&cfg.Orientation, "OCR_DETECT_ORIENTATION", "ocr-detect-orientation", "detect pages scanned sideways or upside down")
	str(&cfg.Tessdata, "TESSDATA_PREFIX", "tessdata-prefix", "directory of Tesseract's traineddata files")
	str(&cfg.MetricsAddr, "METRICS_ADDR", "metrics-addr", "listen address of /debug/vars (empty: off)")
	dur(&cfg.PageTimeout, "PAGE_TIMEOUT", "page-timeout", "most time spent on one page")
	dur(&cfg.OperationTTL, "OPERATION_TTL", "operation-ttl", "how long operations are kept")
	str(&cfg.LogLevel, "LOG_LEVEL", "log-level", "debug, info, warn or error")
	fs.BoolVar(&cfg.Warmup, "warmup", false, "compile pdfium into PDFIUM_CACHE_DIR and exit")
	if len(errs) > 0 {
		return cfg, errors.Join(errs...)
	}
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	return cfg, cfg.validate()
}

func (c config) validate() error {
	var errs []error
	if _, err := redis.ParseURL(c.RedisURL); err != nil {
		errs = append(errs, fmt.Errorf("REDIS_URL %q is not a Redis URL: %v", c.RedisURL, err))
	}
	if c.Concurrency < 1 {
		errs = append(errs, fmt.Errorf("WORKER_CONCURRENCY must be at least 1, got %d", c.Concurrency))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, fmt.Errorf("SHUTDOWN_TIMEOUT must be positive, got %s", c.ShutdownTimeout))
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
	if c.PageTimeout <= 0 {
		errs = append(errs, fmt.Errorf("PAGE_TIMEOUT must be positive, got %s", c.PageTimeout))
	}
	if c.OperationTTL <= 0 {
		errs = append(errs, fmt.Errorf("OPERATION_TTL must be positive, got %s", c.OperationTTL))
	}
	if c.KeyPrefix == "" || c.Queue == "" {
		errs = append(errs, errors.New("REDIS_KEY_PREFIX and QUEUE_NAME must not be empty"))
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
	if c.MinTextChars < 1 {
		errs = append(errs, fmt.Errorf("MIN_TEXT_CHARS must be at least 1, got %d", c.MinTextChars))
	}
	if c.UnitPages < 0 {
		errs = append(errs, fmt.Errorf("UNIT_PAGES must not be negative, got %d", c.UnitPages))
	}
	if c.RecyclePages < 0 {
		errs = append(errs, fmt.Errorf("PDFIUM_RECYCLE_PAGES must not be negative, got %d", c.RecyclePages))
	}
	if _, err := zapcore.ParseLevel(c.LogLevel); err != nil {
		errs = append(errs, fmt.Errorf("LOG_LEVEL must be debug, info, warn or error, got %q", c.LogLevel))
	}
	return errors.Join(errs...)
}
