package jobs_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"github.com/fsouza/fake-gcs-server/fakestorage"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"
	"google.golang.org/api/iterator"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/folio-ocr/folio/filecache"
	"github.com/folio-ocr/folio/internal/pdfgen"
	"github.com/folio-ocr/folio/jobs"
	"github.com/folio-ocr/folio/lang"
	"github.com/folio-ocr/folio/pipeline"
	"github.com/folio-ocr/folio/store"
	"github.com/folio-ocr/folio/store/storetest"
)

const bucket = "folio-test"

// bundle is one test's Folio: a real Redis (own key prefix and queue), an
// in-process GCS emulator and an in-process worker.
type bundle struct {
	ops    *store.RedisOperations
	client *jobs.Client
	gcs    *fakestorage.Server
	sc     *storage.Client
	rdb    redis.UniversalClient
	queue  string
}

var sharedPDF *pipeline.PDF

func TestMain(m *testing.M) {
	var err error
	sharedPDF, err = pipeline.NewPDF(pipeline.PDFConfig{Instances: 4})
	if err != nil {
		panic(err)
	}
	code := m.Run()
	_ = sharedPDF.Close()
	if code == 0 {
		// Every asynq server, client and storage connection of the tests is gone.
		if err := goleak.Find(goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start")); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func setup(t *testing.T, maxPages int, opts ...func(*jobs.Handlers)) *bundle {
	t.Helper()
	rdb, prefix := storetest.Redis(t)
	queue := "test-" + storetest.UniqueID()
	t.Cleanup(func() { cleanQueue(t, rdb, queue) })
	gcs, host := storetest.GCS(t, bucket)
	sc := storetest.Client(t, host)
	logger := zaptest.NewLogger(t)
	files, err := filecache.New(filepath.Join(t.TempDir(), "files"), 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	ops := store.NewRedisOperations(rdb, &store.RedisOptions{Prefix: prefix})
	client := jobs.NewClient(rdb, logger, &jobs.ClientOptions{Queue: queue})
	h := &jobs.Handlers{Ops: ops, Blobs: store.NewGCS(sc), Files: files,
		Openers: map[string]pipeline.Opener{"application/pdf": sharedPDF, "image/tiff": pipeline.TIFF{}, "image/gif": pipeline.GIF{}},
		Client:  client, Logger: logger, MaxPages: maxPages}
	for _, o := range opts {
		o(h)
	}
	srv := jobs.NewServer(rdb, h, jobs.ServerOptions{Concurrency: 4, Queue: queue, ShutdownTimeout: 5 * time.Second})
	mux := asynq.NewServeMux()
	h.Register(mux)
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Shutdown()
		_ = client.Close()
	})
	return &bundle{ops: ops, client: client, gcs: gcs, sc: sc, rdb: rdb, queue: queue}
}

func cleanQueue(t *testing.T, rdb redis.UniversalClient, queue string) {
	storetest.DeletePrefix(t, rdb, "asynq:{"+queue+"}")
	rdb.SRem(context.Background(), "asynq:queues", queue)
}

func (b *bundle) upload(t *testing.T, name string, data []byte) string {
	t.Helper()
	b.gcs.CreateObject(fakestorage.Object{
		ObjectAttrs: fakestorage.ObjectAttrs{BucketName: bucket, Name: name, ContentType: "application/pdf"},
		Content:     data,
	})
	return "gs://" + bucket + "/" + name
}

func fileRequest(uri, dest string, batch int32) *visionpb.AsyncAnnotateFileRequest {
	return &visionpb.AsyncAnnotateFileRequest{
		InputConfig:  &visionpb.InputConfig{GcsSource: &visionpb.GcsSource{Uri: uri}, MimeType: "application/pdf"},
		Features:     []*visionpb.Feature{{Type: visionpb.Feature_DOCUMENT_TEXT_DETECTION}},
		OutputConfig: &visionpb.OutputConfig{GcsDestination: &visionpb.GcsDestination{Uri: dest}, BatchSize: batch},
	}
}

func (b *bundle) submit(t *testing.T, reqs ...*visionpb.AsyncAnnotateFileRequest) string {
	t.Helper()
	op := &store.Operation{ID: storetest.UniqueID(), APIVersion: "v1", CreateTime: time.Now(),
		Request: &visionpb.AsyncBatchAnnotateFilesRequest{Requests: reqs}}
	op.Name = "operations/" + op.ID
	ctx := context.Background()
	if err := b.ops.Create(ctx, op); err != nil {
		t.Fatal(err)
	}
	if err := b.client.EnqueueOperation(ctx, op); err != nil {
		t.Fatal(err)
	}
	// Enqueuing twice is a no-op.
	if err := b.client.EnqueueOperation(ctx, op); err != nil {
		t.Fatal(err)
	}
	return op.ID
}

func (b *bundle) wait(t *testing.T, id string) *store.Operation {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		op, err := b.ops.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if op.Done {
			return op
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("operation %s not done after 60s", id)
	return nil
}

func (b *bundle) outputs(t *testing.T, prefix string) map[string]*visionpb.AnnotateFileResponse {
	t.Helper()
	got := map[string]*visionpb.AnnotateFileResponse{}
	it := b.sc.Bucket(bucket).Objects(context.Background(), &storage.Query{Prefix: prefix})
	for {
		a, err := it.Next()
		if err == iterator.Done {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		r, err := b.sc.Bucket(bucket).Object(a.Name).NewReader(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(r)
		_ = r.Close()
		if strings.Contains(string(data), "\n") {
			t.Errorf("%s is not compact single-line JSON", a.Name)
		}
		resp := &visionpb.AnnotateFileResponse{}
		if err := protojson.Unmarshal(data, resp); err != nil { // strict: no unknown fields
			t.Fatalf("%s does not parse as AnnotateFileResponse: %v", a.Name, err)
		}
		got[strings.TrimPrefix(a.Name, prefix)] = resp
	}
	return got
}

func TestSubmitToDone(t *testing.T) {
	opt, reg := withMetrics()
	b := setup(t, 0, opt)
	five := b.upload(t, "in/five.pdf", pdfgen.Document(5))
	one := b.upload(t, "in/one.pdf", pdfgen.Document(1))
	id := b.submit(t,
		fileRequest(five, "gs://"+bucket+"/out/five/", 2),
		fileRequest(one, "gs://"+bucket+"/out/one-", 0))
	op := b.wait(t, id)
	if op.State != visionpb.OperationMetadata_DONE || op.ErrorCode != 0 {
		t.Fatalf("operation ended %v code %d %q", op.State, op.ErrorCode, op.ErrorMessage)
	}
	if op.PagesDone != 6 || op.PagesTotal != 6 {
		t.Errorf("pages %d/%d, want 6/6", op.PagesDone, op.PagesTotal)
	}
	if n := metricValue(t, reg, "folio_pages_processed_total", "route", "text"); n != 6 {
		t.Errorf("folio_pages_processed_total{route=text} = %v, want 6", n)
	}

	outs := b.outputs(t, "out/five/")
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range outs {
			if !yield(k) {
				return
			}
		}
	})
	want := []string{"output-1-to-2.json", "output-3-to-4.json", "output-5-to-5.json"}
	if !slices.Equal(names, want) {
		t.Fatalf("outputs %v, want %v", names, want)
	}
	page := 0
	for _, name := range want {
		resp := outs[name]
		if resp.GetInputConfig().GetGcsSource().GetUri() != five {
			t.Errorf("%s: inputConfig not echoed: %v", name, resp.GetInputConfig())
		}
		for _, r := range resp.GetResponses() {
			page++
			if r.GetContext().GetPageNumber() != int32(page) || r.GetContext().GetUri() != five {
				t.Errorf("%s: context %v, want page %d", name, r.GetContext(), page)
			}
			text := r.GetFullTextAnnotation().GetText()
			if !strings.Contains(text, fmt.Sprintf("Page %d of 5", page)) {
				t.Errorf("%s page %d: text %q", name, page, text)
			}
		}
	}
	if page != 5 {
		t.Errorf("saw %d pages, want 5", page)
	}
	if got := b.outputs(t, "out/one-"); len(got) != 1 || got["output-1-to-1.json"] == nil {
		t.Errorf("prefix destination outputs %v, want output-1-to-1.json", got)
	}
}

func TestFileFailures(t *testing.T) {
	tests := []struct {
		name     string
		data     []byte // nil: object missing
		mime     string
		hints    []string // imageContext.languageHints; the workers have eng only
		dest     string   // "": gs://folio-test/out/
		maxPages int
		code     int32
		message  string
	}{
		{name: "missing object", code: 5, message: "gs://folio-test/in/missing-object does not exist"},
		{name: "not a pdf", data: []byte("hello, I am plain text\n"), code: 3, message: "gs://folio-test/in/not-a-pdf"},
		{name: "truncated pdf", data: pdfgen.Document(3)[:400], code: 3, message: "gs://folio-test/in/truncated-pdf"},
		{name: "too many pages", data: pdfgen.Document(4), maxPages: 3, code: 3, message: "has 4 pages, over the limit of 3"},
		{name: "truncated tiff", data: []byte("II*\x00"), mime: "image/tiff", code: 3, message: "too short for a header"},
		{name: "not a gif", data: []byte("GIF89a-no"), mime: "image/gif", code: 3, message: "gif"},
		{name: "language not installed", data: pdfgen.Document(2), hints: []string{"en", "ja"}, code: 3,
			message: `language hint "ja" needs the Tesseract model jpn`},
		{name: "unknown type", data: []byte("BM"), mime: "image/bmp", code: 12, message: "image/bmp input is not supported"},
		{name: "missing output bucket", data: pdfgen.Document(2), dest: "gs://no-such-bucket/out/", code: 5,
			message: "the bucket of output destination gs://no-such-bucket/out/ does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := setup(t, tt.maxPages, func(h *jobs.Handlers) {
				h.Languages = func(hints []string) (string, error) { return lang.Resolve(hints, lang.Models{"eng": true}) }
			})
			name := "in/" + strings.ReplaceAll(tt.name, " ", "-")
			uri := "gs://" + bucket + "/" + name
			if tt.data != nil {
				b.upload(t, name, tt.data)
			}
			dest := "gs://" + bucket + "/out/"
			if tt.dest != "" {
				dest = tt.dest
			}
			req := fileRequest(uri, dest, 2)
			if tt.mime != "" {
				req.InputConfig.MimeType = tt.mime
			}
			if tt.hints != nil {
				req.ImageContext = &visionpb.ImageContext{LanguageHints: tt.hints}
			}
			op := b.wait(t, b.submit(t, req))
			if op.ErrorCode != tt.code || !strings.Contains(op.ErrorMessage, tt.message) {
				t.Errorf("error %d %q; want %d containing %q", op.ErrorCode, op.ErrorMessage, tt.code, tt.message)
			}
			named := uri // the file at fault
			if tt.dest != "" {
				named = tt.dest
			}
			if !strings.Contains(op.ErrorMessage, named) {
				t.Errorf("message %q does not name %s", op.ErrorMessage, named)
			}
			if outs := b.outputs(t, "out/"); len(outs) != 0 {
				t.Errorf("failed operation wrote %d outputs", len(outs))
			}
		})
	}
}

func TestCancelSkipsQueuedRanges(t *testing.T) {
	b := setup(t, 0)
	uri := b.upload(t, "in/doc.pdf", pdfgen.Document(30))
	op := &store.Operation{ID: storetest.UniqueID(), APIVersion: "v1", CreateTime: time.Now(),
		Request: &visionpb.AsyncBatchAnnotateFilesRequest{Requests: []*visionpb.AsyncAnnotateFileRequest{
			fileRequest(uri, "gs://"+bucket+"/out/", 1)}}}
	op.Name = "operations/" + op.ID
	ctx := context.Background()
	if err := b.ops.Create(ctx, op); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.ops.Cancel(ctx, op.ID); !ok || err != nil {
		t.Fatalf("Cancel = %v, %v", ok, err)
	}
	if err := b.client.EnqueueOperation(ctx, op); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	got := b.wait(t, op.ID)
	if got.State != visionpb.OperationMetadata_CANCELLED || got.ErrorCode != 1 {
		t.Errorf("state %v code %d, want CANCELLED 1", got.State, got.ErrorCode)
	}
	if outs := b.outputs(t, "out/"); len(outs) != 0 {
		t.Errorf("cancelled operation wrote %d outputs", len(outs))
	}
}

// A page over PAGE_TIMEOUT gets DEADLINE_EXCEEDED in its entry; the range
// and the operation go on. The entry is shaped as Vision's failed pages,
// {"error":{...},"fullTextAnnotation":{},"context":{...}}, whether the range
// is annotated whole or in units merged by the last one.
func TestPageTimeout(t *testing.T) {
	for _, unit := range []int{0, 1} {
		t.Run(fmt.Sprintf("units of %d pages", unit), func(t *testing.T) {
			b := setup(t, 0, func(h *jobs.Handlers) { h.PageTimeout, h.UnitPages = time.Nanosecond, unit })
			uri := b.upload(t, "in/slow.pdf", pdfgen.Document(3))
			op := b.wait(t, b.submit(t, fileRequest(uri, "gs://"+bucket+"/out/", 3)))
			if op.State != visionpb.OperationMetadata_DONE || op.ErrorCode != 0 {
				t.Fatalf("operation ended %v code %d %q", op.State, op.ErrorCode, op.ErrorMessage)
			}
			resp := b.outputs(t, "out/")["output-1-to-3.json"]
			if len(resp.GetResponses()) != 3 {
				t.Fatalf("got %d responses, want 3", len(resp.GetResponses()))
			}
			var entries []string
			for i, r := range resp.GetResponses() {
				want := fmt.Sprintf("page %d of %s: took longer than 1ns", i+1, uri)
				if r.GetError().GetCode() != 4 || r.GetError().GetMessage() != want || r.GetContext().GetPageNumber() != int32(i+1) {
					t.Errorf("page %d: error %v context %v; want code 4 %q", i+1, r.GetError(), r.GetContext(), want)
				}
				if r.GetFullTextAnnotation() == nil || r.GetFullTextAnnotation().GetText() != "" {
					t.Errorf("page %d: fullTextAnnotation %v, want present and empty", i+1, r.GetFullTextAnnotation())
				}
				entries = append(entries, fmt.Sprintf(`{"error":{"code":4,"message":%q},"fullTextAnnotation":{},"context":{"uri":%q,"pageNumber":%d}}`, want, uri, i+1))
			}
			want := fmt.Sprintf(`{"inputConfig":{"gcsSource":{"uri":%q},"mimeType":"application/pdf"},"responses":[%s]}`, uri, strings.Join(entries, ","))
			if got := b.objectBytes(t, "out/output-1-to-3.json"); string(got) != want {
				t.Errorf("output:\n got %s\nwant %s", got, want)
			}
		})
	}
}

// denseDocument is a generated PDF of pages with 60 lines of 100
// characters each (8 pt), about 400 kB of output JSON a page.
func denseDocument(pages int) []byte {
	ps := make([]pdfgen.Page, pages)
	for p := range ps {
		for l := range 60 {
			line := strings.Repeat(fmt.Sprintf("page %d line %d dense text ", p+1, l+1), 10)[:100]
			ps[p].Runs = append(ps[p].Runs, pdfgen.Run{X: 36, Y: 760 - float64(l)*12, Size: 8, Text: line})
		}
	}
	return pdfgen.PDF(ps...)
}

// hookBlobs calls hook on every write of an output, with the number of
// bytes written so far and the last of them, and records how the output's
// writer was closed.
type hookBlobs struct {
	store.Blobs
	hook func(written int64, tail []byte)

	closed   chan struct{}
	mu       sync.Mutex
	written  int64
	tail     []byte
	aborted  bool // the writer's context was cancelled when it was closed
	closeErr error
}

func (b *hookBlobs) NewWriter(ctx context.Context, uri, contentType string) (io.WriteCloser, error) {
	w, err := b.Blobs.NewWriter(ctx, uri, contentType)
	if err != nil {
		return nil, err
	}
	return &hookWriter{WriteCloser: w, b: b, ctx: ctx}, nil
}

type hookWriter struct {
	io.WriteCloser
	b   *hookBlobs
	ctx context.Context
}

func (w *hookWriter) Write(p []byte) (int, error) {
	n, err := w.WriteCloser.Write(p)
	w.b.mu.Lock()
	w.b.written += int64(n)
	w.b.tail = append(w.b.tail, p[:n]...)
	w.b.tail = w.b.tail[max(0, len(w.b.tail)-64):]
	written, tail := w.b.written, slices.Clone(w.b.tail)
	w.b.mu.Unlock()
	w.b.hook(written, tail)
	return n, err
}

func (w *hookWriter) Close() error {
	err := w.WriteCloser.Close()
	w.b.mu.Lock()
	w.b.aborted, w.b.closeErr = w.ctx.Err() != nil, err
	w.b.mu.Unlock()
	close(w.b.closed)
	return err
}

// TestCancelMidRangeWritesNothing cancels an operation while its range's
// output is being streamed (chunks of 256 kB already uploaded), or once
// every page is written but before the output is committed: the upload is
// aborted and no object, partial or whole, appears.
func TestCancelMidRangeWritesNothing(t *testing.T) {
	const pages = 8
	tests := []struct {
		name string
		// cancelAt reports whether to cancel on this write of the output.
		cancelAt func(written int64, tail []byte) bool
		// pause after cancelling, so that the range's next cancellation
		// check (at most every 250ms) sees it.
		pause time.Duration
	}{
		{"between pages", func(written int64, _ []byte) bool { return written >= 1<<20 }, 300 * time.Millisecond},
		{"before commit", func(_ int64, tail []byte) bool {
			return bytes.HasSuffix(tail, fmt.Appendf(nil, `"pageNumber":%d}}]}`, pages))
		}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opID atomic.Value
			var ops *store.RedisOperations
			var once sync.Once
			hb := &hookBlobs{closed: make(chan struct{})}
			hb.hook = func(written int64, tail []byte) {
				if tt.cancelAt(written, tail) {
					once.Do(func() {
						if ok, err := ops.Cancel(context.Background(), opID.Load().(string)); !ok || err != nil {
							t.Errorf("Cancel = %v, %v", ok, err)
						}
						time.Sleep(tt.pause)
					})
				}
			}
			b := setup(t, 0, func(h *jobs.Handlers) {
				g := h.Blobs.(*store.GCS)
				g.WriteChunkSize = 256 << 10
				hb.Blobs = g
				h.Blobs = hb
			})
			ops = b.ops
			uri := b.upload(t, "in/dense.pdf", denseDocument(pages))
			op := &store.Operation{ID: storetest.UniqueID(), APIVersion: "v1", CreateTime: time.Now(),
				Request: &visionpb.AsyncBatchAnnotateFilesRequest{Requests: []*visionpb.AsyncAnnotateFileRequest{
					fileRequest(uri, "gs://"+bucket+"/out/", pages)}}}
			op.Name = "operations/" + op.ID
			opID.Store(op.ID)
			ctx := context.Background()
			if err := b.ops.Create(ctx, op); err != nil {
				t.Fatal(err)
			}
			if err := b.client.EnqueueOperation(ctx, op); err != nil {
				t.Fatal(err)
			}
			select {
			case <-hb.closed:
			case <-time.After(60 * time.Second):
				t.Fatal("the range's output writer was not closed after 60s")
			}
			got := b.wait(t, op.ID)
			if got.State != visionpb.OperationMetadata_CANCELLED {
				t.Errorf("state %v, want CANCELLED", got.State)
			}
			hb.mu.Lock()
			defer hb.mu.Unlock()
			if !hb.aborted || !errors.Is(hb.closeErr, context.Canceled) {
				t.Errorf("output closed with its context cancelled: %v, error %v; want an aborted write", hb.aborted, hb.closeErr)
			}
			if hb.written < 1<<20 {
				t.Errorf("only %d bytes streamed before the cancel; the test wants several chunks uploaded", hb.written)
			}
			t.Logf("%d bytes streamed, then aborted", hb.written)
			time.Sleep(500 * time.Millisecond) // a retry would write now
			if outs := b.outputs(t, "out/"); len(outs) != 0 {
				t.Errorf("cancelled operation wrote %d outputs", len(outs))
			}
		})
	}
}

// objectBytes reads one output object.
func (b *bundle) objectBytes(t *testing.T, name string) []byte {
	t.Helper()
	r, err := b.sc.Bucket(bucket).Object(name).NewReader(context.Background())
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// A range split into units (annotated by separate tasks, merged by the last
// one) gives the same bytes as the range annotated whole, and leaves no
// saved units behind. Only a range whose first page goes to OCR is split:
// the document is opened by the plan and once per unit.
func TestUnitsMergeToTheSameFile(t *testing.T) {
	data := pdfgen.Document(11)
	outputs := map[int][]byte{}
	for _, unit := range []int{0, 3, 1} {
		opener := &countingOpener{Opener: sharedPDF}
		b := setup(t, 0, func(h *jobs.Handlers) {
			h.UnitPages, h.OCR = unit, fixedOCR{}
			h.Router = pipeline.Router{Policy: pipeline.TextLayerNever}
			h.Openers[pipeline.MIMEPDF] = opener
		})
		uri := b.upload(t, "in/eleven.pdf", data)
		op := b.wait(t, b.submit(t, fileRequest(uri, "gs://"+bucket+"/out/", 11)))
		if op.State != visionpb.OperationMetadata_DONE || op.ErrorCode != 0 || op.PagesDone != 11 {
			t.Fatalf("unit %d: operation ended %v code %d %q, %d pages", unit, op.State, op.ErrorCode, op.ErrorMessage, op.PagesDone)
		}
		outputs[unit] = b.objectBytes(t, "out/output-1-to-11.json")
		if _, err := b.ops.Part(context.Background(), op.ID, store.Range{File: 0, First: 1, Last: 11}, 1); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("unit %d: saved units remain after the range completed: %v", unit, err)
		}
		want := 2 // the plan and the range
		if unit > 0 {
			want = 1 + (11+unit-1)/unit
		}
		if got := opener.opens.Load(); got != int32(want) {
			t.Errorf("unit %d: document opened %d times, want %d", unit, got, want)
		}
	}
	// The input config echoes the same URI in every run.
	for _, unit := range []int{3, 1} {
		if !bytes.Equal(outputs[unit], outputs[0]) {
			t.Errorf("units of %d pages: output differs from the whole range's (%d vs %d bytes)", unit, len(outputs[unit]), len(outputs[0]))
		}
	}
}

// TestTextRangesStayWhole: a range of text-layer pages is one task however
// long, with UnitPages set; its output is the same as without units.
func TestTextRangesStayWhole(t *testing.T) {
	data := pdfgen.Document(11)
	var outputs [][]byte
	for _, unit := range []int{0, 3} {
		opener := &countingOpener{Opener: sharedPDF}
		b := setup(t, 0, func(h *jobs.Handlers) {
			h.UnitPages, h.OCR = unit, fixedOCR{}
			h.Openers[pipeline.MIMEPDF] = opener
		})
		uri := b.upload(t, "in/eleven.pdf", data)
		op := b.wait(t, b.submit(t, fileRequest(uri, "gs://"+bucket+"/out/", 11)))
		if op.State != visionpb.OperationMetadata_DONE || op.PagesDone != 11 {
			t.Fatalf("unit %d: operation ended %v %q, %d pages", unit, op.State, op.ErrorMessage, op.PagesDone)
		}
		if got := opener.opens.Load(); got != 2 {
			t.Errorf("unit %d: document opened %d times, want 2 (the plan and the one range task)", unit, got)
		}
		outputs = append(outputs, b.objectBytes(t, "out/output-1-to-11.json"))
	}
	if !bytes.Equal(outputs[0], outputs[1]) {
		t.Error("output with UnitPages 3 differs from the output without units")
	}
}

// countingOpener counts the documents opened.
type countingOpener struct {
	pipeline.Opener
	opens atomic.Int32
}

func (o *countingOpener) Open(ctx context.Context, r io.ReadSeeker, size int64) (pipeline.Document, error) {
	o.opens.Add(1)
	return o.Opener.Open(ctx, r, size)
}

// fixedOCR recognizes every page as the same text.
type fixedOCR struct{}

func (fixedOCR) Recognize(context.Context, *pipeline.Raster, pipeline.OCROptions) (*visionpb.TextAnnotation, error) {
	return &visionpb.TextAnnotation{Text: "recognized\n"}, nil
}
