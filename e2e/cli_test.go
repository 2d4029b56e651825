package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	lroauto "cloud.google.com/go/longrunning/autogen"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/creack/pty"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"

	"github.com/folio-ocr/folio/internal/localrun"
	"github.com/folio-ocr/folio/internal/pdfgen"
)

// cliEnv returns the environment of a folio command run against f:
// FOLIO_ENDPOINT is endpoint (f.API for REST, f.GRPC for gRPC), and no
// config file of the user's is read.
func (f *folio) cliEnv(endpoint string) []string {
	cfg := f.t.TempDir()
	return append(os.Environ(),
		"FOLIO_ENDPOINT="+endpoint, "FOLIO_BUCKET="+bucket, "FOLIO_PREFIX=cli/",
		"STORAGE_EMULATOR_HOST="+os.Getenv("STORAGE_EMULATOR_HOST"),
		"XDG_CONFIG_HOME="+cfg, "HOME="+cfg, "FOLIO_API_KEY=e2e-key")
}

// folioCmd returns the folio command with args, run against f's REST
// endpoint unless env says otherwise.
func (f *folio) folioCmd(env []string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(binDir, "folio"), args...)
	cmd.Env = append(f.cliEnv(f.API), env...)
	return cmd
}

// runFolio runs folio to the end and returns its stdout and stderr and its
// exit status.
func (f *folio) runFolio(env []string, args ...string) (string, string, int) {
	f.t.Helper()
	cmd := f.folioCmd(env, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		f.t.Fatalf("folio %v: %v", args, err)
	}
	return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
}

// writeFiles writes name -> content under dir.
func writeFiles(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// scan reads a fixture of testdata/scans.
func scan(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "testdata", "scans", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// checkText checks that out/NAME.txt has want pages, page i starting
// with "Page i of want", and that NAME.json holds want responses.
func checkText(t *testing.T, out, name string, want int) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(out, name+".txt"))
	if err != nil {
		t.Error(err)
		return
	}
	pages := strings.Split(string(data), "\f")
	if len(pages) != want {
		t.Errorf("%s.txt has %d pages, want %d", name, len(pages), want)
	}
	for i, p := range pages {
		if prefix := fmt.Sprintf("Page %d of %d\n", i+1, want); !strings.HasPrefix(p, prefix) {
			t.Errorf("%s.txt page %d starts %.40q, want %q", name, i+1, p, prefix)
		}
	}
	var merged struct {
		Responses []json.RawMessage `json:"responses"`
	}
	data, err = os.ReadFile(filepath.Join(out, name+".json"))
	if err == nil {
		err = json.Unmarshal(data, &merged)
	}
	if err != nil || len(merged.Responses) != want {
		t.Errorf("%s.json: %d responses, %v; want %d", name, len(merged.Responses), err, want)
	}
}

// operations lists every operation of f's deployment.
func (f *folio) operations() []*longrunningpb.Operation {
	f.t.Helper()
	ctx := testContext(f.t, 30*time.Second)
	c, err := lroauto.NewOperationsRESTClient(ctx, option.WithEndpoint(f.API), option.WithoutAuthentication())
	if err != nil {
		f.t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	it := c.ListOperations(ctx, &longrunningpb.ListOperationsRequest{Name: "operations"})
	var ops []*longrunningpb.Operation
	for {
		op, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return ops
		}
		if err != nil {
			f.t.Fatal(err)
		}
		ops = append(ops, op)
	}
}

// On a terminal: the bar is redrawn in place while pages are read, files
// are listed as they finish, and the summary ends the run.
func TestCLITerminal(t *testing.T) {
	f := start(t, 0)
	in, out := t.TempDir(), t.TempDir()
	writeFiles(t, in, map[string][]byte{
		"a.pdf": pdfgen.Document(12), "b.pdf": pdfgen.Document(5), "sub/c.pdf": pdfgen.Document(3),
	})
	cmd := f.folioCmd(nil, "annotate", in, "--out", out, "--batch-size", "2", "--poll-interval", "100ms")
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 30, Cols: 120})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tty.Close() }()
	var (
		mu     sync.Mutex
		output bytes.Buffer
	)
	read := make(chan struct{})
	go func() {
		defer close(read)
		buf := make([]byte, 4096)
		for {
			n, err := tty.Read(buf)
			mu.Lock()
			output.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	time.Sleep(time.Second) // the bar waits at 0 with no worker
	f.StartWorker()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("folio annotate still running after 60s")
	}
	<-read
	mu.Lock()
	got := output.String()
	mu.Unlock()
	if err != nil {
		t.Fatalf("folio annotate: %v\n%s", err, got)
	}
	// mpb redraws by moving the cursor up (ESC [ n A) and clearing.
	if n := strings.Count(got, "\x1b["); n < 3 {
		t.Errorf("%d ANSI sequences, want the bar redrawn several times:\n%q", n, got)
	}
	for _, want := range []string{"pages 20/20", "done    a  12 pages", "done    sub/c  3 pages",
		"Summary: 3 files: 3 written, 0 complete already, 0 failed; 20 pages, 0 failed"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	checkText(t, out, "a", 12)
	checkText(t, out, "b", 5)
	checkText(t, out, "sub/c", 3)
}

// Without a terminal: plain lines, no redraws; over gRPC; TIFF and GIF
// inputs; then status, ls and text on the results.
func TestCLIPlain(t *testing.T) {
	f := start(t, 0)
	in, out := t.TempDir(), t.TempDir()
	writeFiles(t, in, map[string][]byte{"doc.pdf": pdfgen.Document(4), "jpeg.tiff": scan(t, "jpeg.tiff")})
	cmd := f.folioCmd([]string{"FOLIO_ENDPOINT=" + f.GRPC}, "annotate", in, "--out", out,
		"--poll-interval", "100ms", "--progress-interval", "200ms")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	f.StartWorker()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("folio annotate: %v\nstdout:\n%s\nstderr:\n%s", err, &stdout, &stderr)
	}
	got := stdout.String()
	if strings.ContainsAny(got, "\r\x1b") {
		t.Errorf("plain output has carriage returns or escapes:\n%q", got)
	}
	for _, want := range []string{"2 files: 0 complete already, 0 in 0 running operations, 2 to submit",
		"files 0/2", "done    doc  4 pages", "done    jpeg  2 pages", "Summary: 2 files: 2 written"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	checkText(t, out, "doc", 4)
	tiff, err := os.ReadFile(filepath.Join(out, "jpeg.txt"))
	if err != nil || strings.Count(string(tiff), "\f") != 1 || len(tiff) < 100 {
		t.Errorf("jpeg.txt: %d bytes, %d form feeds, %v; want two pages of OCR text", len(tiff), strings.Count(string(tiff), "\f"), err)
	}

	ops := f.operations()
	if len(ops) != 1 {
		t.Fatalf("%d operations, want 1", len(ops))
	}
	name := ops[0].GetName()
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"status", name}, []string{name, "DONE", "pages 6/6 done, 0 failed", ".tiff: 2/2 pages"}},
		{[]string{"ls", "--filter", "done=true"}, []string{name + "\tDONE"}},
		{[]string{"wait", name}, []string{name + ": DONE"}},
		{[]string{"text", filepath.Join(out, "doc.json")}, []string{"Page 1 of 4\n", "\fPage 4 of 4\n"}},
	} {
		for _, ep := range []string{f.API, f.GRPC} {
			stdout, stderr, code := f.runFolio([]string{"FOLIO_ENDPOINT=" + ep}, tc.args...)
			for _, w := range tc.want {
				if code != 0 || !strings.Contains(stdout, w) {
					t.Errorf("folio %v (%s): status %d, stdout lacks %q:\n%s%s", tc.args, ep, code, w, stdout, stderr)
				}
			}
		}
	}
}

// Killed mid-run (SIGKILL, after it submitted), the same command run
// again follows the operations it had started: no file is submitted
// twice, and every result is written. A third run skips everything.
func TestCLIResume(t *testing.T) {
	f := start(t, 0) // no worker: the operations wait
	in, out := t.TempDir(), t.TempDir()
	files := map[string][]byte{}
	for i := range 6 {
		files[fmt.Sprintf("doc%d.pdf", i)] = pdfgen.Document(i + 2)
	}
	writeFiles(t, in, files)
	args := []string{"annotate", in, "--out", out, "--files-per-operation", "2", "--poll-interval", "100ms"}
	cmd := f.folioCmd(nil, args...)
	var first bytes.Buffer
	cmd.Stdout, cmd.Stderr = &first, &first
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, func() bool {
		var st struct {
			Files map[string]struct{ Operation string }
		}
		data, err := os.ReadFile(filepath.Join(out, ".folio-state.json"))
		if err != nil || json.Unmarshal(data, &st) != nil {
			return false
		}
		ops := map[string]bool{}
		for _, e := range st.Files {
			ops[e.Operation] = true
		}
		return len(ops) == 3
	})
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	if n := len(f.operations()); n != 3 {
		t.Fatalf("%d operations after the first run, want 3\n%s", n, &first)
	}

	f.StartWorker()
	stdout, stderr, code := f.runFolio(nil, args...)
	if code != 0 {
		t.Fatalf("second run: status %d\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "6 files: 0 complete already, 6 in 3 running operations, 0 to submit") ||
		strings.Contains(stdout, "submitted") {
		t.Errorf("second run did not follow the first run's operations:\n%s", stdout)
	}
	if n := len(f.operations()); n != 3 {
		t.Errorf("%d operations after the second run, want 3 (a file was submitted twice)", n)
	}
	for i := range 6 {
		checkText(t, out, fmt.Sprintf("doc%d", i), i+2)
	}

	stdout, stderr, code = f.runFolio(nil, args...)
	if code != 0 || !strings.Contains(stdout, "6 files: 6 complete already") || len(f.operations()) != 3 {
		t.Errorf("third run: status %d, %d operations:\n%s%s", code, len(f.operations()), stdout, stderr)
	}
}

// A folder with a truncated PDF among good files: the good files' text is
// written, the bad one is reported with its reason, and the status is 3.
func TestCLICorruptFile(t *testing.T) {
	f := start(t, 1)
	in, out := t.TempDir(), t.TempDir()
	writeFiles(t, in, map[string][]byte{
		"good1.pdf": pdfgen.Document(3), "good2.pdf": pdfgen.Document(2), "nested/good3.pdf": pdfgen.Document(4),
		"bad.pdf": pdfgen.Document(5)[:300], "notes.txt": []byte("not an input"), "animated.gif": scan(t, "animated.gif"),
	})
	stdout, stderr, code := f.runFolio(nil, "annotate", in, "--out", out, "--poll-interval", "100ms")
	if code != 3 {
		t.Errorf("status %d, want 3\n%s%s", code, stdout, stderr)
	}
	checkText(t, out, "good1", 3)
	checkText(t, out, "good2", 2)
	checkText(t, out, "nested/good3", 4)
	if gif, err := os.ReadFile(filepath.Join(out, "animated.txt")); err != nil || strings.Count(string(gif), "\f") != 2 {
		t.Errorf("animated.txt: %v, want three frames of text", err)
	}
	if _, err := os.Stat(filepath.Join(out, "bad.txt")); err == nil {
		t.Error("bad.txt written for a corrupt file")
	}
	report, err := os.ReadFile(filepath.Join(out, "folio-report.txt"))
	bad := filepath.Join(in, "bad.pdf")
	if err != nil || !strings.HasPrefix(string(report), bad+": file failed: InvalidArgument: ") {
		t.Errorf("report %q, %v; want a line for %s with its reason", report, err, bad)
	}
	if !strings.Contains(stdout, "FAILED  bad: InvalidArgument") || !strings.Contains(stdout, "Summary: 5 files: 4 written, 0 complete already, 1 failed") {
		t.Errorf("output lacks the failure or the summary:\n%s", stdout)
	}

	// Run again: the good files are skipped, the bad one is reported again
	// from its operation, not submitted again.
	ops := len(f.operations())
	stdout, _, code = f.runFolio(nil, "annotate", in, "--out", out, "--poll-interval", "100ms")
	if code != 3 || !strings.Contains(stdout, "5 files: 4 complete already, 1 in 1 running operations, 0 to submit") || len(f.operations()) != ops {
		t.Errorf("second run: status %d, operations %d (were %d):\n%s", code, len(f.operations()), ops, stdout)
	}
}

// The api killed and restarted while folio follows its operation: folio
// retries the refused polls with backoff and finishes.
func TestCLIAPIRestart(t *testing.T) {
	for _, transport := range []string{"rest", "grpc"} {
		t.Run(transport, func(t *testing.T) {
			f := start(t, 0)
			in, out := t.TempDir(), t.TempDir()
			writeFiles(t, in, map[string][]byte{"a.pdf": pdfgen.Document(3), "b.pdf": pdfgen.Document(2)})
			ep := f.API
			if transport == "grpc" {
				ep = f.GRPC
			}
			cmd := f.folioCmd([]string{"FOLIO_ENDPOINT=" + ep}, "annotate", in, "--out", out, "--poll-interval", "100ms")
			var stdout bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stdout
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 30*time.Second, func() bool {
				_, err := os.Stat(filepath.Join(out, ".folio-state.json"))
				return err == nil
			})
			if err := f.RestartAPI(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			f.StartWorker()
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("folio annotate: %v\n%s", err, &stdout)
				}
			case <-time.After(60 * time.Second):
				_ = cmd.Process.Kill()
				t.Fatalf("folio annotate still running 60s after the restart\n%s", &stdout)
			}
			checkText(t, out, "a", 3)
			checkText(t, out, "b", 2)
			if n := len(f.operations()); n != 1 {
				t.Errorf("%d operations, want 1", n)
			}
		})
	}
}

// ptyRun is a folio command on a pseudo-terminal, its output collected.
type ptyRun struct {
	cmd  *exec.Cmd
	tty  *os.File
	mu   sync.Mutex
	out  bytes.Buffer
	done chan error
	read chan struct{} // closed when the terminal has no more to read
}

// startPTY starts cmd on a 30×120 pseudo-terminal.
func startPTY(t *testing.T, cmd *exec.Cmd) *ptyRun {
	t.Helper()
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 30, Cols: 120})
	if err != nil {
		t.Fatal(err)
	}
	r := &ptyRun{cmd: cmd, tty: tty, done: make(chan error, 1), read: make(chan struct{})}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = tty.Close() })
	go func() {
		defer close(r.read)
		buf := make([]byte, 4096)
		for {
			n, err := tty.Read(buf)
			r.mu.Lock()
			r.out.Write(buf[:n])
			r.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	go func() { r.done <- cmd.Wait() }()
	return r
}

// output returns what the command wrote so far.
func (r *ptyRun) output() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.out.String()
}

// waitOutput waits until the output holds s.
func (r *ptyRun) waitOutput(t *testing.T, s string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(r.output(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q after 30s in:\n%s", s, r.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// exit waits for the command, and for the last of its output, and returns
// its exit status.
func (r *ptyRun) exit(t *testing.T) int {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("still running 30s later:\n%s", r.output())
	}
	select {
	case <-r.read:
	case <-time.After(5 * time.Second):
	}
	return r.cmd.ProcessState.ExitCode()
}

// Ctrl-C on a terminal asks whether to cancel the operations on the
// server: "y" cancels them and exits 130; a second Ctrl-C exits 130 and
// leaves them running, saying so. (No worker runs, so the operation waits.)
// The same files submitted again after the cancel get a new operation.
func TestCLIInterrupt(t *testing.T) {
	f := start(t, 0)
	for _, tt := range []struct {
		name      string
		answer    string // typed after the prompt
		say       string // what folio says as it exits
		wantState string // the operation's state after
	}{
		{"cancel", "y\r", "cancelled 1 operations", "CANCELLED"},
		{"leave running", "\x03", "left running on the server", "CREATED"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in, out := t.TempDir(), t.TempDir()
			writeFiles(t, in, map[string][]byte{tt.name + ".pdf": pdfgen.Document(3)})
			r := startPTY(t, f.folioCmd(nil, "annotate", in, "--out", out, "--poll-interval", "100ms"))
			r.waitOutput(t, "submitted operations/")
			time.Sleep(300 * time.Millisecond)                // polling
			if _, err := r.tty.Write([]byte{3}); err != nil { // Ctrl-C
				t.Fatal(err)
			}
			r.waitOutput(t, "Cancel the 1 operations on the server? [y/N]")
			if _, err := r.tty.Write([]byte(tt.answer)); err != nil {
				t.Fatal(err)
			}
			if code := r.exit(t); code != 130 {
				t.Errorf("exit status %d, want 130:\n%s", code, r.output())
			}
			if !strings.Contains(r.output(), tt.say) {
				t.Errorf("folio does not say %q:\n%s", tt.say, r.output())
			}
			name := r.output()[strings.Index(r.output(), "submitted operations/")+len("submitted "):]
			name = strings.Fields(strings.TrimSuffix(strings.Fields(name)[0], ":"))[0]
			stdout, _, _ := f.runFolio(nil, "status", name)
			if !strings.Contains(stdout, tt.wantState) {
				t.Errorf("folio status %s after the interrupt: %q, want state %s", name, stdout, tt.wantState)
			}
		})
	}
	// Both files again, in one operation of their own, with a worker now:
	// the cancelled one is done again, not reported as cancelled.
	f.StartWorker()
	in, out := t.TempDir(), t.TempDir()
	writeFiles(t, in, map[string][]byte{"again.pdf": pdfgen.Document(3)})
	stdout, stderr, code := f.runFolio(nil, "annotate", in, "--out", out, "--poll-interval", "100ms")
	if code != 0 || !strings.Contains(stdout, "was cancelled; submitting its files again") {
		t.Errorf("annotate after a cancel: exit %d\n%s%s", code, stdout, stderr)
	}
	checkText(t, out, "again", 3)
}

// Against workers with FILE_ERRORS=continue, a corrupt file does not end
// its operation: folio writes the good files from that one operation,
// reports the corrupt one with the server's reason, and exits 3.
func TestCLIFileErrorsContinue(t *testing.T) {
	f := start(t, 1, func(o *localrun.Options) { o.Env = append(o.Env, "FILE_ERRORS=continue") })
	in, out := t.TempDir(), t.TempDir()
	good := pdfgen.Document(4)
	writeFiles(t, in, map[string][]byte{"a.pdf": good, "bad.pdf": good[:len(good)/2], "c.pdf": pdfgen.Document(2)})
	stdout, stderr, code := f.runFolio(nil, "annotate", in, "--out", out, "--poll-interval", "100ms")
	if code != 3 {
		t.Errorf("exit status %d, want 3\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "FAILED  bad") || strings.Count(stdout, "submitted operations/") != 1 {
		t.Errorf("want bad reported failed from the one operation:\n%s", stdout)
	}
	checkText(t, out, "a", 4)
	checkText(t, out, "c", 2)
	report, err := os.ReadFile(filepath.Join(out, "folio-report.txt"))
	if err != nil || !strings.Contains(string(report), "bad.pdf") {
		t.Errorf("report %q (%v) does not name bad.pdf", report, err)
	}
}
