package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"golang.org/x/term"

	"github.com/folio-ocr/folio/internal/cli/config"
	"github.com/folio-ocr/folio/internal/cli/display"
	"github.com/folio-ocr/folio/internal/cli/inputs"
	"github.com/folio-ocr/folio/internal/cli/objects"
	"github.com/folio-ocr/folio/internal/cli/results"
	"github.com/folio-ocr/folio/internal/cli/resume"
)

const annotateUsage = `
Usage: folio annotate PATH... [flags]

Reads the text of PATH: PDF, TIFF and GIF files, folders (walked
recursively; .pdf .tif .tiff .gif files are read, others ignored),
gs://bucket/object URIs and gs://bucket/prefix/ prefixes. Local files are
uploaded to gs://$FOLIO_BUCKET/${FOLIO_PREFIX}in/ (named by their SHA-256,
so a file is uploaded once); results are written by the server under
gs://$FOLIO_BUCKET/${FOLIO_PREFIX}out/ (for gs:// inputs without
FOLIO_BUCKET, in the input's bucket) and then under --out:

  OUT/NAME.txt   the text of every page, in page order, pages separated by a
                 form feed (\f), as pdftotext separates them
  OUT/NAME.json  one AnnotateFileResponse with every page's response in order
  OUT/folio-report.txt   the files and pages that failed, and why (only when some did)

NAME is the file's path relative to the folder or prefix it was found in
(its base name when named itself), without extension unless two inputs
would share the name. Files go in as few operations as --files-per-operation
allows. Run the same command again after an interruption (Ctrl-C, a laptop
going to sleep, a crash): files whose results are complete are skipped,
operations still running are followed, and no file is submitted twice
(OUT/.folio-state.json remembers the operations; each submission carries an
Idempotency-Key derived from its files' content and options).

On a terminal, Ctrl-C once asks whether to cancel the operations on the
server; twice exits and leaves them running. Without a terminal Ctrl-C
exits and leaves them running. Exit status: 0 all written, 3 some files or
pages failed, 1 an error stopped the run, 130 interrupted.

Examples:
  folio annotate ./scans --out ./text
  folio annotate report.pdf fax.tiff --lang en,de --out ./text
  folio annotate gs://my-bucket/scans/ --out ./text
  FOLIO_ENDPOINT=localhost:8081 folio annotate ./scans --out ./text   # over gRPC
`

// annotateFlags are annotate's flags.
type annotateFlags struct {
	conn        connFlags
	out         string
	features    string
	lang        string
	batchSize   int
	perOp       int
	bucket      string
	prefix      string
	poll        time.Duration
	interval    time.Duration
	plain       bool
	maxAttempts int
}

func runAnnotate(ctx context.Context, env Env, args []string) error {
	var fl annotateFlags
	fs := newFlagSet(env, "annotate", annotateUsage)
	fl.conn.register(fs)
	fs.StringVar(&fl.out, "out", ".", "folder the results are written to")
	fs.StringVar(&fl.features, "features", "DOCUMENT_TEXT_DETECTION", "comma-separated feature types (DOCUMENT_TEXT_DETECTION, TEXT_DETECTION)")
	fs.StringVar(&fl.lang, "lang", "", "comma-separated language hints, BCP-47 (en,de)")
	fs.IntVar(&fl.batchSize, "batch-size", 20, "pages per output object on the server, 1 to 100")
	fs.IntVar(&fl.perOp, "files-per-operation", 100, "most files submitted in one operation")
	fs.StringVar(&fl.bucket, "bucket", "", "bucket for uploads and server-side results (env FOLIO_BUCKET)")
	fs.StringVar(&fl.prefix, "prefix", "", "object name prefix in the bucket (env FOLIO_PREFIX, default folio/)")
	fs.DurationVar(&fl.poll, "poll-interval", time.Second, "how often operations are polled")
	fs.DurationVar(&fl.interval, "progress-interval", 10*time.Second, "how often a progress line is printed when stdout is not a terminal")
	fs.BoolVar(&fl.plain, "plain", false, "print plain progress lines even on a terminal")
	fs.IntVar(&fl.maxAttempts, "attempts", 3, "most submissions of a file whose operation failed for another file or a transient reason")
	paths, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(paths) == 0 {
		fs.Usage()
		return usageError("name at least one file, folder or gs:// URI")
	}
	if fl.batchSize < 1 || fl.batchSize > 100 {
		return usageError("--batch-size must be in [1, 100], got %d", fl.batchSize)
	}
	if fl.perOp < 1 || fl.poll <= 0 || fl.interval <= 0 || fl.maxAttempts < 1 {
		return usageError("--files-per-operation, --attempts, --poll-interval and --progress-interval must be positive")
	}
	features, err := parseFeatures(fl.features)
	if err != nil {
		return usageError("%v", err)
	}
	var langs []string
	if fl.lang != "" {
		langs = strings.Split(fl.lang, ",")
	}
	cfg, err := fl.conn.settings(env)
	if err != nil {
		return err
	}
	if fl.bucket != "" {
		cfg.Bucket = fl.bucket
	}
	if fl.prefix != "" {
		cfg.Prefix = fl.prefix
	}
	if cfg.Prefix != "" && !strings.HasSuffix(cfg.Prefix, "/") {
		cfg.Prefix += "/"
	}

	start := time.Now()
	// Until polling begins (hashing, uploading, the first submissions), a
	// signal stops the run at once: what was submitted is in the state
	// file, and the same command resumes it.
	ctx, polling := interruptEarly(ctx, env)
	defer polling()
	err = annotate(ctx, env, fl, paths, cfg, features, langs, start, polling)
	var ee *exitError
	if cause := context.Cause(ctx); errors.As(cause, &ee) {
		return cause
	}
	return err
}

// interruptEarly returns ctx cancelled, with an exitError of status
// ExitInterrupted as its cause, by a signal that arrives before polling is
// called; after that, signals are left to the run's polling loop (which
// asks whether to cancel the operations).
func interruptEarly(ctx context.Context, env Env) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	done, exited := make(chan struct{}), make(chan struct{})
	var once sync.Once
	go func() {
		defer close(exited)
		select {
		case sig := <-env.Signals:
			cancel(&exitError{code: ExitInterrupted, msg: fmt.Sprintf(
				"interrupted (%v) before following any operation: what was submitted keeps running on the server; run the same command again to resume", sig)})
		case <-done:
		}
	}()
	// Once it returns, no signal is taken here.
	return ctx, func() { once.Do(func() { close(done); <-exited }) }
}

// annotate runs annotate's work once its flags are read; polling is
// called when the run starts polling its operations.
func annotate(ctx context.Context, env Env, fl annotateFlags, paths []string, cfg config.Config,
	features []visionpb.Feature_Type, langs []string, start time.Time, polling func()) error {
	store, err := objects.New(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = store.Close() }()
	srcs, err := inputs.Discover(ctx, paths, store)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(fl.out, 0o755); err != nil {
		return fmt.Errorf("create --out folder: %w", err)
	}
	state, err := resume.Load(fl.out)
	if err != nil {
		return err
	}
	files, err := prepare(ctx, store, srcs, cfg.Bucket, cfg.Prefix, features, langs, int32(fl.batchSize))
	if err != nil {
		return err
	}
	client, err := dial(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() { _ = client.Close() }()

	r := &run{
		env: env, client: client, store: store, out: fl.out, state: state, files: files,
		features: features, langs: langs, batchSize: int32(fl.batchSize), perOp: fl.perOp,
		poll: fl.poll, maxAttempts: fl.maxAttempts, bucket: cfg.Bucket, prefix: cfg.Prefix,
		ops: map[string]*opTrack{}, start: start, polling: polling,
	}
	tty := display.IsTerminal(env.Stdout)
	in, inFile := env.Stdin.(*os.File)
	r.interactive = tty && inFile && term.IsTerminal(int(in.Fd()))
	if tty && !fl.plain {
		r.disp = display.Terminal(env.Stdout)
	} else {
		r.disp = display.Plain(env.Stdout, fl.interval)
	}
	err = r.execute(ctx)
	r.disp.Close()
	if serr := r.summarize(); serr != nil && err == nil {
		err = serr
	}
	if err != nil {
		return err
	}
	if len(r.failures) > 0 {
		return &exitError{code: ExitFailures}
	}
	return nil
}

// parseFeatures parses comma-separated feature type names, in any case.
func parseFeatures(s string) ([]visionpb.Feature_Type, error) {
	var out []visionpb.Feature_Type
	for _, name := range strings.Split(s, ",") {
		n := strings.ToUpper(strings.TrimSpace(name))
		v, ok := visionpb.Feature_Type_value[n]
		if !ok || v == 0 {
			return nil, fmt.Errorf("--features: unknown feature type %q (for example DOCUMENT_TEXT_DETECTION or TEXT_DETECTION)", name)
		}
		if !slices.Contains(out, visionpb.Feature_Type(v)) {
			out = append(out, visionpb.Feature_Type(v))
		}
	}
	return out, nil
}

// prepare hashes every source and returns its file, with its key, its
// gs:// input (for local files, the object it is uploaded to) and its
// output prefix.
func prepare(ctx context.Context, store *objects.Store, srcs []inputs.Source, bucket, prefix string,
	features []visionpb.Feature_Type, langs []string, batchSize int32) ([]*file, error) {
	names := make([]string, len(features))
	for i, f := range features {
		names[i] = f.String()
	}
	if bucket != "" {
		if err := store.EnsureBucket(ctx, bucket); err != nil {
			return nil, err
		}
	}
	files := make([]*file, len(srcs))
	for i, s := range srcs {
		if err := ctx.Err(); err != nil {
			return nil, err // interrupted while hashing a large folder
		}
		f := &file{src: s}
		var hash string
		var err error
		b := bucket
		if s.Path != "" {
			if bucket == "" {
				return nil, errors.New("local files need a bucket to be uploaded to: set FOLIO_BUCKET or --bucket")
			}
			if hash, err = objects.HashFile(s.Path); err != nil {
				return nil, err
			}
			f.object = prefix + "in/" + hash + strings.ToLower(path.Ext(s.Path))
			f.input = "gs://" + bucket + "/" + f.object
		} else {
			if hash, err = store.HashObject(ctx, s.URI); err != nil {
				return nil, err
			}
			f.input = s.URI
			if b == "" {
				b, _, _ = objects.SplitURI(s.URI)
			}
		}
		dest := "gs://" + b + "/" + prefix + "out/"
		f.key = resume.FileKey(hash, resume.Options{
			MIMEType: s.MIMEType, Features: names, Languages: langs, BatchSize: batchSize, Destination: dest,
		})
		f.dest = dest + f.key[:32] + "/"
		files[i] = f
	}
	return files, nil
}

// resultsExist reports whether both result files of name exist under dir.
func resultsExist(dir, name string) bool {
	j, t := results.Paths(dir, name)
	_, jerr := os.Stat(j)
	_, terr := os.Stat(t)
	return jerr == nil && terr == nil
}
