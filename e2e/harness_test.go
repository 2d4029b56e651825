package e2e

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	vision "cloud.google.com/go/vision/v2/apiv1"
	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"github.com/fsouza/fake-gcs-server/fakestorage"
	"google.golang.org/api/iterator"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/folio-ocr/folio/internal/localrun"
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
	buildError = localrun.Build("..", binDir, wasmCache)
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// folio is one test's deployment: the api and workers as processes, a
// Redis key prefix and queue of their own, and a GCS emulator.
type folio struct {
	*localrun.Cluster
	t       *testing.T
	GCS     *fakestorage.Server
	Storage *storage.Client
}

// start runs the api and the given number of workers for t; configure,
// if any, changes the options before the api starts.
func start(t *testing.T, workers int, configure ...func(*localrun.Options)) *folio {
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
	opts := localrun.Options{
		BinDir: binDir, LogDir: t.TempDir(), RedisURL: storetest.RedisURL(), KeyPrefix: prefix, Queue: queue,
		StorageHost: host, WasmCache: wasmCache, Env: []string{"LOG_LEVEL=info", "SHUTDOWN_TIMEOUT=10s"},
	}
	for _, f := range configure {
		f(&opts)
	}
	c, err := localrun.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	f := &folio{Cluster: c, t: t, GCS: gcs, Storage: storetest.Client(t, host)}
	t.Cleanup(func() {
		c.Close()
		if t.Failed() {
			f.dumpLogs()
		}
	})
	for range workers {
		f.StartWorker()
	}
	return f
}

// StartWorker starts one more worker process with two ranges at once.
func (f *folio) StartWorker() *localrun.Proc {
	f.t.Helper()
	p, err := f.Cluster.StartWorker("WORKER_CONCURRENCY=2")
	if err != nil {
		f.t.Fatal(err)
	}
	return p
}

func (f *folio) dumpLogs() {
	for _, path := range f.Logs() {
		b, _ := os.ReadFile(path)
		if len(b) > 20000 {
			b = b[len(b)-20000:]
		}
		f.t.Logf("==== %s ====\n%s", filepath.Base(path), b)
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

// Count returns how many objects are under prefix, without reading them.
func (f *folio) Count(prefix string) int {
	f.t.Helper()
	objs, _, err := f.GCS.ListObjects(bucket, prefix, "", false)
	if err != nil {
		f.t.Fatal(err)
	}
	return len(objs)
}

// Outputs reads and strictly parses every object under prefix, keyed by the
// name after the prefix.
func (f *folio) Outputs(prefix string) map[string]*visionpb.AnnotateFileResponse {
	f.t.Helper()
	got := map[string]*visionpb.AnnotateFileResponse{}
	for name, data := range f.Objects(prefix) {
		resp := &visionpb.AnnotateFileResponse{}
		if err := protojson.Unmarshal(data, resp); err != nil {
			f.t.Fatalf("%s does not parse strictly as AnnotateFileResponse: %v", name, err)
		}
		got[name] = resp
	}
	return got
}

// Objects reads every object under prefix, keyed by the name after the
// prefix, and checks that each is one line of JSON, as Google writes them.
func (f *folio) Objects(prefix string) map[string][]byte {
	f.t.Helper()
	ctx := context.Background()
	got := map[string][]byte{}
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
		got[strings.TrimPrefix(a.Name, prefix)] = data
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
