// Command bench measures Folio's throughput side by side with reference
// tools, on the same pages and the same cores, and prints one markdown table
// headed by the command line and the machine.
//
//	go run ./bench                          # both sets, 10 scanned pages
//	go run ./bench -scan-pages 20           # the full scanned set
//	go run ./bench -born=false -scan-pages 3
//	go run ./bench -born=false -scan-pages 6 -keep-logs -worker-env LOG_LEVEL=debug
//	go run ./bench -scanned=false -pdf big.pdf -runs 5
//	go run ./bench -scanned=false -born-book=false -runs 1
//	go run ./bench -scanned=false -born=false -memory 10,2000
//	go run ./bench -profile                 # where born-digital time goes
//
// Scanned set (-scanned): pages of a born-digital PDF (-scan-src, default
// Debian's R-intro.pdf) rendered at 300 DPI gray, degraded like a scanner
// and joined into one image-only PDF, built once into -corpus-dir (as
// /work/shared/research/make-corpus.sh does); the source's pdftotext is
// the ground truth. Rows, each with its character error rate:
//   - Folio end to end: api and worker processes, Redis and an in-process
//     GCS emulator; wall time from POST to done; text read back from the
//     output files; pages answered with an error are reported as failed;
//   - the tesseract CLI, one process per core, one page image at a time;
//   - ocrmypdf --jobs N with a text sidecar.
//
// Turned scans (-turned, with -scanned; see turned.go): the scanned set's
// page JPEGs thresholded at 50% to 1 bit and stored as CCITT G4 at 300 DPI
// (convert, tiffcp, tiff2pdf, which keeps the G4 data as /CCITTFaxDecode),
// built once into the corpus directory as g4-upright.pdf (/Rotate 0) and
// g4-turned.pdf: the same pixels, the first half of the pages (rounded up)
// stored turned 90° clockwise under /Rotate 270 and the rest stored upside
// down under /Rotate 180 (set with qpdf --rotate), so that every page
// displays upright, as real scans often come. Rows, each with its CER
// against the scanned set's ground truth:
//   - Folio end to end on g4-upright.pdf;
//   - Folio end to end on g4-turned.pdf, with the target that a turned page
//     costs at most 1.2× an upright one (pages/s ≥ 1/1.2 of the upright
//     row's);
//   - the tesseract CLI, one process per core, on the page images as
//     g4-turned.pdf stores them (turned; the bare command does not detect
//     orientation, its CER shows what that costs);
//   - ocrmypdf --rotate-pages --jobs N on g4-turned.pdf with a text sidecar.
//
// Born-digital sets (-born): -pdf (set "born-digital", batchSize -batch)
// and, with -born-book (the default), a 1,027-page book of Debian's R
// manuals joined with qpdf into -corpus-dir, as the profile mode uses (set
// "born-digital book", batchSize -book-batch; skipped without qpdf or
// r-doc-pdf). Rows of each file, the targets of a row referring to rows
// of its own set:
//   - Folio end to end, defaults: the worker with no PDFIUM_* setting,
//     pdfium in child processes with its interrupt off; target ≥ 0.5×
//     pdftotext, which runs right after each of its runs (its ratio to
//     pdfium alone with the interrupt off is shown too);
//   - Folio end to end, PDFIUM_ISOLATE=false: the previous default, pdfium
//     in the worker with its interrupt on, to show the gain;
//   - Folio's pipeline in-process (interrupt on);
//   - pdfium's text extraction alone, one instance per core: in this
//     process with the interrupt on, off, and in child processes
//     (pipeline.IsolatedPDF);
//   - pdftotext -bbox-layout, one process per core.
//
// Memory set (-memory 10,2000): Folio end to end once on a scanned PDF and
// once on a born-digital PDF of each page count (the scanned set's pages and
// -pdf's pages cycled), batchSize -memory-batch, a fresh worker per row, so
// that the worker's peak RSS can be compared across file lengths.
//
// Fleet simulation (-fleet, see fleet.go): -fleet-workers worker processes
// with synthetic pages (FOLIO_SYNTHETIC_PAGE_DELAY) over -fleet-pages pages,
// each run on a redis-server of its own, reporting pages/s against the
// ideal, Redis calls and CPU per page, time to first output and range
// latency; with -fleet-kill K, again with K workers SIGKILLed mid-run.
//
// Profile mode (-profile, see profile.go): one worker per -profile-config
// (by default: defaults, PDFIUM_ISOLATE=false, and PDFIUM_ISOLATE=false
// UNIT_PAGES=0 PDFIUM_INTERRUPT=false) on the R manuals book, its CPU
// profile bucketed by stack, plus the CPU of its pdfium child processes
// read from /proc, which its profile does not see.
//
// Every OCR process, the workers included, runs with OMP_THREAD_LIMIT=1.
// A missing tool skips its rows. -keep-logs keeps the api and worker logs
// (the directory is named on standard error at the end, each Folio row's
// worker log as it starts); with -worker-env LOG_LEVEL=debug the workers
// log every page's OCR time ("page recognized"). Folio rows need Redis (-redis-url; the
// bench uses its own key prefix and queue and removes them) and the Go
// toolchain. Progress goes to standard error, the report to standard output.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// config holds the command-line flags.
type config struct {
	born        bool
	pdf         string
	bornBook    bool // also the R manuals book, as the set "born-digital book"
	bookBatch   int  // outputConfig.batchSize of the book's Folio rows
	runs        int
	batch       int
	cores       int
	redisURL    string
	scanned     bool
	turned      bool // with scanned, also the turned scans (turned.go)
	scanSrc     string
	scanFirst   int
	scanPages   int
	scanRuns    int
	scanBatch   int
	corpusDir   string
	workerEnv   []string // more KEY=value settings for the workers
	keepLogs    bool     // keep the deployment's directory with the process logs
	memory      []int    // page counts of the memory set; none: not measured
	memoryBatch int
	fleet       fleetConfig // -fleet and its flags (fleet.go)
	// The profile mode (-profile, see profile.go).
	profile           bool
	profilePDF        string // "": the R manuals book
	profileDir        string // where raw profiles are kept; "": not kept
	profileSplitPages int
	profileConfigs    []profileConfig
}

const rIntro = "/usr/share/R/doc/manual/R-intro.pdf"

// parseFlags reads args; root is the module directory, under which the
// corpus is cached by default.
func parseFlags(args []string, root string) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.BoolVar(&cfg.born, "born", true, "measure the born-digital set")
	fs.StringVar(&cfg.pdf, "pdf", rIntro, "born-digital PDF to measure")
	fs.IntVar(&cfg.runs, "runs", 3, "runs of each born-digital measurement; the median is reported")
	fs.IntVar(&cfg.batch, "batch", 20, "outputConfig.batchSize of the born-digital requests of -pdf")
	fs.BoolVar(&cfg.bornBook, "born-book", true, "with -born, also measure the born-digital rows on a 1,027-page book (the R manuals joined with qpdf into -corpus-dir)")
	fs.IntVar(&cfg.bookBatch, "book-batch", 100, "outputConfig.batchSize of the -born-book requests")
	fs.IntVar(&cfg.cores, "cores", runtime.NumCPU(), "cores to use: worker concurrency, pdfium instances, tesseract and pdftotext processes, ocrmypdf --jobs")
	fs.StringVar(&cfg.redisURL, "redis-url", envOr("REDIS_URL", "redis://127.0.0.1:6379/12"), "Redis for the end-to-end rows")
	fs.BoolVar(&cfg.scanned, "scanned", true, "measure the scanned set")
	fs.BoolVar(&cfg.turned, "turned", true, "with -scanned, also measure the turned scans: the scanned pages as bilevel G4, upright and stored turned under /Rotate")
	fs.StringVar(&cfg.scanSrc, "scan-src", rIntro, "born-digital PDF whose pages make the scanned set")
	fs.IntVar(&cfg.scanFirst, "scan-first", 10, "first source page of the scanned set")
	fs.IntVar(&cfg.scanPages, "scan-pages", 10, "pages in the scanned set (20 for the full run)")
	fs.IntVar(&cfg.scanRuns, "scan-runs", 1, "runs of each scanned measurement; the median is reported")
	fs.IntVar(&cfg.scanBatch, "scan-batch", 0, "outputConfig.batchSize of the scanned request; 0: pages/cores rounded up, one range per core")
	fs.StringVar(&cfg.corpusDir, "corpus-dir", filepath.Join(root, "data", "bench-corpus"), "cache of built scanned sets")
	fs.Func("memory", "page counts of the memory set, comma-separated (e.g. 10,2000); none by default", func(v string) error {
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				return fmt.Errorf("want positive page counts, got %q", f)
			}
			cfg.memory = append(cfg.memory, n)
		}
		return nil
	})
	fs.IntVar(&cfg.memoryBatch, "memory-batch", 100, "outputConfig.batchSize of the memory set's requests")
	fs.Func("worker-env", "KEY=value for the workers, repeatable (e.g. -worker-env PAGE_TIMEOUT=2m)", func(v string) error {
		if k, _, ok := strings.Cut(v, "="); !ok || k == "" {
			return fmt.Errorf("want KEY=value, got %q", v)
		}
		cfg.workerEnv = append(cfg.workerEnv, v)
		return nil
	})
	fs.BoolVar(&cfg.keepLogs, "keep-logs", false, "keep the api and worker logs (the deployment's temporary directory, named at the end); with -worker-env LOG_LEVEL=debug they time every page")
	cfg.fleet.bind(fs)
	fs.BoolVar(&cfg.profile, "profile", false, "profile one worker on a 1,027-page born-digital book (the R manuals) and print where its time goes (profile.go)")
	fs.StringVar(&cfg.profilePDF, "profile-pdf", "", "born-digital PDF of the profile mode (default: the R manuals joined with qpdf into -corpus-dir)")
	fs.StringVar(&cfg.profileDir, "profile-dir", "", "keep the raw pprof profiles of the profile mode here (go tool pprof reads them)")
	fs.IntVar(&cfg.profileSplitPages, "profile-split-pages", 0, "pages of the in-process pdfium phase split (0: all)")
	fs.Func("profile-config", "worker settings of the profile mode, repeatable, space-separated KEY=value list or \"defaults\" (default: defaults, PDFIUM_ISOLATE=false, PDFIUM_ISOLATE=false UNIT_PAGES=0 PDFIUM_INTERRUPT=false)", func(v string) error {
		pc := profileConfig{name: v}
		if v != "defaults" {
			pc.env = strings.Fields(v)
			for _, e := range pc.env {
				if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
					return fmt.Errorf("want KEY=value, got %q", e)
				}
			}
		}
		cfg.profileConfigs = append(cfg.profileConfigs, pc)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if len(cfg.profileConfigs) == 0 {
		cfg.profileConfigs = defaultProfileConfigs
	}
	return cfg, cfg.validate()
}

func (c config) validate() error {
	var errs []error
	for _, v := range []struct {
		name string
		n    int
	}{{"-runs", c.runs}, {"-cores", c.cores}, {"-scan-first", c.scanFirst}, {"-scan-pages", c.scanPages}, {"-scan-runs", c.scanRuns}} {
		if v.n < 1 {
			errs = append(errs, fmt.Errorf("%s must be at least 1, got %d", v.name, v.n))
		}
	}
	if c.batch < 1 || c.batch > 100 {
		errs = append(errs, fmt.Errorf("-batch must be 1 to 100, got %d", c.batch))
	}
	if c.bookBatch < 1 || c.bookBatch > 100 {
		errs = append(errs, fmt.Errorf("-book-batch must be 1 to 100, got %d", c.bookBatch))
	}
	if c.scanBatch < 0 || c.scanBatch > 100 {
		errs = append(errs, fmt.Errorf("-scan-batch must be 0 to 100, got %d", c.scanBatch))
	}
	if c.memoryBatch < 1 || c.memoryBatch > 100 {
		errs = append(errs, fmt.Errorf("-memory-batch must be 1 to 100, got %d", c.memoryBatch))
	}
	errs = append(errs, c.fleet.validate()...)
	if !c.born && !c.scanned && len(c.memory) == 0 && !c.fleet.on && !c.profile {
		errs = append(errs, errors.New("nothing to measure: -born=false, -scanned=false and no -memory"))
	}
	return errors.Join(errs...)
}

// run measures what the flags select and writes the report to out.
func run(ctx context.Context, args []string, out io.Writer) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	cfg, err := parseFlags(args, root)
	if err != nil {
		return err
	}
	if cfg.fleet.on {
		return runFleet(ctx, cfg, root, args, out)
	}
	if cfg.profile {
		return runProfile(ctx, cfg, root, args, out)
	}
	load := loadAverage()
	dep := &lazyDeployment{root: root, redisURL: cfg.redisURL, keepLogs: cfg.keepLogs}
	defer dep.Close()
	var rows []*row
	var sets []string
	if cfg.scanned {
		rs, fact := scannedRows(ctx, cfg, dep)
		rows, sets = append(rows, rs...), appendNonEmpty(sets, fact)
		if cfg.turned {
			rs, fact := turnedRows(ctx, cfg, dep)
			rows, sets = append(rows, rs...), appendNonEmpty(sets, fact)
		}
	}
	if cfg.born {
		rs, facts := bornRows(ctx, cfg, dep)
		rows, sets = append(rows, rs...), append(sets, facts...)
	}
	if len(cfg.memory) > 0 {
		rs, fact := memoryRows(ctx, cfg, dep)
		rows, sets = append(rows, rs...), appendNonEmpty(sets, fact)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return report(out, cfg, args, load, sets, rows)
}

// report writes the heading (command, machine and its load before the run,
// tools, sets), the table and how to read it.
func report(w io.Writer, cfg config, args []string, load string, sets []string, rows []*row) error {
	lines := []string{
		"## Folio benchmark",
		"",
		"`" + commandLine(args) + "`",
		"",
		fmt.Sprintf("- machine: %d cores used of %d, %s, %s/%s, %s, load average %s at start, %s", cfg.cores,
			runtime.NumCPU(), cpuModel(), runtime.GOOS, runtime.GOARCH, runtime.Version(), load,
			time.Now().Format("2006-01-02 15:04 MST")),
		"- tools: " + toolVersions(),
	}
	for _, s := range sets {
		lines = append(lines, "- "+s)
	}
	lines = append(lines, "")
	if _, err := io.WriteString(w, strings.Join(lines, "\n")+"\n"); err != nil {
		return err
	}
	if err := renderTable(w, rows); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\nTargets (DESIGN §6): scanned, Folio ≥ 0.9× tesseract and > ocrmypdf; "+
		fmt.Sprintf("turned scans, a turned page costs at most %g× an upright one (pages/s ≥ 1/%g of upright's); ", turnedMaxSlowdown, turnedMaxSlowdown)+
		"born-digital, Folio ≥ 0.5× pdftotext -bbox-layout (the ratio to pdfium's extraction alone, interrupt off, is for information). "+
		"CER: Levenshtein distance over ground-truth characters, whitespace collapsed, pages with an error left out. "+
		"Peak RSS: the worker process for Folio rows (without its pdfium child processes, by default where pdfium runs), "+
		"the largest single process otherwise.\n")
	return err
}

// commandLine is how to rerun this measurement.
func commandLine(args []string) string {
	parts := []string{"go run ./bench"}
	for _, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\"'$\\*?;&|<>()`") {
			a = strconv.Quote(a)
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

// cpuModel is the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// toolVersions lists the reference tools with their versions, or as
// missing.
func toolVersions() string {
	var vs []string
	for _, t := range []struct{ label, name, flag string }{
		{"tesseract", "tesseract", "--version"}, {"ocrmypdf", "ocrmypdf", "--version"},
		{"poppler", "pdftotext", "-v"}, {"ImageMagick", "convert", "-version"}, {"img2pdf", "img2pdf", "--version"},
		{"qpdf", "qpdf", "--version"}, {"libtiff", "tiff2pdf", "-h"},
	} {
		if missingTool(t.name) != "" {
			vs = append(vs, t.label+" missing")
			continue
		}
		vs = append(vs, t.label+" "+versionNumber(toolVersion(t.name, t.flag)))
	}
	return strings.Join(vs, ", ")
}

// versionNumber picks the first word of line that starts with a digit
// ("Version: ImageMagick 6.9.11-60 Q16 ..." gives "6.9.11-60"), or line
// itself.
func versionNumber(line string) string {
	for _, f := range strings.Fields(line) {
		if f[0] >= '0' && f[0] <= '9' {
			return f
		}
	}
	return line
}

// loadAverage is the one-minute load average, which says how noisy the
// machine was.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "unknown"
	}
	return f[0]
}

func appendNonEmpty(s []string, v string) []string {
	if v == "" {
		return s
	}
	return append(s, v)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// logf reports progress on standard error.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

// lazyDeployment starts Folio on first use, once, so that runs measuring
// only baselines need neither Redis nor a build.
type lazyDeployment struct {
	root, redisURL string
	keepLogs       bool // keep the deployment's logs at Close
	started        bool
	d              *deployment
	err            error
}

func (l *lazyDeployment) get(ctx context.Context) (*deployment, error) {
	if !l.started {
		l.started = true
		l.d, l.err = startDeployment(ctx, l.root, l.redisURL)
		if l.d != nil {
			l.d.keep = l.keepLogs
		}
	}
	return l.d, l.err
}

// Close stops the deployment if it was started.
func (l *lazyDeployment) Close() { l.d.Close() }

// measured runs f runs times and returns the run with the median wall time,
// named set, id and name. An error makes a row that shows it instead.
func measured(set, id, name string, runs int, f func() (*row, error)) *row {
	logf("measuring %s: %s", set, stripMarkup(name))
	var rs []*row
	for range runs {
		r, err := f()
		if err != nil {
			return problemRow(set, id, name, err)
		}
		rs = append(rs, r)
	}
	r := medianRow(rs)
	r.set, r.id, r.name = set, id, name
	return r
}

// medianRow is the run of median time among rs (at least one).
func medianRow(rs []*row) *row {
	rs = slices.Clone(rs)
	slices.SortFunc(rs, func(a, b *row) int { return int(a.took - b.took) })
	return rs[len(rs)/2]
}

// problemRow is a row without figures showing err briefly (the whole of it
// goes to standard error); an errSkipped error shows as a skip.
func problemRow(set, id, name string, err error) *row {
	logf("%s: %s: %v", set, stripMarkup(name), err)
	msg, _, _ := strings.Cut(err.Error(), "\n")
	if !errors.Is(err, errSkipped) {
		msg = "error: " + msg
	}
	if r := []rune(msg); len(r) > 100 {
		msg = string(r[:100]) + "… (see stderr)"
	}
	return skippedRow(set, id, name, msg)
}

func stripMarkup(s string) string { return strings.ReplaceAll(s, "**", "") }

// moduleRoot is the directory of go.mod, found from the working directory.
func moduleRoot() (string, error) {
	out, err := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run bench inside the Folio module")
	}
	return filepath.Dir(mod), nil
}

// runsText says how a row's figure was chosen among runs.
func runsText(runs int) string {
	if runs == 1 {
		return "1 run"
	}
	return fmt.Sprintf("median of %d runs", runs)
}
