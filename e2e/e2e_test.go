package e2e

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	vision "cloud.google.com/go/vision/v2/apiv1"
	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/folio-ocr/folio/internal/pdfgen"
	"github.com/folio-ocr/folio/internal/textmetric"
)

// rIntro is a real-world born-digital PDF (113 pages, pdfTeX) from Debian's
// r-doc-pdf package, which .ci/run installs.
const rIntro = "/usr/share/R/doc/manual/R-intro.pdf"

func (f *folio) client() *vision.ImageAnnotatorClient { return f.clientOver("rest") }

// clientOver returns Google's Vision client over transport: "rest" (the
// REST client) or "grpc" (the default client, with insecure credentials).
func (f *folio) clientOver(transport string) *vision.ImageAnnotatorClient {
	f.t.Helper()
	ctx := testContext(f.t, time.Minute)
	var (
		c   *vision.ImageAnnotatorClient
		err error
	)
	if transport == "grpc" {
		c, err = vision.NewImageAnnotatorClient(ctx, option.WithEndpoint(f.GRPC), option.WithoutAuthentication(),
			option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	} else {
		c, err = vision.NewImageAnnotatorRESTClient(ctx, option.WithEndpoint(f.API), option.WithoutAuthentication())
	}
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { _ = c.Close() })
	return c
}

func request(uri, dest string, batch int32) *visionpb.AsyncAnnotateFileRequest {
	return &visionpb.AsyncAnnotateFileRequest{
		InputConfig:  &visionpb.InputConfig{GcsSource: &visionpb.GcsSource{Uri: uri}, MimeType: "application/pdf"},
		Features:     []*visionpb.Feature{{Type: visionpb.Feature_DOCUMENT_TEXT_DETECTION}},
		OutputConfig: &visionpb.OutputConfig{GcsDestination: &visionpb.GcsDestination{Uri: dest}, BatchSize: batch},
	}
}

// The way Google's users call the API: the official clients, REST and the
// default gRPC one, pointed at Folio by endpoint alone, submit, wait and
// read outputs.
func TestGoogleClient(t *testing.T) {
	for _, transport := range []string{"rest", "grpc"} {
		t.Run(transport, func(t *testing.T) { testGoogleClient(t, transport) })
	}
}

func testGoogleClient(t *testing.T, transport string) {
	f := start(t, 2)
	c := f.clientOver(transport)
	ctx := testContext(t, 3*time.Minute)

	gen := f.Upload("in/generated.pdf", pdfgen.Document(7))
	req := &visionpb.AsyncBatchAnnotateFilesRequest{
		Parent: "projects/demo/locations/eu",
		Requests: []*visionpb.AsyncAnnotateFileRequest{
			request(gen, "gs://"+bucket+"/out/gen/", 3),
			request(gen, "gs://"+bucket+"/out/gen-default-", 0),
		},
	}
	op, err := c.AsyncBatchAnnotateFiles(ctx, req)
	if err != nil {
		t.Fatalf("AsyncBatchAnnotateFiles: %v", err)
	}
	if !strings.HasPrefix(op.Name(), "projects/demo/locations/eu/operations/") {
		t.Errorf("operation name %q, want projects/demo/locations/eu/operations/…", op.Name())
	}
	resp, err := op.Wait(ctx)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	meta, err := op.Metadata()
	if err != nil || meta.GetState() != visionpb.OperationMetadata_DONE {
		t.Errorf("metadata %v, %v; want state DONE", meta, err)
	}
	if len(resp.GetResponses()) != 2 ||
		resp.GetResponses()[0].GetOutputConfig().GetGcsDestination().GetUri() != "gs://"+bucket+"/out/gen/" ||
		resp.GetResponses()[1].GetOutputConfig().GetGcsDestination().GetUri() != "gs://"+bucket+"/out/gen-default-" {
		t.Errorf("response %v does not echo the output configs in order", resp)
	}

	outs := f.Outputs("out/gen/")
	for _, name := range []string{"output-1-to-3.json", "output-4-to-6.json", "output-7-to-7.json"} {
		if outs[name] == nil {
			t.Errorf("missing %s (have %d outputs)", name, len(outs))
		}
	}
	pages := f.PageTexts(outs)
	for p := 1; p <= 7; p++ {
		if want := fmt.Sprintf("Page %d of 7\n", p); !strings.HasPrefix(pages[p], want) {
			t.Errorf("page %d text %q, want prefix %q", p, pages[p], want)
		}
	}
	if outs := f.Outputs("out/gen-default-"); len(outs) != 1 || outs["output-1-to-7.json"] == nil {
		t.Errorf("default batch size: outputs %v, want output-1-to-7.json", keys(outs))
	}
}

// A real-world 113-page PDF: every page once, text within 1% CER of
// pdftotext's.
func TestRealPDFMatchesPdftotext(t *testing.T) {
	data, err := os.ReadFile(rIntro)
	if err != nil {
		t.Skipf("%s not installed (apt-get install r-doc-pdf): %v", rIntro, err)
	}
	if _, err := exec.LookPath("pdftotext"); err != nil {
		t.Skip("pdftotext not installed (apt-get install poppler-utils)")
	}
	f := start(t, 2)
	c := f.client()
	ctx := testContext(t, 5*time.Minute)
	uri := f.Upload("in/R-intro.pdf", data)
	op, err := c.AsyncBatchAnnotateFiles(ctx, &visionpb.AsyncBatchAnnotateFilesRequest{
		Requests: []*visionpb.AsyncAnnotateFileRequest{request(uri, "gs://"+bucket+"/out/r/", 20)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wait(ctx, t, op); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	pages := f.PageTexts(f.Outputs("out/r/"))
	if len(pages) != 113 {
		t.Fatalf("got %d pages, want 113", len(pages))
	}
	// Whole-document CER, summed page by page (one Levenshtein over the whole
	// text would be quadratic in the document).
	dist, total := 0, 0
	for p := 1; p <= 113; p++ {
		out, err := exec.Command("pdftotext", "-f", fmt.Sprint(p), "-l", fmt.Sprint(p), "-enc", "UTF-8", rIntro, "-").Output()
		if err != nil {
			t.Fatal(err)
		}
		want := textmetric.Normalize(string(out))
		dist += textmetric.Distance(want, textmetric.Normalize(pages[p]))
		total += utf8.RuneCountInString(want)
	}
	cer := float64(dist) / float64(total)
	t.Logf("CER against pdftotext over 113 pages: %.3f%% (%d edits in %d characters)", 100*cer, dist, total)
	if cer > 0.005 {
		t.Errorf("CER %.3f%% over 0.5%%", 100*cer)
	}
}

// Files that cannot be processed end their operation with an error that has
// the right google.rpc code and names the file; the workers keep serving.
func TestBadInputs(t *testing.T) {
	f := start(t, 1)
	c := f.client()
	ctx := testContext(t, 3*time.Minute)
	encrypted, err := os.ReadFile("../pipeline/testdata/encrypted.pdf")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		data []byte
		code codes.Code
		text string
	}{
		{name: "missing.pdf", code: codes.NotFound, text: "does not exist"},
		{name: "corrupt.pdf", data: []byte("%PDF-1.7\n this is not really a PDF"), code: codes.InvalidArgument},
		{name: "encrypted.pdf", data: encrypted, code: codes.InvalidArgument, text: "encrypted"},
	}
	for _, tt := range tests {
		uri := "gs://" + bucket + "/in/" + tt.name
		if tt.data != nil {
			f.Upload("in/"+tt.name, tt.data)
		}
		op, err := c.AsyncBatchAnnotateFiles(ctx, &visionpb.AsyncBatchAnnotateFilesRequest{
			Requests: []*visionpb.AsyncAnnotateFileRequest{request(uri, "gs://"+bucket+"/out/"+tt.name+"/", 1)},
		})
		if err != nil {
			t.Fatalf("%s: submit: %v", tt.name, err)
		}
		_, err = wait(ctx, t, op)
		st, _ := status.FromError(err)
		if st.Code() != tt.code || !strings.Contains(st.Message(), uri) || !strings.Contains(st.Message(), tt.text) {
			t.Errorf("%s: Wait error %v; want code %v naming %s and saying %q", tt.name, err, tt.code, uri, tt.text)
		}
	}
	// The same worker still serves good files.
	good := f.Upload("in/good.pdf", pdfgen.Document(2))
	op, err := c.AsyncBatchAnnotateFiles(ctx, &visionpb.AsyncBatchAnnotateFilesRequest{
		Requests: []*visionpb.AsyncAnnotateFileRequest{request(good, "gs://"+bucket+"/out/good/", 1)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wait(ctx, t, op); err != nil {
		t.Fatalf("good file after bad ones: %v", err)
	}
}

// Cancel: the operation ends CANCELLED with error code 1 and no output is
// written after that.
func TestCancel(t *testing.T) {
	f := start(t, 1)
	c := f.client()
	ctx := testContext(t, 2*time.Minute)
	uri := f.Upload("in/long.pdf", pdfgen.Document(600))
	op, err := c.AsyncBatchAnnotateFiles(ctx, &visionpb.AsyncBatchAnnotateFilesRequest{
		Requests: []*visionpb.AsyncAnnotateFileRequest{request(uri, "gs://"+bucket+"/out/long/", 1)},
	})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, func() bool { return f.Count("out/long/") > 0 })
	resp, err := http.Post(f.API+"/v1/"+op.Name()+":cancel", "application/json", strings.NewReader("{}"))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("cancel: %v %v", resp, err)
	}
	_ = resp.Body.Close()
	_, err = wait(ctx, t, op)
	if st, _ := status.FromError(err); st.Code() != codes.Canceled {
		t.Errorf("Wait after cancel: %v, want code CANCELLED", err)
	}
	meta, _ := op.Metadata()
	if meta.GetState() != visionpb.OperationMetadata_CANCELLED {
		t.Errorf("state %v, want CANCELLED", meta.GetState())
	}
	// A range between its last check and its write may still land: wait
	// for the count to hold still for a second (at most 10 s).
	n := f.Count("out/long/")
	for still, end := time.Now(), time.Now().Add(10*time.Second); time.Since(still) < time.Second && time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if m := f.Count("out/long/"); m != n {
			n, still = m, time.Now()
		}
	}
	time.Sleep(3 * time.Second)
	if m := f.Count("out/long/"); m != n || m >= 600 {
		t.Errorf("outputs went from %d to %d after cancel (of 600 ranges)", n, m)
	}
}

// A worker killed with SIGKILL mid-operation loses nothing: its ranges are
// retried elsewhere and every page appears exactly once.
func TestWorkerKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the janitor to find the killed worker silent (about 15 s)")
	}
	f := start(t, 0)
	victim := f.StartWorker()
	c := f.client()
	ctx := testContext(t, 5*time.Minute)
	const pages = 1000
	uri := f.Upload("in/big.pdf", pdfgen.Document(pages))
	op, err := c.AsyncBatchAnnotateFiles(ctx, &visionpb.AsyncBatchAnnotateFilesRequest{
		Requests: []*visionpb.AsyncAnnotateFileRequest{request(uri, "gs://"+bucket+"/out/big/", 2)},
	})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, func() bool { return f.Count("out/big/") > 0 })
	if err := victim.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	before := f.Count("out/big/")
	t.Logf("killed a worker after %d of %d outputs", before, pages/2)
	f.StartWorker()
	if _, err := wait(ctx, t, op); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	t.Logf("done %s after the kill; rescued tasks silent for %v", time.Since(killed).Round(time.Second), f.rescueDelays())
	got := f.PageTexts(f.Outputs("out/big/"))
	for p := 1; p <= pages; p++ {
		if !strings.HasPrefix(got[p], fmt.Sprintf("Page %d of %d", p, pages)) {
			t.Errorf("page %d: %q", p, got[p])
		}
	}
	if len(got) != pages {
		t.Errorf("got %d pages, want %d", len(got), pages)
	}
}

// SIGTERM drains a worker: its readiness turns false first, then it stops
// taking work, finishes what it holds and exits 0; another worker completes
// the operation with every page once. (Synthetic pages of 1 s make each
// range last 3 s, long enough to watch the drain: the two at hand both
// have less than 0.1 s left about one time in a thousand.)
func TestWorkerDrainsOnSIGTERM(t *testing.T) {
	f := start(t, 0)
	probes := metricsAddr(t)
	w, err := f.Cluster.StartWorker("WORKER_CONCURRENCY=2", "METRICS_ADDR="+probes, "FOLIO_SYNTHETIC_PAGE_DELAY=1s")
	if err != nil {
		t.Fatal(err)
	}
	c := f.client()
	ctx := testContext(t, 3*time.Minute)
	const pages = 300
	uri := f.Upload("in/drain.pdf", pdfgen.Document(pages))
	op, err := c.AsyncBatchAnnotateFiles(ctx, &visionpb.AsyncBatchAnnotateFilesRequest{
		Requests: []*visionpb.AsyncAnnotateFileRequest{request(uri, "gs://"+bucket+"/out/drain/", 3)},
	})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, func() bool { return f.Count("out/drain/") > 0 })
	probe := func(path string) int {
		resp, err := http.Get("http://" + probes + path)
		if err != nil {
			return 0
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	if got := probe("/readyz"); got != http.StatusOK {
		t.Fatalf("/readyz of a working worker = %d, want 200", got)
	}
	if err := w.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Not ready while it still runs (and is alive), within a moment.
	waitFor(t, 2*time.Second, func() bool { return probe("/readyz") == http.StatusServiceUnavailable })
	select {
	case <-w.Done:
		t.Fatal("the worker had exited when its readiness turned off; want readiness off first, while it drains")
	default:
	}
	if got := probe("/healthz"); got != http.StatusOK {
		t.Errorf("/healthz while draining = %d, want 200", got)
	}
	select {
	case <-w.Done:
	case <-time.After(15 * time.Second): // SHUTDOWN_TIMEOUT is 10s
		t.Fatal("worker still running 15s after SIGTERM")
	}
	if code := w.ProcessState.ExitCode(); code != 0 {
		t.Errorf("worker exited %d after SIGTERM, want 0", code)
	}
	t.Logf("worker drained after %d of %d outputs", f.Count("out/drain/"), pages/3)
	f.StartWorker()
	if _, err := wait(ctx, t, op); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if got := f.PageTexts(f.Outputs("out/drain/")); len(got) != pages {
		t.Errorf("got %d pages, want %d", len(got), pages)
	}
}

func waitFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %s", d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func keys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}
