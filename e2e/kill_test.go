package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/folio-ocr/folio/internal/localrun"
	"github.com/folio-ocr/folio/internal/pdfgen"
)

// lineScans returns an n-page PDF whose page i shows one line, "Page i of
// n", on a small page: with TEXT_LAYER=never every page is rendered and
// OCR'd as a scan is, at a fraction of a letter page's OCR time.
func lineScans(n int) []byte {
	pages := make([]pdfgen.Page, n)
	for i := range pages {
		pages[i] = pdfgen.Page{Width: 300, Height: 60, Runs: []pdfgen.Run{{X: 20, Y: 25, Size: 18, Text: fmt.Sprintf("Page %d of %d", i+1, n)}}}
	}
	return pdfgen.PDF(pages...)
}

// finalizations counts, over every process's log, the ranges whose
// completion finished their operation.
func (f *folio) finalizations() int {
	f.t.Helper()
	n := 0
	for _, path := range f.Logs() {
		b, err := os.ReadFile(path)
		if err != nil {
			f.t.Fatal(err)
		}
		n += strings.Count(string(b), `"finalized":true`)
	}
	return n
}

// generations returns the generation of every object under prefix: an
// object written again gets a new one.
func (f *folio) generations(prefix string) map[string]int64 {
	f.t.Helper()
	got := map[string]int64{}
	it := f.Storage.Bucket(bucket).Objects(context.Background(), &storage.Query{Prefix: prefix})
	for {
		a, err := it.Next()
		if err == iterator.Done {
			return got
		}
		if err != nil {
			f.t.Fatal(err)
		}
		got[a.Name] = a.Generation
	}
}

// Twenty SIGKILLs of random workers at random moments of a 200-page
// scanned job, each killed worker replaced: the job completes, every page
// appears exactly once with its own text, and the operation is finalized
// once.
func TestTwentyKills(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and replaces workers for about a minute")
	}
	const (
		pages   = 200
		kills   = 20
		workers = 3
	)
	f := start(t, 0, func(o *localrun.Options) { o.Env = append(o.Env, "TEXT_LAYER=never") })
	live := make([]*localrun.Proc, 0, workers)
	for range workers {
		live = append(live, f.StartWorker())
	}
	c := f.client()
	ctx := testContext(t, 8*time.Minute)
	uri := f.Upload("in/scans.pdf", lineScans(pages))
	began := time.Now()
	op, err := c.AsyncBatchAnnotateFiles(ctx, &visionpb.AsyncBatchAnnotateFilesRequest{
		Requests: []*visionpb.AsyncAnnotateFileRequest{request(uri, "gs://"+bucket+"/out/scans/", 2)},
	})
	if err != nil {
		t.Fatal(err)
	}
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 0))
	t.Logf("kill schedule seed %d", seed)
	done := make(chan error, 1)
	go func() { _, err := wait(ctx, t, op); done <- err }()
	killed := 0
	var lastKill time.Time
	for killed < kills {
		select {
		case err := <-done:
			t.Fatalf("operation ended after %d of %d kills (%v); the kills came too slowly for the job", killed, kills, err)
		case <-time.After(time.Duration(200+rng.IntN(1300)) * time.Millisecond):
		}
		i := rng.IntN(len(live))
		if err := live[i].Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-live[i].Done
		lastKill = time.Now()
		killed++
		live[i] = f.StartWorker()
	}
	t.Logf("%d kills in %s, %d of %d outputs written by then", kills, lastKill.Sub(began).Round(time.Millisecond), f.Count("out/scans/"), pages/2)
	if err := <-done; err != nil {
		t.Fatalf("Wait: %v", err)
	}
	t.Logf("done %s after the last kill, %s in all", time.Since(lastKill).Round(time.Second), time.Since(began).Round(time.Second))
	got := f.PageTexts(f.Outputs("out/scans/"))
	for p := 1; p <= pages; p++ {
		if want := fmt.Sprintf("Page %d of %d", p, pages); !strings.Contains(got[p], want) {
			t.Errorf("page %d: %q, want %q", p, got[p], want)
		}
	}
	if len(got) != pages {
		t.Errorf("got %d pages, want %d", len(got), pages)
	}
	if n := f.finalizations(); n != 1 {
		t.Errorf("the operation was finalized %d times, want once", n)
	}
	if silent := f.rescueDelays(); len(silent) > 0 {
		t.Logf("%d tasks rescued; silent for p50 %s, p95 %s, max %s before the janitor queued them again",
			len(silent), quantile(silent, 0.5), quantile(silent, 0.95), quantile(silent, 1))
	}
}

// rescueDelays returns, from every process's log, how long each task the
// janitor queued again had been silent: about the time from its worker's
// death to its task's return to the queue.
func (f *folio) rescueDelays() []time.Duration {
	f.t.Helper()
	var out []time.Duration
	for _, path := range f.Logs() {
		b, err := os.ReadFile(path)
		if err != nil {
			f.t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			var e struct {
				Msg    string  `json:"msg"`
				Silent float64 `json:"silent_for"`
			}
			if json.Unmarshal([]byte(line), &e) == nil && e.Msg == "queued again the task of a worker that stopped beating" {
				out = append(out, time.Duration(e.Silent*float64(time.Second)).Round(100*time.Millisecond))
			}
		}
	}
	return out
}

// quantile returns the q-quantile (0 to 1) of ds, nearest rank.
func quantile(ds []time.Duration, q float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

// Workers frozen with SIGSTOP while another worker redoes their ranges,
// then resumed with SIGCONT while the operation still runs: one past
// Folio's heartbeat only (20 s; its next beat finds its tasks taken), one
// past asynq's lease too (35 s; asynq itself stops its tasks). Each
// resumed worker drops the ranges taken from it, logs no failure and lives
// on; no output is written twice (generations unchanged) or torn, every
// page appears once, and the operation is finalized once.
func TestWorkersFrozen(t *testing.T) {
	if testing.Short() {
		t.Skip("freezes workers for 20 and 35 s")
	}
	// 32 ranges of 20 synthetic pages of 250 ms, so the operation still
	// runs when the second victim resumes.
	const pages, batch = 640, 20
	f := start(t, 0, func(o *localrun.Options) {
		o.Env = append(o.Env, "FOLIO_SYNTHETIC_PAGE_DELAY=250ms", "LOG_LEVEL=debug")
	})
	victims := []struct {
		p      *localrun.Proc
		freeze time.Duration
		says   string // what the resumed worker logs about its tasks
	}{
		{f.StartWorker(), 20 * time.Second, "dropped a task the janitor queued again"},
		// Past asynq's lease either asynq stops the tasks or, when the
		// worker's next beat comes first, the heartbeat does.
		{f.StartWorker(), 35 * time.Second, "its lease expired while this worker was silent|dropped a task the janitor queued again"},
	}
	c := f.client()
	ctx := testContext(t, 3*time.Minute)
	uri := f.Upload("in/frozen.pdf", pdfgen.Document(pages))
	op, err := c.AsyncBatchAnnotateFiles(ctx, &visionpb.AsyncBatchAnnotateFilesRequest{
		Requests: []*visionpb.AsyncAnnotateFileRequest{request(uri, "gs://"+bucket+"/out/frozen/", batch)},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Freeze each victim inside its first range, once it has done a page
	// there (units of 10 pages take 2.5 s).
	frozen := make([]time.Time, len(victims))
	for i, v := range victims {
		waitFor(t, time.Minute, func() bool { return logHas(t, v.p.Log, `"msg":"page"`) })
		if err := v.p.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		frozen[i] = time.Now()
		t.Cleanup(func() { _ = v.p.Process.Signal(syscall.SIGCONT) })
	}
	f.StartWorker()
	written := map[string]int64{}
	for i, v := range victims {
		time.Sleep(time.Until(frozen[i].Add(v.freeze)))
		maps.Copy(written, f.generations("out/frozen/"))
		if _, err := op.Poll(ctx); err != nil || op.Done() {
			t.Fatalf("operation done (%v) or failing (%v) before a victim resumed: make the job longer", op.Done(), err)
		}
		if err := v.p.Process.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		t.Logf("resumed a victim after %s, %d of %d outputs written", time.Since(frozen[i]).Round(time.Second), len(written), pages/batch)
	}
	if _, err := wait(ctx, t, op); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	// Two beats and a janitor round more, for any late duplicate of a
	// rescued range to run and find it done.
	time.Sleep(3*time.Second + 2*2*time.Second)
	after := f.generations("out/frozen/")
	for name, gen := range written {
		if after[name] != gen {
			t.Errorf("%s was written again after a frozen worker resumed (generation %d, then %d)", name, gen, after[name])
		}
	}
	if got := f.PageTexts(f.Outputs("out/frozen/")); len(got) != pages {
		t.Errorf("got %d pages, want %d", len(got), pages)
	}
	if n := f.finalizations(); n != 1 {
		t.Errorf("the operation was finalized %d times, want once", n)
	}
	for _, v := range victims {
		select {
		case <-v.p.Done:
			t.Errorf("the worker resumed after %s exited (%v)", v.freeze, v.p.ProcessState)
		default:
		}
		b, err := os.ReadFile(v.p.Log)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(strings.Split(v.says, "|"), func(s string) bool { return strings.Contains(string(b), s) }) {
			t.Errorf("the worker resumed after %s does not log %q", v.freeze, v.says)
		}
		if strings.Contains(string(b), "task failed") {
			t.Errorf("the worker resumed after %s logged a failure for a task taken from it", v.freeze)
		}
	}
}

// An operation still running at OPERATION_DEADLINE is ended by the
// janitor with DEADLINE_EXCEEDED, and its error names the file and pages
// that were stuck; the client sees it as Google's would.
func TestOperationDeadline(t *testing.T) {
	f := start(t, 0, func(o *localrun.Options) {
		o.Env = append(o.Env, "OPERATION_DEADLINE=3s", "FOLIO_SYNTHETIC_PAGE_DELAY=1s")
	})
	f.StartWorker()
	c := f.client()
	ctx := testContext(t, time.Minute)
	uri := f.Upload("in/slow.pdf", pdfgen.Document(30))
	op, err := c.AsyncBatchAnnotateFiles(ctx, &visionpb.AsyncBatchAnnotateFilesRequest{
		Requests: []*visionpb.AsyncAnnotateFileRequest{request(uri, "gs://"+bucket+"/out/slow/", 30)},
	})
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	_, err = wait(ctx, t, op)
	st, _ := status.FromError(err)
	if st.Code() != codes.DeadlineExceeded {
		t.Fatalf("Wait: %v, want DEADLINE_EXCEEDED", err)
	}
	t.Logf("ended after %s: %s", time.Since(began).Round(100*time.Millisecond), st.Message())
	for _, want := range []string{"3s", uri + " pages 1-30"} {
		if !strings.Contains(st.Message(), want) {
			t.Errorf("message %q does not name %q", st.Message(), want)
		}
	}
	if n := f.Count("out/slow/"); n != 0 {
		t.Errorf("%d outputs of the ended operation, want none", n)
	}
}
