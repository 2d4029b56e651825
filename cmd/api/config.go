package main

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/folio-ocr/folio/api"
	"github.com/folio-ocr/folio/config"
	"github.com/folio-ocr/folio/jobs"
)

// defaultShutdownTimeout is the api's SHUTDOWN_TIMEOUT default: in-flight
// calls are short.
const defaultShutdownTimeout = 10 * time.Second

// apiConfig is the api's configuration: the shared settings and its own.
type apiConfig struct {
	config.Common
	// ListenAddr is the HTTP listen address (LISTEN_ADDR). Default ":8080".
	ListenAddr string
	// GRPCListenAddr is the gRPC listen address (GRPC_LISTEN_ADDR). Default
	// ":8081"; empty turns gRPC off.
	GRPCListenAddr string
	// MaxRequestBytes is the largest request accepted, a REST body or a gRPC
	// message (MAX_REQUEST_BYTES). Default [api.DefaultMaxRequestBytes].
	MaxRequestBytes int64
	// SyncTimeout bounds a synchronous call (files:annotate,
	// images:annotate) whose caller set no deadline (SYNC_TIMEOUT). Default
	// [jobs.DefaultSyncTimeout].
	SyncTimeout time.Duration
	// TessdataPrefix locates the Tesseract models that language hints are
	// checked against (TESSDATA_PREFIX), as Tesseract reads it. Default "":
	// the first of Tesseract's standard directories that exists (see
	// lang.FindDir). Read once at start.
	TessdataPrefix string
	// MetricsAddr is the listen address of the Prometheus /metrics
	// endpoint (METRICS_ADDR), apart from LISTEN_ADDR so that the public
	// port does not show the backlog or the process. Default "" (off).
	MetricsAddr string
}

// loadConfig returns the configuration from the environment (read through
// getenv) and the command-line args (without the program name); flags win.
// With -h it returns an error wrapping flag.ErrHelp whose text is the usage.
func loadConfig(args []string, getenv func(string) string) (apiConfig, error) {
	cfg := apiConfig{
		Common:          config.DefaultCommon(defaultShutdownTimeout),
		ListenAddr:      ":8080",
		GRPCListenAddr:  ":8081",
		MaxRequestBytes: api.DefaultMaxRequestBytes,
		SyncTimeout:     jobs.DefaultSyncTimeout,
	}
	l := config.NewLoader("api", getenv)
	cfg.Common.Bind(l)
	l.String(&cfg.ListenAddr, "LISTEN_ADDR", "HTTP listen address")
	l.String(&cfg.GRPCListenAddr, "GRPC_LISTEN_ADDR", "gRPC listen address; empty turns gRPC off")
	l.Int64(&cfg.MaxRequestBytes, "MAX_REQUEST_BYTES", "largest request accepted, in bytes")
	l.Duration(&cfg.SyncTimeout, "SYNC_TIMEOUT", "most time a synchronous call without a deadline waits for a worker")
	l.String(&cfg.MetricsAddr, "METRICS_ADDR", "listen address of the Prometheus /metrics endpoint (empty: off)")
	l.String(&cfg.TessdataPrefix, "TESSDATA_PREFIX", "directory of the Tesseract *.traineddata files language hints are checked against; empty searches the standard ones")
	if err := l.Parse(args); err != nil {
		return apiConfig{}, err
	}
	if err := cfg.validate(); err != nil {
		return apiConfig{}, fmt.Errorf("config: %w", err)
	}
	return cfg, nil
}

// validate reports every invalid field, each as a full sentence.
func (c apiConfig) validate() error {
	errs := c.Common.Validate()
	if _, _, err := net.SplitHostPort(c.ListenAddr); err != nil {
		errs = append(errs, fmt.Errorf("LISTEN_ADDR must be host:port or :port, got %q", c.ListenAddr))
	}
	if _, _, err := net.SplitHostPort(c.GRPCListenAddr); c.GRPCListenAddr != "" && err != nil {
		errs = append(errs, fmt.Errorf("GRPC_LISTEN_ADDR must be host:port, :port or empty, got %q", c.GRPCListenAddr))
	}
	if _, _, err := net.SplitHostPort(c.MetricsAddr); c.MetricsAddr != "" && err != nil {
		errs = append(errs, fmt.Errorf("METRICS_ADDR must be host:port, :port or empty, got %q", c.MetricsAddr))
	}
	if c.MaxRequestBytes <= 0 || c.MaxRequestBytes > 1<<30 {
		errs = append(errs, fmt.Errorf("MAX_REQUEST_BYTES must be between 1 and 1073741824, got %d", c.MaxRequestBytes))
	}
	if c.SyncTimeout <= 0 {
		errs = append(errs, fmt.Errorf("SYNC_TIMEOUT must be positive, got %s", c.SyncTimeout))
	}
	return errors.Join(errs...)
}
