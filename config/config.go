// Package config binds the settings of Folio's commands from the
// environment and from flags, in one way for all of them: each setting has
// an environment variable (REDIS_URL) and a flag of the same name in kebab
// case (-redis-url); the environment gives the default, a flag wins.
// [Common] holds the settings that the api and the worker share, with the
// defaults of the packages that own them; [NewLogger] builds the one log
// format both write.
package config

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/folio-ocr/folio/auth"
	"github.com/folio-ocr/folio/jobs"
	"github.com/folio-ocr/folio/store"
)

// DefaultRedisURL is REDIS_URL's default.
const DefaultRedisURL = "redis://127.0.0.1:6379/0"

// Loader binds settings to environment variables and flags. Bind every
// setting, then call Parse once.
type Loader struct {
	fs     *flag.FlagSet
	getenv func(string) string
	usage  strings.Builder
	errs   []error
}

// NewLoader returns a Loader for the command name that reads the
// environment through getenv (os.Getenv, or a map in tests).
func NewLoader(name string, getenv func(string) string) *Loader {
	l := &Loader{fs: flag.NewFlagSet(name, flag.ContinueOnError), getenv: getenv}
	l.fs.SetOutput(&l.usage)
	return l
}

// FlagName returns the flag of environment variable env: REDIS_URL →
// redis-url.
func FlagName(env string) string {
	return strings.ReplaceAll(strings.ToLower(env), "_", "-")
}

// String binds *dst to env and its flag; *dst holds the default.
func (l *Loader) String(dst *string, env, usage string) {
	if v := l.getenv(env); v != "" {
		*dst = v
	}
	l.fs.StringVar(dst, FlagName(env), *dst, usage+" ("+env+")")
}

// Secret binds *dst to env and its flag as String does, but the usage
// never shows its value.
func (l *Loader) Secret(dst *string, env, usage string) {
	if v := l.getenv(env); v != "" {
		*dst = v
	}
	l.fs.Var(secretValue{dst}, FlagName(env), usage+" ("+env+")")
}

// secretValue is a string flag whose String is empty, so that usage prints
// no default.
type secretValue struct{ p *string }

func (v secretValue) String() string { return "" }

func (v secretValue) Set(s string) error {
	*v.p = s
	return nil
}

// Int binds *dst to env and its flag; *dst holds the default.
func (l *Loader) Int(dst *int, env, usage string) {
	if v := l.getenv(env); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			l.errs = append(l.errs, fmt.Errorf("%s must be an integer, got %q", env, v))
		}
		*dst = n
	}
	l.fs.IntVar(dst, FlagName(env), *dst, usage+" ("+env+")")
}

// Int64 binds *dst to env and its flag; *dst holds the default.
func (l *Loader) Int64(dst *int64, env, usage string) {
	if v := l.getenv(env); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			l.errs = append(l.errs, fmt.Errorf("%s must be an integer, got %q", env, v))
		}
		*dst = n
	}
	l.fs.Int64Var(dst, FlagName(env), *dst, usage+" ("+env+")")
}

// Duration binds *dst to env and its flag; *dst holds the default.
func (l *Loader) Duration(dst *time.Duration, env, usage string) {
	if v := l.getenv(env); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			l.errs = append(l.errs, fmt.Errorf("%s must be a duration such as \"25s\" or \"720h\", got %q", env, v))
		}
		*dst = d
	}
	l.fs.DurationVar(dst, FlagName(env), *dst, usage+" ("+env+")")
}

// Bool binds *dst to env and its flag; *dst holds the default.
func (l *Loader) Bool(dst *bool, env, usage string) {
	if v := l.getenv(env); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			l.errs = append(l.errs, fmt.Errorf("%s must be true or false, got %q", env, v))
		}
		*dst = b
	}
	l.fs.BoolVar(dst, FlagName(env), *dst, usage+" ("+env+")")
}

// FlagSet returns the underlying flag set, for flags without a variable
// (the worker's -warmup).
func (l *Loader) FlagSet() *flag.FlagSet { return l.fs }

// Parse parses args (without the program name) after the environment was
// read by the binding calls. It returns every malformed variable at once;
// with -h or -help, an error wrapping flag.ErrHelp whose text is the usage.
// Commands take flags only: a positional argument is an error.
func (l *Loader) Parse(args []string) error {
	if err := errors.Join(l.errs...); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := l.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return fmt.Errorf("%w\n%s", err, l.usage.String())
		}
		return fmt.Errorf("config: %w", err)
	}
	if l.fs.NArg() > 0 {
		return fmt.Errorf("config: unexpected arguments %q; %s takes flags only", l.fs.Args(), l.fs.Name())
	}
	return nil
}

// Common are the settings that the api and the worker share; both must
// agree on RedisURL, KeyPrefix, Queue and OperationTTL.
type Common struct {
	// RedisURL locates Redis (REDIS_URL): one server, a primary found
	// through Redis Sentinel, or a Redis Cluster, in the forms
	// [ParseRedisURL] reads. Default [DefaultRedisURL].
	RedisURL string
	// KeyPrefix starts the Redis keys of operations (REDIS_KEY_PREFIX).
	// Default [store.DefaultPrefix].
	KeyPrefix string
	// Queue is the asynq queue (QUEUE_NAME). Default [jobs.DefaultQueue].
	Queue string
	// OperationTTL is how long an operation is kept after its last change
	// (OPERATION_TTL). Default [store.DefaultTTL].
	OperationTTL time.Duration
	// LogLevel is debug, info, warn or error (LOG_LEVEL). Default "info".
	LogLevel string
	// ShutdownTimeout bounds the drain on SIGINT or SIGTERM
	// (SHUTDOWN_TIMEOUT). Its default is the command's: set it before Bind.
	ShutdownTimeout time.Duration
	// APIKeys (API_KEYS) and APIKeysFile (API_KEYS_FILE) configure API keys
	// (see package auth): setting either turns authentication on, in the
	// api (every call needs a key) and in the worker (which checks each
	// task's files against its key's policy again). The file is reloaded
	// when it changes. Default: both empty, off.
	APIKeys, APIKeysFile string
}

// DefaultCommon returns the shared settings' defaults, with the given
// shutdown timeout.
func DefaultCommon(shutdown time.Duration) Common {
	return Common{
		RedisURL:        DefaultRedisURL,
		KeyPrefix:       store.DefaultPrefix,
		Queue:           jobs.DefaultQueue,
		OperationTTL:    store.DefaultTTL,
		LogLevel:        "info",
		ShutdownTimeout: shutdown,
	}
}

// Bind binds c's fields to l; c holds the defaults.
func (c *Common) Bind(l *Loader) {
	l.String(&c.RedisURL, "REDIS_URL", "Redis URL")
	l.String(&c.KeyPrefix, "REDIS_KEY_PREFIX", "prefix of operation keys in Redis")
	l.String(&c.Queue, "QUEUE_NAME", "asynq queue")
	l.Duration(&c.OperationTTL, "OPERATION_TTL", "how long operations are kept after their last change")
	l.String(&c.LogLevel, "LOG_LEVEL", "log level: debug, info, warn or error")
	l.Duration(&c.ShutdownTimeout, "SHUTDOWN_TIMEOUT", "drain time on SIGTERM")
	l.Secret(&c.APIKeys, "API_KEYS", "API keys, as name:secret,... or JSON (turns authentication on)")
	l.String(&c.APIKeysFile, "API_KEYS_FILE", "JSON file of API keys and their policies, reloaded when it changes (turns authentication on)")
}

// Validate returns one full sentence per invalid field.
func (c Common) Validate() []error {
	var errs []error
	if _, err := ParseRedisURL(c.RedisURL); err != nil {
		errs = append(errs, fmt.Errorf("REDIS_URL must be a redis:// or rediss:// URL such as %q, "+
			"a redis-sentinel://host:26379,host:26379/<primary>[/<db>] or a redis-cluster://host:port,host:port URL, got %q (%v)",
			DefaultRedisURL, redactURL(c.RedisURL), err))
	}
	if c.KeyPrefix == "" || c.Queue == "" {
		errs = append(errs, errors.New("REDIS_KEY_PREFIX and QUEUE_NAME must not be empty"))
	}
	if c.OperationTTL <= 0 {
		errs = append(errs, fmt.Errorf("OPERATION_TTL must be positive, got %s", c.OperationTTL))
	}
	if _, err := zapcore.ParseLevel(c.LogLevel); err != nil {
		errs = append(errs, fmt.Errorf("LOG_LEVEL must be debug, info, warn or error, got %q", c.LogLevel))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, fmt.Errorf("SHUTDOWN_TIMEOUT must be positive, got %s", c.ShutdownTimeout))
	}
	if _, err := c.Keys(); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// Keys returns the API keys that API_KEYS or API_KEYS_FILE configure, or
// nil when authentication is off.
func (c Common) Keys() (*auth.Source, error) {
	return auth.Load(c.APIKeys, c.APIKeysFile)
}

// Redis returns the configuration of RedisURL, which Validate checked;
// its NewClient is the client that the api's and the worker's store and
// asynq share.
func (c Common) Redis() (*RedisConfig, error) {
	rc, err := ParseRedisURL(c.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("config: parse REDIS_URL: %w", err)
	}
	return rc, nil
}

// NewLogger returns the logger every Folio command writes: JSON lines on
// stderr at level, the time under "time" in RFC 3339 with nanoseconds, the
// logger named name ("api", "worker").
func NewLogger(level, name string) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("config: parse LOG_LEVEL: %w", err)
	}
	zcfg := zap.NewProductionConfig()
	zcfg.Level = zap.NewAtomicLevelAt(lvl)
	zcfg.EncoderConfig.TimeKey = "time"
	zcfg.EncoderConfig.EncodeTime = zapcore.RFC3339NanoTimeEncoder
	logger, err := zcfg.Build()
	if err != nil {
		return nil, fmt.Errorf("config: build logger: %w", err)
	}
	return logger.Named(name), nil
}
