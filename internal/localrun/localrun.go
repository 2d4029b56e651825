// Package localrun builds Folio's api and worker commands and runs them as
// local processes against a given Redis and Cloud Storage emulator, for the
// end-to-end tests and the benchmark command.
package localrun

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/folio-ocr/folio/internal/freeport"
)

// Build compiles cmd/api, cmd/worker and cmd/folio (the command-line
// client) of the module rooted at moduleDir into binDir, and compiles
// pdfium into wasmCache so workers start fast.
func Build(moduleDir, binDir, wasmCache string) error {
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	for _, cmd := range []string{"api", "worker", "folio"} {
		c := exec.Command(goBin, "build", "-o", filepath.Join(binDir, cmd), "./cmd/"+cmd)
		c.Dir = moduleDir
		if out, err := c.CombinedOutput(); err != nil {
			return fmt.Errorf("localrun: go build ./cmd/%s: %v\n%s", cmd, err, out)
		}
	}
	out, err := exec.Command(filepath.Join(binDir, "worker"), "-warmup", "-pdfium-cache-dir", wasmCache).CombinedOutput()
	if err != nil {
		return fmt.Errorf("localrun: worker -warmup: %v\n%s", err, out)
	}
	return nil
}

// Options says what the processes run against.
type Options struct {
	BinDir      string   // holds api and worker (see Build)
	LogDir      string   // each process logs to <name>-<n>.log here
	RedisURL    string   // REDIS_URL
	KeyPrefix   string   // REDIS_KEY_PREFIX
	Queue       string   // QUEUE_NAME
	StorageHost string   // STORAGE_EMULATOR_HOST
	WasmCache   string   // PDFIUM_CACHE_DIR
	Env         []string // more KEY=value settings for every process
	APIEnv      []string // more KEY=value settings for the api only (its METRICS_ADDR, say)
}

// Cluster is one api process and any number of workers.
type Cluster struct {
	// API is the api's base URL, http://127.0.0.1:PORT.
	API string
	// GRPC is the api's gRPC address, 127.0.0.1:PORT.
	GRPC string

	opts   Options
	env    []string
	apiEnv []string // the api's own settings: its addresses and Options.APIEnv

	mu    sync.Mutex
	procs []*Proc // every process ever spawned, exited ones included
	api   *Proc   // the current api
	n     int
}

// Proc is a started process. Done is closed when it has exited; then
// ProcessState is set.
type Proc struct {
	*exec.Cmd
	Done chan struct{}
	Log  string // path of its log file
}

// Start starts the api on a free port and waits until it is ready.
func Start(opts Options) (*Cluster, error) {
	c := &Cluster{opts: opts}
	c.env = append(os.Environ(),
		"REDIS_URL="+opts.RedisURL,
		"REDIS_KEY_PREFIX="+opts.KeyPrefix,
		"QUEUE_NAME="+opts.Queue,
		"STORAGE_EMULATOR_HOST="+opts.StorageHost,
		"PDFIUM_CACHE_DIR="+opts.WasmCache,
		"OMP_THREAD_LIMIT=1",
	)
	c.env = append(c.env, opts.Env...)
	addr, err := freeport.Addr()
	if err != nil {
		return nil, err
	}
	if c.GRPC, err = freeport.Addr(); err != nil {
		return nil, err
	}
	c.API = "http://" + addr
	c.apiEnv = append([]string{"LISTEN_ADDR=" + addr, "GRPC_LISTEN_ADDR=" + c.GRPC}, opts.APIEnv...)
	if err := c.startAPI(); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// startAPI spawns an api with the cluster's api settings, makes it the
// current one and waits until it is ready.
func (c *Cluster) startAPI() error {
	p, err := c.spawn("api", c.apiEnv...)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.api = p
	c.mu.Unlock()
	return c.waitReady(p, 20*time.Second)
}

// APIProc returns the current api process.
func (c *Cluster) APIProc() *Proc {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.api
}

// RestartAPI sends sig to the current api process (SIGKILL for a crash,
// SIGTERM for a graceful stop), waits up to 30 s for it to exit, then
// starts a new api on the same REST and gRPC addresses with the same
// settings and waits until its /readyz answers 200. Close stops the new
// one as it stops every process.
func (c *Cluster) RestartAPI(sig os.Signal) error {
	old := c.APIProc()
	if err := old.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("localrun: signal api: %w", err)
	}
	select {
	case <-old.Done:
	case <-time.After(30 * time.Second):
		return fmt.Errorf("localrun: api still running 30s after %v", sig)
	}
	return c.startAPI()
}

// StartWorker starts a worker with its own file cache and the given extra
// settings (for example WORKER_CONCURRENCY=2).
func (c *Cluster) StartWorker(env ...string) (*Proc, error) {
	cache, err := os.MkdirTemp(c.opts.LogDir, "cache-")
	if err != nil {
		return nil, fmt.Errorf("localrun: %w", err)
	}
	return c.spawn("worker", append([]string{"CACHE_DIR=" + cache}, env...)...)
}

func (c *Cluster) spawn(name string, env ...string) (*Proc, error) {
	c.mu.Lock()
	c.n++
	path := filepath.Join(c.opts.LogDir, fmt.Sprintf("%s-%d.log", name, c.n))
	c.mu.Unlock()
	log, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("localrun: %w", err)
	}
	cmd := exec.Command(filepath.Join(c.opts.BinDir, name))
	cmd.Env = append(slices.Clone(c.env), env...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		_ = log.Close()
		return nil, fmt.Errorf("localrun: start %s: %w", name, err)
	}
	p := &Proc{Cmd: cmd, Done: make(chan struct{}), Log: path}
	go func() {
		_ = cmd.Wait()
		_ = log.Close()
		close(p.Done)
	}()
	c.mu.Lock()
	c.procs = append(c.procs, p)
	c.mu.Unlock()
	return p, nil
}

// waitReady polls the api's /readyz until it answers 200, p (the api
// process) exits, or d has passed.
func (c *Cluster) waitReady(p *Proc, d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		select {
		case <-p.Done:
			return fmt.Errorf("localrun: api exited (%v) before it was ready; see %s", p.ProcessState, p.Log)
		default:
		}
		resp, err := http.Get(c.API + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("localrun: api not ready after " + d.String())
}

// Logs returns the paths of every process's log file.
func (c *Cluster) Logs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var paths []string
	for _, p := range c.procs {
		paths = append(paths, p.Log)
	}
	return paths
}

// Close stops every process with SIGTERM, and SIGKILL after 15 s; those
// that have exited already are skipped.
func (c *Cluster) Close() {
	c.mu.Lock()
	procs := slices.Clone(c.procs)
	c.mu.Unlock()
	for _, p := range procs {
		select {
		case <-p.Done:
		default:
			_ = p.Process.Signal(syscall.SIGTERM) // os.ErrProcessDone if it exited just now
		}
	}
	for _, p := range procs {
		select {
		case <-p.Done:
		case <-time.After(15 * time.Second):
			_ = p.Process.Kill()
			<-p.Done
		}
	}
}
