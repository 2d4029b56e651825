package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	vision "cloud.google.com/go/vision/v2/apiv1"
	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"github.com/fsouza/fake-gcs-server/fakestorage"
	"google.golang.org/api/iterator"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/folio-ocr/folio/store/storetest"
)

const bucket = "folio-e2e"

var (
	binDir     string // built cmd/api and cmd/worker
	wasmCache  string // pdfium compilation cache shared by the workers of this run
	buildError error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "folio-e2e-")
	if err != nil {
		panic(err)
	}
	binDir = filepath.Join(dir, "bin")
	wasmCache = filepath.Join(dir, "wazero")
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	for _, cmd := range []string{"api", "worker"} {
		out, err := exec.Command(goBin, "build", "-o", filepath.Join(binDir, cmd), "../cmd/"+cmd).CombinedOutput()
		if err != nil {
			buildError = fmt.Errorf("go build ./cmd/%s: %v\n%s", cmd, err, out)
			break
		}
	}
	if buildError == nil {
		// Compile pdfium once for every worker of the run.
		out, err := exec.Command(filepath.Join(binDir, "worker"), "-warmup", "-pdfium-cache-dir", wasmCache).CombinedOutput()
		if err != nil {
			buildError = fmt.Errorf("worker -warmup: %v\n%s", err, out)
		}
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// folio is one test's deployment: the api and workers as processes, a
// Redis key prefix and queue of their own, and a GCS emulator.
type folio struct {
	t       *testing.T
	env     []string
	API     string // http://127.0.0.1:PORT
	GCS     *fakestorage.Server
	Storage *storage.Client
	logs    string

	mu      sync.Mutex
	workers []*proc
}

// proc is a started process; done closes when it has exited.
type proc struct {
	*exec.Cmd
	done chan struct{}
}

func start(t *testing.T, workers int) *folio {
	t.Helper()
	if buildError != nil {
		t.Fatal(buildError)
	}
	rdb, prefix := storetest.Redis(t)
	queue := "e2e-" + storetest.UniqueID()
	t.Cleanup(func() {
		storetest.DeletePrefix(t, rdb, "asynq:{"+queue+"}")
		rdb.SRem(context.Background(), "asynq:queues", queue)
	})
	gcs, host := storetest.GCS(t, bucket)
	f := &folio{t: t, GCS: gcs, Storage: storetest.Client(t, host), logs: t.TempDir()}
	f.env = append(os.Environ(),
		"REDIS_URL="+storetest.RedisURL(),
		"REDIS_KEY_PREFIX="+prefix,
		"QUEUE_NAME="+queue,
		"STORAGE_EMULATOR_HOST="+host,
		"PDFIUM_CACHE_DIR="+wasmCache,
		"OMP_THREAD_LIMIT=1",
		"LOG_LEVEL=info",
		"SHUTDOWN_TIMEOUT=10s",
	)
	addr := freeAddr(t)
	f.API = "http://" + addr
	f.spawn("api", "LISTEN_ADDR="+addr)
	f.waitReady()
	for range workers {
		f.StartWorker()
	}
	t.Cleanup(func() {
		if t.Failed() {
			f.dumpLogs()
		}
	})
	return f
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// spawn starts a built command with the deployment's environment; it is
// stopped with SIGTERM (then SIGKILL) when the test ends.
func (f *folio) spawn(name string, env ...string) *proc {
	f.t.Helper()
	log, err := os.Create(filepath.Join(f.logs, fmt.Sprintf("%s-%d.log", name, time.Now().UnixNano())))
	if err != nil {
		f.t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(binDir, name))
	cmd.Env = append(slices.Clone(f.env), env...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		f.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done); _ = log.Close() }()
	f.t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	return &proc{Cmd: cmd, done: done}
}

// StartWorker starts one more worker process with its own file cache.
func (f *folio) StartWorker() *proc {
	f.t.Helper()
	cmd := f.spawn("worker", "CACHE_DIR="+f.t.TempDir(), "WORKER_CONCURRENCY=2")
	f.mu.Lock()
	f.workers = append(f.workers, cmd)
	f.mu.Unlock()
	return cmd
}

func (f *folio) waitReady() {
	f.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(f.API + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	f.t.Fatal("api not ready after 20s")
}

func (f *folio) dumpLogs() {
	entries, _ := os.ReadDir(f.logs)
	for _, e := range entries {
		b, _ := os.ReadFile(filepath.Join(f.logs, e.Name()))
		if len(b) > 20000 {
			b = b[len(b)-20000:]
		}
		f.t.Logf("==== %s ====\n%s", e.Name(), b)
	}
}

// Upload stores data in the emulator and returns its gs:// URI.
func (f *folio) Upload(name string, data []byte) string {
	f.GCS.CreateObject(fakestorage.Object{
		ObjectAttrs: fakestorage.ObjectAttrs{BucketName: bucket, Name: name, ContentType: "application/pdf"},
		Content:     data,
	})
	return "gs://" + bucket + "/" + name
}

// Outputs reads and strictly parses every object under prefix, keyed by the
// name after the prefix.
func (f *folio) Outputs(prefix string) map[string]*visionpb.AnnotateFileResponse {
	f.t.Helper()
	ctx := context.Background()
	got := map[string]*visionpb.AnnotateFileResponse{}
	it := f.Storage.Bucket(bucket).Objects(ctx, &storage.Query{Prefix: prefix})
	for {
		a, err := it.Next()
		if err == iterator.Done {
			return got
		}
		if err != nil {
			f.t.Fatal(err)
		}
		r, err := f.Storage.Bucket(bucket).Object(a.Name).NewReader(ctx)
		if err != nil {
			f.t.Fatal(err)
		}
		data, err := io.ReadAll(r)
		_ = r.Close()
		if err != nil {
			f.t.Fatal(err)
		}
		if bytes.ContainsRune(data, '\n') {
			f.t.Errorf("%s is not single-line JSON", a.Name)
		}
		resp := &visionpb.AnnotateFileResponse{}
		if err := protojson.Unmarshal(data, resp); err != nil {
			f.t.Fatalf("%s does not parse strictly as AnnotateFileResponse: %v", a.Name, err)
		}
		got[strings.TrimPrefix(a.Name, prefix)] = resp
	}
}

// PageTexts returns the full text of every page of the outputs by page
// number, failing the test when a page appears twice.
func (f *folio) PageTexts(outs map[string]*visionpb.AnnotateFileResponse) map[int]string {
	f.t.Helper()
	pages := map[int]string{}
	for name, o := range outs {
		for _, r := range o.GetResponses() {
			n := int(r.GetContext().GetPageNumber())
			if _, dup := pages[n]; dup {
				f.t.Errorf("page %d appears twice (again in %s)", n, name)
			}
			if r.GetError() != nil {
				f.t.Errorf("page %d has error %v", n, r.GetError())
			}
			pages[n] = r.GetFullTextAnnotation().GetText()
		}
	}
	return pages
}

// wait polls op every 100 ms until it is done (the client's Wait backs off
// up to a minute between polls, which would only slow the tests down).
func wait(ctx context.Context, t *testing.T, op *vision.AsyncBatchAnnotateFilesOperation) (*visionpb.AsyncBatchAnnotateFilesResponse, error) {
	t.Helper()
	for {
		resp, err := op.Poll(ctx)
		if err != nil || op.Done() {
			return resp, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// testContext returns a context that ends with the test or after d.
func testContext(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
