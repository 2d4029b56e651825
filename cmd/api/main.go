// Command api serves Folio's REST API: Google Cloud Vision's
// files:asyncBatchAnnotate and the long-running operations methods, backed
// by Redis (operation state) and an asynq queue (work for cmd/worker).
//
// Configuration comes from the environment, overridden by flags (see
// [loadConfig]): REDIS_URL, LISTEN_ADDR, LOG_LEVEL, OPERATION_TTL,
// MAX_REQUEST_BYTES, SHUTDOWN_TIMEOUT, TESSDATA_PREFIX. The Tesseract models
// found through TESSDATA_PREFIX at start are those that language hints must
// name. SIGINT or SIGTERM stops accepting connections, drains in-flight
// requests for up to SHUTDOWN_TIMEOUT, then closes the queue client and
// Redis.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/folio-ocr/folio/jobs"
	"github.com/folio-ocr/folio/lang"
	"github.com/folio-ocr/folio/store"
)

// readHeaderTimeout bounds how long a client may take to send request
// headers (slowloris protection).
const readHeaderTimeout = 10 * time.Second

// main runs the api and exits 1 on error.
func main() {
	if err := run(); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stdout, err)
			return
		}
		fmt.Fprintln(os.Stderr, "api:", err)
		os.Exit(1)
	}
}

// run loads the configuration, connects to Redis, serves HTTP until SIGINT
// or SIGTERM and shuts down in reverse construction order.
func run() error {
	cfg, err := loadConfig(os.Args[1:], os.Getenv)
	if err != nil {
		return err
	}
	logger, err := newLogger(cfg.LogLevel)
	if err != nil {
		return err
	}
	defer func() { _ = logger.Sync() }() // Sync fails on stderr ttys; nothing to do.

	models := installedModels(cfg.TessdataPrefix, logger)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	ropts, err := redis.ParseURL(cfg.RedisURL)
	if err != nil { // validate checked it already.
		return fmt.Errorf("parse REDIS_URL: %w", err)
	}
	rdb := redis.NewClient(ropts)
	defer func() {
		if err := rdb.Close(); err != nil {
			logger.Warn("close redis", zap.Error(err))
		}
	}()

	// Start even when Redis is down (it may come up later; /readyz tells),
	// but say so at once.
	pingCtx, cancelPing := context.WithTimeout(ctx, readyTimeout)
	if err := rdb.Ping(pingCtx).Err(); err != nil {
		logger.Warn("redis does not answer yet", zap.String("redis", ropts.Addr), zap.Error(err))
	}
	cancelPing()

	ops := store.NewRedisOperations(rdb, &store.RedisOptions{Prefix: cfg.KeyPrefix, TTL: cfg.OperationTTL})
	enq, closeEnq, err := newEnqueuer(rdb, cfg.Queue, logger)
	if err != nil {
		return fmt.Errorf("create queue client: %w", err)
	}
	defer func() {
		if err := closeEnq.Close(); err != nil {
			logger.Warn("close queue client", zap.Error(err))
		}
	}()

	d := &deps{
		ops:     ops,
		enq:     enq,
		ready:   func(ctx context.Context) error { return rdb.Ping(ctx).Err() },
		logger:  logger,
		maxBody: cfg.MaxRequestBytes,
		now:     time.Now,
		newID:   newOperationID,
		models:  models,
	}
	srv := &http.Server{
		Addr:              cfg.ListenAddr,
		Handler:           routes(d),
		ReadHeaderTimeout: readHeaderTimeout,
		ErrorLog:          zap.NewStdLog(logger.Named("http")),
	}
	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }() // Serve closes ln.
	logger.Info("api listening", zap.String("addr", ln.Addr().String()),
		zap.String("redis", ropts.Addr), zap.Int("redis_db", ropts.DB))

	select {
	case err := <-errc:
		return fmt.Errorf("serve on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	logger.Info("shutting down", zap.Duration("timeout", cfg.ShutdownTimeout))
	shCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	logger.Info("api stopped")
	return nil // Deferred: close the queue client, then Redis.
}

// installedModels returns the Tesseract models installed in the tessdata
// directory that prefix (TESSDATA_PREFIX) leads to, for checking language
// hints at submit time. When there is no such directory, or it holds no
// model or cannot be read, it logs a warning and returns nil: hints are then
// checked only for being known languages, and workers find out at run time
// whether they have the models.
func installedModels(prefix string, logger *zap.Logger) lang.Models {
	dir := lang.FindDir(prefix)
	warn := func(msg string, fields ...zap.Field) lang.Models {
		logger.Warn(msg+"; language hints are checked for known languages only, and workers check the models when they run",
			append(fields, zap.String("tessdata_prefix", prefix))...)
		return nil
	}
	if dir == "" {
		return warn("no tessdata directory found")
	}
	models, err := lang.Installed(dir)
	if err != nil {
		return warn("cannot list Tesseract models", zap.String("tessdata", dir), zap.Error(err))
	}
	if len(models) == 0 {
		return warn("no Tesseract models (*.traineddata) in the tessdata directory", zap.String("tessdata", dir))
	}
	logger.Info("language hints are checked against the installed Tesseract models",
		zap.String("tessdata", dir), zap.Strings("models", slices.Sorted(maps.Keys(models))))
	return models
}

// newLogger returns a JSON zap logger writing to stderr at level.
func newLogger(level string) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("parse LOG_LEVEL: %w", err)
	}
	zcfg := zap.NewProductionConfig()
	zcfg.Level = zap.NewAtomicLevelAt(lvl)
	zcfg.EncoderConfig.TimeKey = "time"
	zcfg.EncoderConfig.EncodeTime = zapcore.RFC3339NanoTimeEncoder
	logger, err := zcfg.Build()
	if err != nil {
		return nil, fmt.Errorf("build logger: %w", err)
	}
	return logger.Named("api"), nil
}

// newEnqueuer returns the queue client the API submits work with and the
// closer that releases it (the Redis client stays open).
func newEnqueuer(rdb redis.UniversalClient, queue string, logger *zap.Logger) (enqueuer, io.Closer, error) {
	c := jobs.NewClient(rdb, logger.Named("jobs"), &jobs.ClientOptions{Queue: queue})
	return c, c, nil
}
