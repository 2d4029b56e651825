// Command api serves Folio's API, Google Cloud Vision's ImageAnnotator and
// the long-running operations methods, over REST (LISTEN_ADDR) and gRPC
// (GRPC_LISTEN_ADDR), backed by Redis (operation state) and an asynq queue
// (work for cmd/worker). The service itself is package api; this command
// is its wiring. With METRICS_ADDR set it serves Prometheus metrics there
// (package metrics), the fleet's backlog among them.
//
// Configuration comes from the environment, overridden by flags (see
// [loadConfig]). The Tesseract models found through TESSDATA_PREFIX at start
// are those that language hints must name. SIGINT or SIGTERM stops
// accepting connections, drains in-flight calls for up to SHUTDOWN_TIMEOUT,
// then closes the queue client and Redis.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/folio-ocr/folio/api"
	"github.com/folio-ocr/folio/config"
	"github.com/folio-ocr/folio/jobs"
	"github.com/folio-ocr/folio/lang"
	"github.com/folio-ocr/folio/metrics"
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

// run loads the configuration, connects to Redis, serves REST and gRPC
// until SIGINT or SIGTERM and shuts down in reverse construction order.
func run() error {
	cfg, err := loadConfig(os.Args[1:], os.Getenv)
	if err != nil {
		return err
	}
	logger, err := config.NewLogger(cfg.LogLevel, "api")
	if err != nil {
		return err
	}
	defer func() { _ = logger.Sync() }() // Sync fails on stderr ttys; nothing to do.

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	ropts, err := cfg.Redis()
	if err != nil {
		return err
	}
	rdb := ropts.NewClient() // one server, a Sentinel primary or a Cluster
	defer func() {
		if err := rdb.Close(); err != nil {
			logger.Warn("close redis", zap.Error(err))
		}
	}()
	ready := func(ctx context.Context) error { return rdb.Ping(ctx).Err() }
	// Start even when Redis is down (it may come up later; /readyz tells),
	// but say so at once.
	pingCtx, cancelPing := context.WithTimeout(ctx, 2*time.Second)
	if err := ready(pingCtx); err != nil {
		logger.Warn("redis does not answer yet", zap.Stringer("redis", ropts), zap.Error(err))
	}
	cancelPing()

	queue := jobs.NewClient(rdb, logger.Named("jobs"), &jobs.ClientOptions{Queue: cfg.Queue})
	defer func() { _ = queue.Close() }()
	ops := store.NewRedisOperations(rdb, &store.RedisOptions{Prefix: cfg.KeyPrefix, TTL: cfg.OperationTTL})
	// Metrics: the calls of both transports, and the backlog (pages
	// pending, operations by state) read from Redis at each scrape, so that
	// one scrape of the api gives the autoscaling signal of the fleet.
	reg := metrics.NewRegistry()
	calls := metrics.NewAPI(reg)
	reg.MustRegister(metrics.NewBacklogCollector(ops, 0, logger.Named("metrics")))
	keys, err := cfg.Keys()
	if err != nil {
		return err
	}
	if keys != nil {
		logger.Info("authentication on: every call needs an API key", zap.Int("keys", keys.Keyring().Len()))
		go keys.Watch(ctx, 0, logger)
	}
	svc, err := api.New(api.Config{
		Ops:    ops,
		Queue:  queue,
		Models: installedModels(cfg.TessdataPrefix, logger),
		Logger: logger,
		Sync:   jobs.NewSyncClient(queue, store.NewRedisResults(rdb, cfg.KeyPrefix), cfg.SyncTimeout),
		Keys:   keys,
		Quotas: ops,
	})
	if err != nil {
		return err
	}
	if cfg.MetricsAddr != "" {
		ms, err := metrics.Serve(cfg.MetricsAddr, reg, logger, nil)
		if err != nil {
			return err
		}
		defer func() { _ = ms.Close() }()
	}

	srv := &http.Server{
		Handler:           api.NewHandler(svc, &api.HTTPOptions{MaxRequestBytes: cfg.MaxRequestBytes, Ready: ready, Metrics: calls}),
		ReadHeaderTimeout: readHeaderTimeout,
		ErrorLog:          zap.NewStdLog(logger.Named("http")),
	}
	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }() // Serve closes ln.
	logger.Info("api listening", zap.String("addr", ln.Addr().String()), zap.String("transport", "http"),
		zap.Stringer("redis", ropts))

	var gs *api.GRPCServer
	if cfg.GRPCListenAddr != "" {
		gln, err := net.Listen("tcp", cfg.GRPCListenAddr)
		if err != nil {
			_ = srv.Close()
			return fmt.Errorf("listen gRPC: %w", err)
		}
		gs = api.NewGRPCServer(svc, &api.GRPCOptions{Ready: ready, MaxRecvBytes: int(cfg.MaxRequestBytes), Metrics: calls})
		go func() { errc <- gs.Serve(gln) }()
		logger.Info("api listening", zap.String("addr", gln.Addr().String()), zap.String("transport", "grpc"))
	}

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down", zap.Duration("timeout", cfg.ShutdownTimeout))
	shCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if gs != nil {
		gs.Shutdown(shCtx)
	}
	if err := srv.Shutdown(shCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
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
