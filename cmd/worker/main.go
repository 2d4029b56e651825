// Command worker runs Folio's asynq tasks: it plans input files into page
// ranges, annotates the ranges and writes Google-format output files to
// Cloud Storage, recording progress in Redis.
//
// Configuration comes from the environment, overridden by flags (see
// config.go). SIGINT or SIGTERM turns /readyz (on METRICS_ADDR) to 503,
// stops taking work, lets running ranges
// finish for up to SHUTDOWN_TIMEOUT, hands the rest back to the queue,
// waits up to 5 s more for their handlers to return (see drain.go), and
// exits 0.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"cloud.google.com/go/storage"
	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/folio-ocr/folio/config"
	"github.com/folio-ocr/folio/filecache"
	"github.com/folio-ocr/folio/jobs"
	"github.com/folio-ocr/folio/lang"
	"github.com/folio-ocr/folio/metrics"
	"github.com/folio-ocr/folio/ocr"
	"github.com/folio-ocr/folio/pipeline"
	"github.com/folio-ocr/folio/store"
)

func main() {
	if err := run(); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stdout, err)
			return
		}
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg, err := loadConfig(os.Args[1:], os.Getenv)
	if err != nil {
		return err
	}
	if err := ensureProcessEnv(); err != nil {
		return err
	}
	logger, err := config.NewLogger(cfg.LogLevel, "worker")
	if err != nil {
		return err
	}
	defer func() { _ = logger.Sync() }()

	if cfg.Warmup {
		start := time.Now()
		// The variant the worker runs: wazero's cache key includes the
		// interrupt setting, which is off in isolated pdfium children.
		pdf, err := pipeline.NewPDF(pipeline.PDFConfig{Instances: 1, CacheDir: cfg.WasmCacheDir, DisableInterrupt: cfg.Isolate || !cfg.Interrupt})
		if err != nil {
			return fmt.Errorf("compile pdfium: %w", err)
		}
		logger.Info("pdfium compiled", zap.String("dir", cfg.WasmCacheDir), zap.Duration("took", time.Since(start)))
		return pdf.Close()
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// stuck is set when task handlers outlive the drain: the resources they
	// use (storage, pdfium, the OCR engines) are then left open for the
	// process exit to reclaim, rather than closed under them.
	stuck := false

	ropts, err := cfg.Redis()
	if err != nil {
		return err
	}
	rdb := ropts.NewClient() // one server, a Sentinel primary or a Cluster
	defer func() { _ = rdb.Close() }()

	gcs, err := storage.NewClient(ctx)
	if err != nil {
		return fmt.Errorf("create storage client: %w", err)
	}
	defer func() {
		if !stuck {
			_ = gcs.Close()
		}
	}()

	files, err := filecache.New(cfg.CacheDir, cfg.CacheMaxBytes)
	if err != nil {
		return err
	}
	defer func() { _ = files.Close() }()
	recycle := cfg.RecyclePages
	if recycle == 0 {
		recycle = -1 // never
	}
	pdf, err := startPDF(cfg, pipeline.PDFConfig{
		Instances: cfg.Concurrency + cfg.SyncConcurrency, CacheDir: cfg.WasmCacheDir, DisableInterrupt: !cfg.Interrupt, RecyclePages: recycle,
		MaxMemory: cfg.PDFMaxMemory, Log: lineLogger{logger.Named("pdfium")},
	})
	if err != nil {
		return fmt.Errorf("start pdfium: %w", err)
	}
	defer func() {
		if !stuck {
			_ = pdf.Close()
		}
	}()

	tessdata := lang.FindDir(cfg.Tessdata)
	models, err := lang.Installed(tessdata)
	if err != nil {
		return fmt.Errorf("no Tesseract models (TESSDATA_PREFIX=%q): %w", cfg.Tessdata, err)
	}
	pool, err := ocr.NewPool(ocr.PoolConfig{Size: cfg.OCREngines, TessdataDir: tessdata, MaxPixels: cfg.MaxPagePixels})
	if err != nil {
		return fmt.Errorf("start OCR: %w", err)
	}
	defer func() {
		if !stuck {
			pool.Close()
		}
	}()
	policy, _ := pipeline.ParseTextLayerPolicy(cfg.TextLayer) // validated
	fileErrors, _ := jobs.ParseFileErrors(cfg.FileErrors)     // validated

	client := jobs.NewClient(rdb, logger, &jobs.ClientOptions{Queue: cfg.Queue})
	defer func() { _ = client.Close() }()
	reg := metrics.NewRegistry() // served on METRICS_ADDR when set
	// One worker of the fleet does the janitor's rounds: the holder of a
	// lease it renews every RescueInterval.
	lease := store.NewLease(rdb, cfg.KeyPrefix, "janitor", leaseHolder(), jobs.JanitorLeaseTTL)
	h := &jobs.Handlers{
		Ops:               store.NewRedisOperations(rdb, &store.RedisOptions{Prefix: cfg.KeyPrefix, TTL: cfg.OperationTTL}),
		Blobs:             store.NewGCS(gcs),
		Files:             files,
		Openers:           openers(pdf, cfg.MaxPagePixels),
		Results:           store.NewRedisResults(rdb, cfg.KeyPrefix),
		Running:           store.NewRunning(rdb, cfg.KeyPrefix),
		JanitorLease:      lease,
		Client:            client,
		Logger:            logger,
		MaxPages:          cfg.MaxPages,
		MaxFileBytes:      cfg.MaxFileBytes,
		PageTimeout:       cfg.PageTimeout,
		OperationDeadline: cfg.OperationDeadline,
		FileErrors:        fileErrors,
		DeadlineCursor:    store.NewCursor(rdb, cfg.KeyPrefix, "operation-deadline"),
		OCR:               recognizer{pool: pool, maxPixels: cfg.MaxPagePixels},
		Router:            pipeline.Router{Policy: policy, MinTextChars: cfg.MinTextChars},
		Raster:            pipeline.RasterOptions{DPI: cfg.OCRDPI, MaxPixels: cfg.MaxPagePixels},
		OCRParallel:       cfg.OCREngines,
		UnitPages:         cfg.UnitPages,
		NoOrientation:     !cfg.Orientation,
		Languages:         func(hints []string) (string, error) { return lang.Resolve(hints, models) },
		Metrics: metrics.NewWorker(reg, metrics.WorkerGauges{
			OCREngines: pool.Size(), OCRBusy: pool.Busy, CacheBytes: files.Size}),
	}
	if h.Keys, err = cfg.Keys(); err != nil {
		return err
	}
	if h.Keys != nil {
		logger.Info("authentication on: tasks are checked against their API key's policy", zap.Int("keys", h.Keys.Keyring().Len()))
		go h.Keys.Watch(ctx, 0, logger)
	}
	if cfg.SyntheticPageDelay > 0 {
		h.Openers = syntheticOpeners(h.Openers, cfg.SyntheticPageDelay)
		logger.Warn("synthetic pages: every page is answered with fixed text (a benchmarking aid)",
			zap.Duration("page_delay", cfg.SyntheticPageDelay))
	}
	srv := jobs.NewServer(rdb, h, jobs.ServerOptions{
		Concurrency: cfg.Concurrency, Queue: cfg.Queue, ShutdownTimeout: cfg.ShutdownTimeout,
	})
	// Synchronous calls have servers of their own, so that a call waits for
	// at most one of them, not for a backlog of ranges.
	syncSrv := jobs.NewServer(rdb, h, jobs.ServerOptions{
		Concurrency: cfg.SyncConcurrency, Queue: jobs.SyncQueue(cfg.Queue), ShutdownTimeout: cfg.ShutdownTimeout,
	})
	mux := asynq.NewServeMux()
	running := newInflight() // drain waits for these handlers before the deferred closes
	mux.Use(running.wrap)
	h.Register(mux)
	if err := srv.Start(mux); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	if err := syncSrv.Start(mux); err != nil {
		srv.Shutdown()
		return fmt.Errorf("start worker: %w", err)
	}
	probes := &health{pprof: cfg.DebugPprof}
	if cfg.MetricsAddr != "" {
		ms, err := metrics.Serve(cfg.MetricsAddr, reg, logger, probes.routes())
		if err != nil {
			srv.Shutdown()
			syncSrv.Shutdown()
			return err
		}
		defer func() { _ = ms.Close() }()
	}
	// The janitor ends operations whose tasks asynq archived without our
	// error handler (a worker killed during a last attempt) and resubmits
	// operations whose work never reached the queue, and queues again the
	// tasks of workers that stopped beating.
	insp := asynq.NewInspectorFromRedisClient(rdb)
	reaped := make(chan struct{})
	go func() { defer close(reaped); h.RunJanitor(ctx, insp, cfg.Queue, 0) }()
	logger.Info("worker started", zap.Int("concurrency", cfg.Concurrency), zap.String("queue", cfg.Queue),
		zap.Stringer("redis", ropts), zap.String("cache_dir", cfg.CacheDir), zap.Bool("pdfium_interrupt", cfg.Interrupt),
		zap.String("tessdata", tessdata), zap.Int("ocr_engines", cfg.OCREngines), zap.String("text_layer", policy.String()),
		zap.Int("unit_pages", cfg.UnitPages))
	<-ctx.Done()
	probes.drain() // not ready from here on, before the servers stop fetching
	logger.Info("draining", zap.Duration("timeout", cfg.ShutdownTimeout))
	// Both stop fetching, wait for running tasks, requeue the rest (at once,
	// so that the drain takes one SHUTDOWN_TIMEOUT, not two); then the
	// handlers asynq gave up on get handlerGrace to return.
	if !drain([]*asynq.Server{srv, syncSrv}, running, handlerGrace) {
		stuck = true
		logger.Error("task handlers still running after the drain; leaving storage, pdfium and OCR engines to the process exit",
			zap.Duration("shutdown_timeout", cfg.ShutdownTimeout), zap.Duration("grace", handlerGrace))
	}
	<-reaped
	// Let another worker take the janitor's rounds at once.
	rctx, rcancel := context.WithTimeout(context.Background(), 2*time.Second)
	if err := lease.Release(rctx); err != nil {
		logger.Warn("release janitor lease", zap.Error(err))
	}
	rcancel()
	logger.Info("worker stopped")
	return nil // deferred: pdfium, asynq client, storage, Redis
}

// startPDF starts the PDF engine: pdfium in child processes
// (PDFIUM_ISOLATE, the default) or in the worker itself.
func startPDF(cfg workerConfig, pc pipeline.PDFConfig) (interface {
	pipeline.Opener
	Close() error
}, error) {
	if cfg.Isolate {
		return pipeline.NewIsolatedPDF(pc)
	}
	return pipeline.NewPDF(pc)
}

// lineLogger logs each line written to it at warn level: what pdfium and
// its child processes print (a child's crash report included).
type lineLogger struct{ log *zap.Logger }

func (l lineLogger) Write(b []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			l.log.Warn("pdfium output", zap.String("line", line))
		}
	}
	return len(b), nil
}

// openers returns the document openers by MIME type: the file types of
// files:asyncBatchAnnotate and files:annotate, and the still images of
// images:annotate.
func openers(pdf pipeline.Opener, maxPixels int) map[string]pipeline.Opener {
	still := pipeline.Still{MaxPixels: maxPixels}
	return map[string]pipeline.Opener{
		pipeline.MIMEPDF:  pdf,
		pipeline.MIMETIFF: pipeline.TIFF{},
		pipeline.MIMEGIF:  pipeline.GIF{MaxPixels: maxPixels},
		pipeline.MIMEJPEG: still,
		pipeline.MIMEPNG:  still,
		pipeline.MIMEBMP:  still,
		pipeline.MIMEWebP: still,
		pipeline.MIMEICO:  still,
	}
}

// leaseHolder names this process among the fleet's: host and pid.
func leaseHolder() string {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}
	return fmt.Sprintf("%s/%d", host, os.Getpid())
}
