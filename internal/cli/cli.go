// Package cli implements the folio command: its subcommands, their flags
// and help, and exit statuses. The work is done by the packages beside it:
// inputs (what to read), objects (Cloud Storage), remote (the API), resume
// (what to skip), results (what to write) and display (progress).
//
// # Exit status
//
//	0    everything asked for was done (annotate: every file's results written, no page failed)
//	1    an error stopped the command (configuration, connection, storage)
//	2    the command line is wrong
//	3    annotate: some files or pages failed (the others' results are written, the failures
//	     are listed in the summary and in OUT/folio-report.txt); wait: the operation failed
//	130  interrupted by Ctrl-C (SIGINT) or SIGTERM
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/folio-ocr/folio/internal/cli/config"
	"github.com/folio-ocr/folio/internal/cli/remote"
)

// Exit statuses.
const (
	ExitOK          = 0
	ExitError       = 1
	ExitUsage       = 2
	ExitFailures    = 3
	ExitInterrupted = 130
)

// Env is what a command runs with: its streams and environment.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	// Signals delivers SIGINT and SIGTERM to annotate and wait.
	Signals <-chan os.Signal
}

// exitError ends a command with a status and a message (none if empty).
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// command is one subcommand.
type command struct {
	name, summary string
	run           func(ctx context.Context, env Env, args []string) error
}

// commands returns the subcommands in the order help lists them.
func commands() []command {
	return []command{
		{"annotate", "read the text of PDF, TIFF and GIF files into OUT/NAME.txt and OUT/NAME.json", runAnnotate},
		{"status", "show an operation's state and progress", runStatus},
		{"wait", "wait until an operation is done, showing its progress", runWait},
		{"cancel", "cancel operations", runCancel},
		{"ls", "list operations", runList},
		{"text", "print the text of output files (local paths or gs:// URIs)", runText},
	}
}

const mainUsage = `folio reads the text of PDF, TIFF and GIF files with Folio (or Google Cloud
Vision's files:asyncBatchAnnotate).

Usage:
  folio COMMAND [flags] [arguments]

Commands:
%s
Environment (flags win; also read from $XDG_CONFIG_HOME/folio/config as KEY=value):
  FOLIO_ENDPOINT   http://host:8080 for REST, host:8081 for gRPC (default %s)
  FOLIO_TRANSPORT  rest or grpc (default: rest for http(s)://, grpc otherwise)
  FOLIO_BUCKET     bucket for uploads and results of local files
  FOLIO_PREFIX     object name prefix in that bucket (default %s)
  FOLIO_API_KEY    sent as x-goog-api-key
  STORAGE_EMULATOR_HOST  host:port of a GCS emulator (read by the storage client)

Run 'folio COMMAND --help' for a command's flags and examples.
`

// HandlesSignals reports whether the command of args reads Env.Signals
// (annotate and wait); the others are ended by a signal as usual.
func HandlesSignals(args []string) bool {
	return len(args) > 0 && (args[0] == "annotate" || args[0] == "wait")
}

// Main runs the folio command with args (without the program name) and
// returns its exit status.
func Main(ctx context.Context, env Env, args []string) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		if len(args) > 1 {
			return Main(ctx, env, []string{args[1], "--help"})
		}
		printUsage(env.Stdout)
		if len(args) == 0 {
			return ExitUsage
		}
		return ExitOK
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, env, args[1:])
		var ee *exitError
		switch {
		case err == nil:
			return ExitOK
		case errors.Is(err, flag.ErrHelp):
			return ExitOK
		case errors.As(err, &ee):
			if ee.msg != "" {
				fmt.Fprintf(env.Stderr, "folio %s: %s\n", c.name, ee.msg)
			}
			return ee.code
		default:
			fmt.Fprintf(env.Stderr, "folio %s: %v\n", c.name, err)
			return ExitError
		}
	}
	fmt.Fprintf(env.Stderr, "folio: unknown command %q\n\n", args[0])
	printUsage(env.Stderr)
	return ExitUsage
}

func printUsage(w io.Writer) {
	var b strings.Builder
	for _, c := range commands() {
		fmt.Fprintf(&b, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, mainUsage, b.String(), config.DefaultEndpoint, config.DefaultPrefix)
}

// usageError is an exitError with ExitUsage.
func usageError(format string, args ...any) error {
	return &exitError{code: ExitUsage, msg: fmt.Sprintf(format, args...)}
}

// connFlags are the connection flags every command that talks to the API
// has.
type connFlags struct {
	endpoint, transport string
}

func (c *connFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.endpoint, "endpoint", "", "API endpoint: http://host:port for REST, host:port for gRPC (env FOLIO_ENDPOINT)")
	fs.StringVar(&c.transport, "transport", "", "rest or grpc (env FOLIO_TRANSPORT; default from the endpoint)")
}

// settings returns the configuration with the flags applied.
func (c *connFlags) settings(env Env) (config.Config, error) {
	cfg, err := config.Load(env.Getenv)
	if err != nil {
		return config.Config{}, err
	}
	if c.endpoint != "" {
		cfg.Endpoint = c.endpoint
	}
	if c.transport != "" {
		cfg.Transport = c.transport
	}
	return cfg, nil
}

// dial connects to the API of cfg.
func dial(ctx context.Context, cfg config.Config) (*remote.Client, error) {
	return remote.Dial(ctx, remote.Config{Endpoint: cfg.Endpoint, Transport: cfg.Transport, APIKey: cfg.APIKey})
}

// newFlagSet returns a FlagSet for a subcommand whose usage text is
// usage (with the flag defaults after it), writing to env.Stderr.
func newFlagSet(env Env, name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet("folio "+name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), strings.TrimLeft(usage, "\n"))
		fmt.Fprintln(fs.Output(), "\nFlags:")
		fs.PrintDefaults()
	}
	return fs
}

// parse parses args with fs, allowing flags after positional arguments
// (folio annotate ./scans --out text); "--" ends the flags. It returns
// the positional arguments.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, &exitError{code: ExitUsage}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// since formats the time since start for summaries.
func since(start time.Time) string {
	return time.Since(start).Round(100 * time.Millisecond).String()
}

// sortBy sorts s by the string key returns.
func sortBy[T any](s []T, key func(T) string) {
	slices.SortFunc(s, func(a, b T) int { return strings.Compare(key(a), key(b)) })
}
