package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"google.golang.org/grpc/codes"

	"github.com/folio-ocr/folio/internal/localrun"
	"github.com/folio-ocr/folio/internal/pdfgen"
)

// childPIDs returns the worker's child processes: its pdfium children.
func childPIDs(t *testing.T, pid int) []int {
	t.Helper()
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // the thread ended
		}
		for _, s := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(s); err == nil {
				pids = append(pids, n)
			}
		}
	}
	slices.Sort(pids)
	return slices.Compact(pids)
}

// A page that never ends (in pdfium's content parser, where the worker
// cannot interrupt it) ends DEADLINE_EXCEEDED within PAGE_TIMEOUT and a
// margin of its range's start, naming its page, while the other ranges on
// the same worker go on and finish first.
func TestStuckPageDoesNotStallOtherRanges(t *testing.T) {
	const timeout = 4 * time.Second
	f := start(t, 0, func(o *localrun.Options) {
		o.Env = append(o.Env, "PAGE_TIMEOUT="+timeout.String(), "LOG_LEVEL=debug")
	})
	worker := f.StartWorker()
	c := f.client()
	ctx := testContext(t, 2*time.Minute)
	stuck := f.Upload("in/stuck.pdf", pdfgen.SlowPages(256)) // about 17 s of parsing
	other := f.Upload("in/other.pdf", pdfgen.Document(300))
	// A first operation waits out the worker's start.
	warm, err := c.AsyncBatchAnnotateFiles(ctx, &visionpb.AsyncBatchAnnotateFilesRequest{
		Requests: []*visionpb.AsyncAnnotateFileRequest{request(f.Upload("in/warm.pdf", pdfgen.Document(1)), "gs://"+bucket+"/out/warm/", 1)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wait(ctx, t, warm); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	op, err := c.AsyncBatchAnnotateFiles(ctx, &visionpb.AsyncBatchAnnotateFilesRequest{
		Requests: []*visionpb.AsyncAnnotateFileRequest{
			request(stuck, "gs://"+bucket+"/out/stuck/", 1),
			request(other, "gs://"+bucket+"/out/other/", 50),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	var otherDone time.Duration
	waitFor(t, time.Minute, func() bool {
		if otherDone == 0 && f.Count("out/other/") == 6 {
			otherDone = time.Since(began)
		}
		return f.Count("out/stuck/") == 1
	})
	stuckDone := time.Since(began)
	// The page's time runs from its range's start: the plan before it
	// (with a font sample of these slow pages) and the wait for a free
	// slot are the machine's load, not the timeout's.
	rangeStart, ok := logTime(t, worker.Log, "range started", stuck)
	if !ok {
		t.Fatal("the worker's log has no start of the stuck file's range")
	}
	stuckTook := time.Since(rangeStart)
	if _, err := wait(ctx, t, op); err != nil {
		t.Fatal(err)
	}
	if otherDone == 0 {
		otherDone = time.Since(began)
	}
	t.Logf("the other file's 300 pages done after %s, the stuck page's entry after %s, %s after its range started (PAGE_TIMEOUT %s)",
		otherDone.Round(time.Millisecond), stuckDone.Round(time.Millisecond), stuckTook.Round(time.Millisecond), timeout)
	if otherDone >= stuckDone {
		t.Errorf("the other file finished after the stuck page (%s ≥ %s)", otherDone, stuckDone)
	}
	if limit := timeout + 3*time.Second; stuckTook > limit {
		t.Errorf("the stuck page's entry came %s after its range started, over PAGE_TIMEOUT and a margin (%s)", stuckTook, limit)
	}
	resps := f.Outputs("out/stuck/")["output-1-to-1.json"].GetResponses()
	if len(resps) != 1 || codes.Code(resps[0].GetError().GetCode()) != codes.DeadlineExceeded ||
		!strings.HasPrefix(resps[0].GetError().GetMessage(), "page 1 of "+stuck+": ") {
		t.Errorf("stuck page: %v, want DEADLINE_EXCEEDED naming page 1 of %s", resps, stuck)
	}
	texts := f.PageTexts(f.Outputs("out/other/"))
	for p := 1; p <= 300; p++ {
		if !strings.HasPrefix(texts[p], fmt.Sprintf("Page %d of 300", p)) {
			t.Errorf("other file, page %d: %q", p, texts[p])
		}
	}
}

// logHas reports whether the log at path holds text yet.
func logHas(t *testing.T, path, text string) bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return strings.Contains(string(b), text)
}

// logTime returns the time of the first line of the JSON log at path whose
// message is msg and which contains text.
func logTime(t *testing.T, path, msg, text string) (time.Time, bool) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		var e struct {
			Msg  string    `json:"msg"`
			Time time.Time `json:"time"`
		}
		if !strings.Contains(line, text) || json.Unmarshal([]byte(line), &e) != nil || e.Msg != msg {
			continue
		}
		return e.Time, true
	}
	return time.Time{}, false
}

// A pdfium child process killed mid-page (a crash, the OOM killer) is
// replaced, and its range is retried: the output is whole and right.
func TestPdfiumChildKilled(t *testing.T) {
	f := start(t, 0, func(o *localrun.Options) { o.Env = append(o.Env, "LOG_LEVEL=debug") })
	worker := f.StartWorker()
	c := f.client()
	ctx := testContext(t, 2*time.Minute)
	const pages = 6
	uri := f.Upload("in/slow.pdf", pdfgen.SlowPages(16, 16, 16, 16, 16, 16)) // about 1 s a page
	before := childPIDs(t, worker.Process.Pid)
	op, err := c.AsyncBatchAnnotateFiles(ctx, &visionpb.AsyncBatchAnnotateFilesRequest{
		Requests: []*visionpb.AsyncAnnotateFileRequest{request(uri, "gs://"+bucket+"/out/slow/", pages)},
	})
	if err != nil {
		t.Fatal(err)
	}
	// The plan samples the document's fonts, which on these slow pages
	// takes up to its 2 s bound and may itself end by killing a child:
	// kill once the range has done its first page, with five to go.
	waitFor(t, time.Minute, func() bool { return logHas(t, worker.Log, `"msg":"page"`) })
	victims := childPIDs(t, worker.Process.Pid)
	if len(victims) == 0 {
		t.Fatal("the worker has no child processes")
	}
	for _, pid := range victims {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("children before the job %v; killed %v", before, victims)
	if _, err := wait(ctx, t, op); err != nil {
		t.Fatalf("operation: %v", err)
	}
	texts := f.PageTexts(f.Outputs("out/slow/"))
	for p := 1; p <= pages; p++ {
		if want := fmt.Sprintf("Slow page %d", p); !strings.HasPrefix(texts[p], want) {
			t.Errorf("page %d: %q, want %q", p, texts[p], want)
		}
	}
	if !logHas(t, worker.Log, "the pdfium process exited") {
		t.Error("the worker's log does not show the range failing on the killed child")
	}
	after := childPIDs(t, worker.Process.Pid)
	if len(after) == 0 {
		t.Error("no child process replaced the killed ones")
	}
	for _, pid := range after {
		if slices.Contains(victims, pid) {
			t.Errorf("killed child %d still listed", pid)
		}
	}
	t.Logf("children after: %v", after)
}
