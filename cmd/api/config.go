package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap/zapcore"
)

// Defaults of the configuration (DESIGN.md §4).
const (
	defaultRedisURL        = "redis://127.0.0.1:6379/0"
	defaultListenAddr      = ":8080"
	defaultLogLevel        = "info"
	defaultOperationTTL    = 30 * 24 * time.Hour
	defaultMaxRequestBytes = 10 << 20
	defaultShutdownTimeout = 10 * time.Second
)

// config is the api's configuration. Each field is read from an environment
// variable and may be overridden by the flag of the same name in kebab case.
type config struct {
	// RedisURL locates Redis: REDIS_URL / -redis-url, in the form
	// redis.ParseURL accepts. Default "redis://127.0.0.1:6379/0".
	RedisURL string
	// ListenAddr is the HTTP listen address: LISTEN_ADDR / -listen-addr.
	// Default ":8080".
	ListenAddr string
	// LogLevel is the zap level: LOG_LEVEL / -log-level, one of debug, info,
	// warn, error. Default "info".
	LogLevel string
	// KeyPrefix starts the Redis keys of operations: REDIS_KEY_PREFIX /
	// -redis-key-prefix. Default "folio:". Workers must use the same.
	KeyPrefix string
	// Queue is the asynq queue work goes to: QUEUE_NAME / -queue-name.
	// Default "folio". Workers must serve the same.
	Queue string
	// OperationTTL is how long an operation is kept after its last change:
	// OPERATION_TTL / -operation-ttl. Default 720h (30 days).
	OperationTTL time.Duration
	// MaxRequestBytes is the largest request body accepted:
	// MAX_REQUEST_BYTES / -max-request-bytes. Default 10 MiB.
	MaxRequestBytes int64
	// ShutdownTimeout bounds the drain of in-flight requests on SIGINT or
	// SIGTERM: SHUTDOWN_TIMEOUT / -shutdown-timeout. Default 10s.
	ShutdownTimeout time.Duration
	// TessdataPrefix locates the Tesseract models that language hints are
	// checked against: TESSDATA_PREFIX / -tessdata-prefix, as Tesseract
	// reads it (the directory holding the *.traineddata files, or its
	// parent). Default "": the first of Tesseract's standard directories
	// that exists (see lang.FindDir). Read once at start.
	TessdataPrefix string
}

// loadConfig returns the configuration from the environment (read through
// getenv) and the command-line args (without the program name): the
// environment sets the defaults, flags win. With -h or -help it returns an
// error wrapping flag.ErrHelp whose text is the usage.
func loadConfig(args []string, getenv func(string) string) (config, error) {
	cfg := config{
		RedisURL:        defaultRedisURL,
		ListenAddr:      defaultListenAddr,
		LogLevel:        defaultLogLevel,
		OperationTTL:    defaultOperationTTL,
		KeyPrefix:       "folio:",
		Queue:           "folio",
		MaxRequestBytes: defaultMaxRequestBytes,
		ShutdownTimeout: defaultShutdownTimeout,
	}
	var errs []error
	envString := func(dst *string, key string) {
		if v := getenv(key); v != "" {
			*dst = v
		}
	}
	envDuration := func(dst *time.Duration, key string) {
		if v := getenv(key); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s must be a duration such as \"720h\" or \"10s\", got %q", key, v))
				return
			}
			*dst = d
		}
	}
	envString(&cfg.RedisURL, "REDIS_URL")
	envString(&cfg.ListenAddr, "LISTEN_ADDR")
	envString(&cfg.LogLevel, "LOG_LEVEL")
	envString(&cfg.KeyPrefix, "REDIS_KEY_PREFIX")
	envString(&cfg.Queue, "QUEUE_NAME")
	envString(&cfg.TessdataPrefix, "TESSDATA_PREFIX")
	envDuration(&cfg.OperationTTL, "OPERATION_TTL")
	envDuration(&cfg.ShutdownTimeout, "SHUTDOWN_TIMEOUT")
	if v := getenv("MAX_REQUEST_BYTES"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("MAX_REQUEST_BYTES must be a whole number of bytes, got %q", v))
		} else {
			cfg.MaxRequestBytes = n
		}
	}
	if err := errors.Join(errs...); err != nil {
		return config{}, fmt.Errorf("config: %w", err)
	}

	fs := flag.NewFlagSet("api", flag.ContinueOnError)
	var usage strings.Builder
	fs.SetOutput(&usage)
	fs.StringVar(&cfg.RedisURL, "redis-url", cfg.RedisURL, "Redis URL (REDIS_URL)")
	fs.StringVar(&cfg.ListenAddr, "listen-addr", cfg.ListenAddr, "HTTP listen address (LISTEN_ADDR)")
	fs.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "log level: debug, info, warn or error (LOG_LEVEL)")
	fs.StringVar(&cfg.KeyPrefix, "redis-key-prefix", cfg.KeyPrefix, "prefix of operation keys in Redis (REDIS_KEY_PREFIX)")
	fs.StringVar(&cfg.Queue, "queue-name", cfg.Queue, "asynq queue (QUEUE_NAME)")
	fs.DurationVar(&cfg.OperationTTL, "operation-ttl", cfg.OperationTTL, "how long operations are kept after their last change (OPERATION_TTL)")
	fs.Int64Var(&cfg.MaxRequestBytes, "max-request-bytes", cfg.MaxRequestBytes, "largest request body accepted, in bytes (MAX_REQUEST_BYTES)")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", cfg.ShutdownTimeout, "drain time for in-flight requests on SIGTERM (SHUTDOWN_TIMEOUT)")
	fs.StringVar(&cfg.TessdataPrefix, "tessdata-prefix", cfg.TessdataPrefix, "directory of the Tesseract *.traineddata files language hints are checked against; empty searches the standard ones (TESSDATA_PREFIX)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return config{}, fmt.Errorf("%w\n%s", err, usage.String())
		}
		return config{}, fmt.Errorf("config: %w", err)
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("config: unexpected arguments %q; the api takes flags only", fs.Args())
	}
	if err := cfg.validate(); err != nil {
		return config{}, fmt.Errorf("config: %w", err)
	}
	return cfg, nil
}

// validate reports every invalid field, each as a full sentence.
func (c config) validate() error {
	var errs []error
	if _, err := redis.ParseURL(c.RedisURL); err != nil {
		errs = append(errs, fmt.Errorf("REDIS_URL must be a redis:// or rediss:// URL such as %q, got %q (%v)", defaultRedisURL, c.RedisURL, err))
	}
	if _, _, err := net.SplitHostPort(c.ListenAddr); err != nil {
		errs = append(errs, fmt.Errorf("LISTEN_ADDR must be host:port or :port, got %q", c.ListenAddr))
	}
	if _, err := zapcore.ParseLevel(c.LogLevel); err != nil {
		errs = append(errs, fmt.Errorf("LOG_LEVEL must be debug, info, warn or error, got %q", c.LogLevel))
	}
	if c.KeyPrefix == "" || c.Queue == "" {
		errs = append(errs, errors.New("REDIS_KEY_PREFIX and QUEUE_NAME must not be empty"))
	}
	if c.OperationTTL <= 0 {
		errs = append(errs, fmt.Errorf("OPERATION_TTL must be positive, got %s", c.OperationTTL))
	}
	if c.MaxRequestBytes <= 0 {
		errs = append(errs, fmt.Errorf("MAX_REQUEST_BYTES must be positive, got %d", c.MaxRequestBytes))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, fmt.Errorf("SHUTDOWN_TIMEOUT must be positive, got %s", c.ShutdownTimeout))
	}
	return errors.Join(errs...)
}
