package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// command prepares name with args in its own process group, so that
// cancelling ctx (Ctrl-C) stops it and every process it started (ocrmypdf
// runs tesseract children): SIGTERM to the group, SIGKILL 5 s later. env is
// added to the bench's own environment.
func command(ctx context.Context, env []string, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// runTool runs a command to completion (see command) and returns its
// standard output.
func runTool(ctx context.Context, env []string, name string, args ...string) ([]byte, error) {
	return runCmd(command(ctx, env, name, args...))
}

// runCmd runs a prepared command and returns its standard output; on
// failure the error carries the command line and the end of its standard
// error.
func runCmd(cmd *exec.Cmd) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s: %w: %s", strings.Join(cmd.Args, " "), err, tail(stderr.String(), 400))
	}
	return stdout.Bytes(), nil
}

// peakRSSOf is the peak resident set size in KiB of an exited command: the
// largest of the process and of the descendants it waited for, as wait4
// reports it.
func peakRSSOf(cmd *exec.Cmd) int64 {
	if cmd.ProcessState == nil {
		return 0
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		return ru.Maxrss
	}
	return 0
}

// tail returns the last n bytes of s, trimmed.
func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return s
}

// forEach calls f(i) for every i in [0, n) from workers goroutines, each
// taking the next index when it is free. After the first error (or when ctx
// ends) no new index is handed out; that error is returned.
func forEach(ctx context.Context, n, workers int, f func(i int) error) error {
	next := make(chan int)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if first == nil {
			first = err
		}
	}
	failed := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return first != nil
	}
	for range max(1, min(workers, n)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := f(i); err != nil {
					fail(err)
				}
			}
		}()
	}
	for i := 0; i < n && !failed(); i++ {
		select {
		case next <- i:
		case <-ctx.Done():
			fail(ctx.Err())
		}
	}
	close(next)
	wg.Wait()
	return first
}

// missingTool returns the Debian package to install for the first of tools
// not found on PATH, or "" when all are there.
func missingTool(tools ...string) string {
	packages := map[string]string{
		"pdftoppm": "poppler-utils", "pdftotext": "poppler-utils", "pdfinfo": "poppler-utils",
		"convert": "imagemagick", "img2pdf": "img2pdf",
		"tesseract": "tesseract-ocr tesseract-ocr-eng", "ocrmypdf": "ocrmypdf",
		"pdfimages": "poppler-utils", "tiffcp": "libtiff-tools", "tiff2pdf": "libtiff-tools", "qpdf": "qpdf",
	}
	for _, t := range tools {
		if _, err := exec.LookPath(t); err != nil {
			if p, ok := packages[t]; ok {
				return p
			}
			return t
		}
	}
	return ""
}

// toolVersion is the first line a tool prints for its version flag (on
// standard output or standard error), or "" when it cannot say.
func toolVersion(name string, args ...string) string {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil && len(out) == 0 {
		return ""
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return strings.TrimSpace(line)
}

// errSkipped marks a row that could not run for a reason the reader can fix
// (a missing tool, no Redis); its text is shown in place of figures.
var errSkipped = errors.New("skipped")
