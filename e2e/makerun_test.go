package e2e

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/folio-ocr/folio/internal/freeport"
)

// lockedBuffer is a bytes.Buffer safe for a process's output and a
// reading test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// freePort returns a loopback port that was free just now (see freeport).
func freePort(t *testing.T) string {
	t.Helper()
	port, err := freeport.Port()
	if err != nil {
		t.Fatal(err)
	}
	return strconv.Itoa(port)
}

// README's first command without Docker, as a newcomer runs it: `make
// run` (packages checked, binaries built, its own Redis with AOF, the GCS
// emulator, the api and a worker), then `examples/submit.sh` from another
// terminal, then Ctrl-C, which stops everything it started.
func TestMakeRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the whole local deployment")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make on PATH")
	}
	api, grpcPort, gcs, redis := freePort(t), freePort(t), freePort(t), freePort(t)
	run := exec.Command("make", "run")
	run.Dir = ".."
	run.Env = append(os.Environ(), "API_PORT="+api, "GRPC_PORT="+grpcPort, "GCS_PORT="+gcs, "REDIS_PORT="+redis,
		"DATA_DIR="+t.TempDir(), "WORKER_CONCURRENCY=1", "LOG_LEVEL=warn", "SHUTDOWN_TIMEOUT=5s")
	run.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // a terminal's Ctrl-C reaches the group
	var out lockedBuffer
	run.Stdout, run.Stderr = &out, &out
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- run.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-run.Process.Pid, syscall.SIGKILL)
		if t.Failed() {
			t.Logf("make run said:\n%s", out.String())
		}
	})
	deadline := time.Now().Add(4 * time.Minute) // builds api, worker and the emulator
	for !strings.Contains(out.String(), "Folio is running") {
		select {
		case err := <-exited:
			t.Fatalf("make run exited before Folio ran: %v", err)
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("make run: Folio not running after 4 minutes")
		}
	}

	submit := exec.Command("examples/submit.sh")
	submit.Dir = ".."
	submit.Env = append(os.Environ(), "FOLIO=http://127.0.0.1:"+api, "GCS=http://127.0.0.1:"+gcs, "TIMEOUT=120")
	got, err := submit.CombinedOutput()
	if err != nil {
		t.Fatalf("examples/submit.sh: %v\n%s", err, got)
	}
	for _, want := range []string{"output-1-to-2.json", "output-3-to-3.json", `"done": true`} {
		if !bytes.Contains(got, []byte(want)) {
			t.Errorf("examples/submit.sh does not show %s:\n%s", want, got)
		}
	}

	// Ctrl-C: everything make run started stops.
	if err := syscall.Kill(-run.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(60 * time.Second):
		t.Fatal("make run still running 60 s after Ctrl-C")
	}
	for _, port := range []string{api, gcs, redis} {
		if c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, time.Second); err == nil {
			_ = c.Close()
			t.Errorf("something still listens on port %s after Ctrl-C", port)
		}
	}
	if !strings.Contains(out.String(), "stopped") {
		t.Errorf("make run did not say it stopped:\n%s", out.String())
	}
}
