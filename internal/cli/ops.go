package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"

	"github.com/folio-ocr/folio/internal/cli/display"
	"github.com/folio-ocr/folio/internal/cli/remote"
	"github.com/folio-ocr/folio/progresspb"
)

const statusUsage = `
Usage: folio status OPERATION... [flags]

Prints the state of each operation (operations/ID, or the ID alone) and,
from Folio's progress extension, its pages done, failed and total per file.

Examples:
  folio status operations/3f9c0d2a1b4e5f60
  folio status 3f9c0d2a1b4e5f60 --endpoint localhost:8081
`

func runStatus(ctx context.Context, env Env, args []string) error {
	return forEachOperation(ctx, env, "status", statusUsage, args, func(c *remote.Client, name string) error {
		return printStatus(ctx, env.Stdout, c, name)
	})
}

// forEachOperation parses the arguments of the subcommand cmd (operation
// names and the connection flags), dials, and calls do for each operation
// named, in order, stopping at the first error.
func forEachOperation(ctx context.Context, env Env, cmd, usage string, args []string, do func(c *remote.Client, name string) error) error {
	var cf connFlags
	fs := newFlagSet(env, cmd, usage)
	cf.register(fs)
	names, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		fs.Usage()
		return usageError("name an operation")
	}
	c, err := connect(ctx, env, cf)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	for _, n := range names {
		if err := do(c, remote.OperationName(n)); err != nil {
			return err
		}
	}
	return nil
}

// connect loads the settings, applies cf and dials.
func connect(ctx context.Context, env Env, cf connFlags) (*remote.Client, error) {
	cfg, err := cf.settings(env)
	if err != nil {
		return nil, err
	}
	return dial(ctx, cfg)
}

// printStatus prints one operation's state and progress.
func printStatus(ctx context.Context, w io.Writer, c *remote.Client, name string) error {
	op, err := c.Operation(ctx, name)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s\n  %s\n", op.GetName(), describe(op))
	p, err := c.Progress(ctx, name)
	if err == remote.ErrNoProgress {
		return nil
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "  pages %d/%d done, %d failed; files %d planned of %d", p.GetPagesDone(), p.GetPagesTotal(), p.GetPagesFailed(), p.GetFilesPlanned(), p.GetFilesTotal())
	if p.GetPagesPerSecond() > 0 {
		fmt.Fprintf(w, "; %.1f pages/s", p.GetPagesPerSecond())
	}
	if p.GetEta() != nil {
		fmt.Fprintf(w, "; ETA %s", p.GetEta().AsDuration())
	}
	fmt.Fprintln(w)
	for _, f := range p.GetFiles() {
		fmt.Fprintf(w, "  %s: %d/%d pages", f.GetInputUri(), f.GetPagesDone(), f.GetPagesTotal())
		if f.GetPagesFailed() > 0 {
			fmt.Fprintf(w, ", %d failed", f.GetPagesFailed())
		}
		if !f.GetPlanned() {
			fmt.Fprint(w, " (not planned yet)")
		}
		fmt.Fprintf(w, " -> %s\n", f.GetOutputUriPrefix())
	}
	return nil
}

// describe returns an operation's state in one line.
func describe(op *longrunningpb.Operation) string {
	state := "?"
	var created string
	if m := remote.Metadata(op); m != nil {
		state = m.GetState().String()
		created = m.GetCreateTime().AsTime().Local().Format(time.DateTime)
	}
	s := state
	if created != "" {
		s += ", created " + created
	}
	if e := op.GetError(); e != nil {
		s += fmt.Sprintf(", error %d: %s", e.GetCode(), e.GetMessage())
	} else if op.GetDone() {
		s += ", done"
	}
	return s
}

const waitUsage = `
Usage: folio wait OPERATION [flags]

Waits until the operation is done, showing its progress (a bar on a
terminal, a line every --progress-interval otherwise), and retrying while
the server is unavailable. Exit status 0 if it succeeded, 3 if it ended
with an error, 130 if interrupted (the operation keeps running).

Examples:
  folio wait operations/3f9c0d2a1b4e5f60
  folio wait 3f9c0d2a1b4e5f60 && folio text gs://my-bucket/out/
`

func runWait(ctx context.Context, env Env, args []string) error {
	var cf connFlags
	fs := newFlagSet(env, "wait", waitUsage)
	cf.register(fs)
	poll := fs.Duration("poll-interval", time.Second, "how often the operation is polled")
	interval := fs.Duration("progress-interval", 10*time.Second, "how often a progress line is printed when stdout is not a terminal")
	names, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(names) != 1 {
		fs.Usage()
		return usageError("name one operation")
	}
	if *poll <= 0 || *interval <= 0 {
		return usageError("--poll-interval and --progress-interval must be positive")
	}
	c, err := connect(ctx, env, cf)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	name := remote.OperationName(names[0])
	var disp display.Display
	if display.IsTerminal(env.Stdout) {
		disp = display.Terminal(env.Stdout)
	} else {
		disp = display.Plain(env.Stdout, *interval)
	}
	start := time.Now()
	op, err := waitOp(ctx, env, c, disp, name, *poll)
	disp.Close()
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "%s: %s (%s)\n", op.GetName(), describe(op), since(start))
	if op.GetError() != nil {
		return &exitError{code: ExitFailures}
	}
	return nil
}

// waitOp polls the named operation until it is done.
func waitOp(ctx context.Context, env Env, c *remote.Client, disp display.Display, name string, poll time.Duration) (*longrunningpb.Operation, error) {
	noProgress := false
	for {
		if !noProgress {
			p, err := c.Progress(ctx, name)
			switch {
			case err == remote.ErrNoProgress:
				noProgress = true
			case err != nil:
				return nil, err
			default:
				disp.Update(statsOf(p))
			}
		}
		op, err := c.Operation(ctx, name)
		if err != nil {
			return nil, err
		}
		if op.GetDone() {
			return op, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case sig := <-env.Signals:
			return nil, &exitError{code: ExitInterrupted, msg: fmt.Sprintf("interrupted (%v); %s keeps running on the server", sig, name)}
		case <-time.After(poll):
		}
	}
}

// statsOf returns the display figures of an operation's progress.
func statsOf(p *progresspb.OperationProgress) display.Stats {
	s := display.Stats{FilesTotal: int(p.GetFilesTotal()), PagesDone: int(p.GetPagesDone()),
		PagesTotal: int(p.GetPagesTotal()), PagesFailed: int(p.GetPagesFailed())}
	for _, f := range p.GetFiles() {
		if f.GetPlanned() && f.GetPagesDone() == f.GetPagesTotal() {
			s.FilesDone++
		}
	}
	return s
}

const cancelUsage = `
Usage: folio cancel OPERATION... [flags]

Asks the server to cancel each operation: queued pages are skipped,
running ones stop at the next page, and the operation ends CANCELLED.

Example:
  folio cancel operations/3f9c0d2a1b4e5f60
`

func runCancel(ctx context.Context, env Env, args []string) error {
	return forEachOperation(ctx, env, "cancel", cancelUsage, args, func(c *remote.Client, name string) error {
		if err := c.Cancel(ctx, name); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "cancelled %s\n", name)
		return nil
	})
}

const listUsage = `
Usage: folio ls [OPERATION...] [flags]

Lists operations, newest first: name, state, creation time and error. With
operations named, shows those.

Examples:
  folio ls
  folio ls --filter done=false
  folio ls --filter state=RUNNING --limit 5
`

func runList(ctx context.Context, env Env, args []string) error {
	var cf connFlags
	fs := newFlagSet(env, "ls", listUsage)
	cf.register(fs)
	filter := fs.String("filter", "", "Folio's filter: done=true, done=false, state=CREATED|RUNNING|DONE|CANCELLED, joined by ' AND '")
	limit := fs.Int("limit", 50, "most operations listed")
	names, err := parse(fs, args)
	if err != nil {
		return err
	}
	if *limit < 1 {
		return usageError("--limit must be positive")
	}
	c, err := connect(ctx, env, cf)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	var ops []*longrunningpb.Operation
	if len(names) > 0 {
		for _, n := range names {
			op, err := c.Operation(ctx, remote.OperationName(n))
			if err != nil {
				return err
			}
			ops = append(ops, op)
		}
	} else if ops, err = c.List(ctx, *filter, *limit); err != nil {
		return err
	}
	for _, op := range ops {
		fmt.Fprintf(env.Stdout, "%s\t%s\n", op.GetName(), strings.ReplaceAll(describe(op), "\n", " "))
	}
	return nil
}
