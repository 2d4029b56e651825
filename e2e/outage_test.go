package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	vision "cloud.google.com/go/vision/v2/apiv1"
	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"github.com/redis/go-redis/v9"

	"github.com/folio-ocr/folio/internal/freeport"
	"github.com/folio-ocr/folio/internal/localrun"
	"github.com/folio-ocr/folio/internal/pdfgen"
)

// A short Redis outage loses no work and needs no operator: Redis is
// killed with SIGKILL mid-operation, stays down about 6 s and is started
// again from its append-only file on the same port; the api and both
// workers reconnect by themselves (none is restarted), a client that keeps
// polling through the outage sees the operation complete, and every page
// is in the outputs exactly once. The test logs the delay the outage added
// (the figure; its target is 45 s at p95).
func TestRedisRestart(t *testing.T) {
	r := startRedisProcess(t)
	f := start(t, 0, func(o *localrun.Options) { o.RedisURL = r.URL() })
	workers := []*localrun.Proc{f.StartWorker(), f.StartWorker()}
	c := f.client()
	ctx := testContext(t, 6*time.Minute)
	const pages, batch = 600, 2
	const ranges = pages / batch
	uri := f.Upload("in/redis.pdf", pdfgen.Document(pages))
	op, err := c.AsyncBatchAnnotateFiles(ctx, &visionpb.AsyncBatchAnnotateFilesRequest{
		Requests: []*visionpb.AsyncAnnotateFileRequest{request(uri, "gs://"+bucket+"/out/redis/", batch)},
	})
	if err != nil {
		t.Fatal(err)
	}
	submitted := time.Now()

	// The undisturbed rate: outputs per second from the first output until
	// a quarter of them are written.
	waitFor(t, 60*time.Second, func() bool { return f.Count("out/redis/") > 0 })
	first, nFirst := time.Now(), f.Count("out/redis/")
	waitFor(t, 60*time.Second, func() bool { return f.Count("out/redis/") >= ranges/4 })
	killed, nKilled := time.Now(), f.Count("out/redis/")
	if nKilled >= ranges {
		t.Fatalf("the operation was done before the outage (%d outputs in %s): make the document bigger", nKilled, killed.Sub(submitted))
	}
	rate := float64(nKilled-nFirst) / killed.Sub(first).Seconds()
	if nKilled-nFirst < 10 { // too few to time: count from the submit, start-up included
		rate = float64(nKilled) / killed.Sub(submitted).Seconds()
	}

	if err := r.Kill(); err != nil {
		t.Fatal(err)
	}
	// A client keeps polling while Redis is down: its polls fail (the api
	// stores operations in Redis) and are retried.
	down := pollThrough(ctx, op, time.Now().Add(6*time.Second))
	if down.Done {
		t.Fatalf("operation done while Redis was down (err %v)", down.Err)
	}
	if down.Failed == 0 {
		t.Errorf("all %d polls answered while Redis was down", down.Polls)
	}
	nDown := f.Count("out/redis/")
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	ms := func(d time.Duration) time.Duration { return d.Round(100 * time.Millisecond) }
	t.Logf("Redis down %s after %d of %d outputs (%s after the submit); %d outputs written meanwhile; %d of %d polls failed during the outage (last: %v)",
		ms(back.Sub(killed)), nKilled, ranges, ms(killed.Sub(submitted)), nDown-nKilled, down.Failed, down.Polls, down.LastFailure)

	after := pollThrough(ctx, op, time.Now().Add(4*time.Minute))
	if !after.Done {
		t.Fatalf("operation not done 4 min after Redis came back (%d of %d outputs; %d polls failed, last: %v)",
			f.Count("out/redis/"), ranges, after.Failed, after.LastFailure)
	}
	if after.Err != nil {
		t.Fatalf("operation failed: %v", after.Err)
	}
	done := time.Now()
	// What the outage cost: the time from the kill to completion, less
	// what the outputs left at the kill take at the undisturbed rate;
	// "beyond" leaves out the outage's own length.
	expected := time.Duration(float64(ranges-nKilled) / rate * float64(time.Second))
	added, beyond := done.Sub(killed)-expected, done.Sub(back)-expected
	t.Logf("undisturbed rate %.1f outputs/s; done %s after Redis came back, %s after the kill; the %d outputs left at the kill take %s at that rate: the outage added %s (%s beyond its own %s); %d polls failed after Redis came back",
		rate, ms(done.Sub(back)), ms(done.Sub(killed)), ranges-nKilled, ms(expected), ms(added), ms(beyond), ms(back.Sub(killed)), after.Failed)
	if added > 45*time.Second {
		// Seen in about 1 run in 12 under load: a task that Redis handed
		// out (moved to asynq's active set) just as it was killed, whose
		// answer never reached the worker, is picked up only when asynq's
		// recoverer finds its lease expired (1 to 2 min) and retries it
		// after asynq's default delay (15 to 45 s).
		t.Logf("over the issue's target of 45 s: the outage added %s", ms(added))
	}

	f.checkDocumentOutputs("out/redis/", pages, batch)
	// The same processes did it all: none exited, and the api answers ready.
	for i, p := range append(workers, f.APIProc()) {
		select {
		case <-p.Done:
			t.Errorf("process %d (%s) exited during the test: %v", i, filepath.Base(p.Log), p.ProcessState)
		default:
		}
	}
	waitFor(t, 10*time.Second, func() bool { return httpStatus(f.API+"/readyz") == http.StatusOK })
}

// Storage that fails a share of requests (503 answers, connections reset
// before the request is forwarded, answers lost after it took effect)
// delays an operation but does not fail it: it completes, every output
// parses strictly, each page is in exactly one output, and there are no
// other objects (no half-written or stray output).
func TestStorageFaults(t *testing.T) {
	const seed = 20240611
	var proxy *storageFaultProxy
	f := start(t, 0, func(o *localrun.Options) {
		proxy = newStorageFaultProxy(t, o.StorageHost, seed, faultRates{unavailable: 0.15, reset: 0.10, lost: 0.05})
		o.StorageHost = proxy.Host()
	})
	f.StartWorker()
	f.StartWorker()
	c := f.client()
	ctx := testContext(t, 5*time.Minute)
	const pages, batch = 200, 2
	uri := f.Upload("in/faults.pdf", pdfgen.Document(pages))
	begin := time.Now()
	op, err := c.AsyncBatchAnnotateFiles(ctx, &visionpb.AsyncBatchAnnotateFilesRequest{
		Requests: []*visionpb.AsyncAnnotateFileRequest{request(uri, "gs://"+bucket+"/out/faults/", batch)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wait(ctx, t, op); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	took := time.Since(begin)
	n := proxy.Counts()
	t.Logf("done in %s; storage proxy (seed %d): %d requests, %d answered 503, %d reset before forwarding, %d answers lost after forwarding; by kind %v",
		took.Round(100*time.Millisecond), seed, n.requests, n.unavailable, n.reset, n.lost, n.byKind)
	retries := f.countInLogs("worker-", "will retry")
	t.Logf("tasks retried by asynq: %d (%d outputs)", retries, pages/batch)
	if n.unavailable == 0 || n.reset == 0 || n.lost == 0 {
		t.Errorf("not every kind of fault was injected: %+v", n)
	}
	// The storage client retries the failed requests, writes included;
	// tasks (annotating their pages again) are retried only for faults in a
	// row that outlast its retries. Without a retry policy on writes, over
	// a third of the ranges were.
	if retries > pages/batch/10 {
		t.Errorf("%d of %d tasks retried by asynq: storage faults should be retried by the storage client", retries, pages/batch)
	}
	f.checkDocumentOutputs("out/faults/", pages, batch)
}

// The api crashing (SIGKILL) and coming back on the same addresses mid-job
// is invisible to clients: the operation, read with Google's Go clients
// created before the crash, answers over REST and gRPC as soon as the new
// api is ready, with the same metadata; the job completes with every page
// once; and the new api takes new work.
func TestAPIRestart(t *testing.T) {
	f := start(t, 2)
	clients := map[string]*vision.ImageAnnotatorClient{"rest": f.clientOver("rest"), "grpc": f.clientOver("grpc")}
	ctx := testContext(t, 5*time.Minute)
	const pages, batch = 400, 2
	uri := f.Upload("in/api.pdf", pdfgen.Document(pages))
	op, err := clients["rest"].AsyncBatchAnnotateFiles(ctx, &visionpb.AsyncBatchAnnotateFilesRequest{
		Requests: []*visionpb.AsyncAnnotateFileRequest{request(uri, "gs://"+bucket+"/out/api/", batch)},
	})
	if err != nil {
		t.Fatal(err)
	}
	meta, err := op.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	// Both transports have a connection to the old api.
	for name, c := range clients {
		if _, err := c.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: op.Name()}); err != nil {
			t.Fatalf("%s: GetOperation before the crash: %v", name, err)
		}
	}
	waitFor(t, 60*time.Second, func() bool { return f.Count("out/api/") > 0 })
	old := f.APIProc()
	crashed := time.Now()
	if err := f.RestartAPI(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if ws, ok := old.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Errorf("old api ended with %v, want killed by SIGKILL", old.ProcessState)
	}
	nRestart := f.Count("out/api/")
	t.Logf("api killed after %d of %d outputs and ready again in %s", nRestart, pages/batch, time.Since(crashed).Round(10*time.Millisecond))
	if nRestart >= pages/batch {
		t.Fatalf("the operation was done before the api restarted: make the document bigger")
	}

	for _, name := range []string{"rest", "grpc"} {
		got, err := clients[name].GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: op.Name()})
		if err != nil {
			t.Fatalf("%s: GetOperation after the restart: %v", name, err)
		}
		m := &visionpb.OperationMetadata{}
		if err := got.GetMetadata().UnmarshalTo(m); err != nil {
			t.Fatalf("%s: metadata: %v", name, err)
		}
		if got.GetName() != op.Name() || !m.GetCreateTime().AsTime().Equal(meta.GetCreateTime().AsTime()) {
			t.Errorf("%s: after the restart operation %q created %v; before, %q created %v",
				name, got.GetName(), m.GetCreateTime().AsTime(), op.Name(), meta.GetCreateTime().AsTime())
		}
	}

	// The new api takes new work, over gRPC.
	small := f.Upload("in/api-small.pdf", pdfgen.Document(3))
	op2, err := clients["grpc"].AsyncBatchAnnotateFiles(ctx, &visionpb.AsyncBatchAnnotateFilesRequest{
		Requests: []*visionpb.AsyncAnnotateFileRequest{request(small, "gs://"+bucket+"/out/api-small/", 1)},
	})
	if err != nil {
		t.Fatalf("submit to the new api: %v", err)
	}
	// The first operation is followed to its end over gRPC, the second
	// over REST.
	if _, err := wait(ctx, t, clients["grpc"].AsyncBatchAnnotateFilesOperation(op.Name())); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if _, err := wait(ctx, t, clients["rest"].AsyncBatchAnnotateFilesOperation(op2.Name())); err != nil {
		t.Fatalf("Wait (submitted after the restart): %v", err)
	}
	t.Logf("done %s after the crash", time.Since(crashed).Round(100*time.Millisecond))
	f.checkDocumentOutputs("out/api/", pages, batch)
	f.checkDocumentOutputs("out/api-small/", 3, 1)
}

// checkDocumentOutputs checks the outputs under prefix of a
// pdfgen.Document(pages) annotated with batch pages per output: they are
// exactly output-1-to-B.json … output-…-to-P.json (nothing else was
// written under the prefix), each parses strictly as an
// AnnotateFileResponse, and each page is in exactly one of them with its
// own text.
func (f *folio) checkDocumentOutputs(prefix string, pages, batch int) {
	f.t.Helper()
	outs := f.Outputs(prefix)
	var want []string
	for first := 1; first <= pages; first += batch {
		want = append(want, fmt.Sprintf("output-%d-to-%d.json", first, min(first+batch-1, pages)))
	}
	got := keys(outs)
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		f.t.Errorf("%d outputs under %s, want %d; extra %v, missing %v", len(got), prefix, len(want), minus(got, want), minus(want, got))
	}
	texts := f.PageTexts(outs) // fails on a page seen twice
	var wrong []int
	for p := 1; p <= pages; p++ {
		if !strings.HasPrefix(texts[p], fmt.Sprintf("Page %d of %d", p, pages)) {
			wrong = append(wrong, p)
		}
	}
	if len(wrong) > 0 {
		f.t.Errorf("%d of %d pages missing or with the wrong text, first %d: %q", len(wrong), pages, wrong[0], texts[wrong[0]])
	}
	if len(texts) != pages {
		f.t.Errorf("got %d pages, want %d", len(texts), pages)
	}
}

// minus returns the elements of a that are not in b.
func minus(a, b []string) []string {
	var d []string
	for _, s := range a {
		if !slices.Contains(b, s) {
			d = append(d, s)
		}
	}
	return d
}

// countInLogs counts the lines containing text in the logs of the
// processes whose log file name starts with name (worker-, api-).
func (f *folio) countInLogs(name, text string) int {
	f.t.Helper()
	n := 0
	for _, path := range f.Logs() {
		if !strings.HasPrefix(filepath.Base(path), name) {
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			f.t.Fatal(err)
		}
		n += strings.Count(string(b), text)
	}
	return n
}

// httpStatus returns the status of a GET of url, or 0 when there is no
// answer.
func httpStatus(url string) int {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

// pollOutcome is what pollThrough saw.
type pollOutcome struct {
	Done        bool
	Err         error // the operation's error, when Done
	Polls       int
	Failed      int // polls that got no answer or an error answer
	LastFailure error
}

// pollThrough polls op every 100 ms until it is done or until has passed,
// as a client polling through an outage does: a failed poll is counted and
// retried, not fatal. Each poll has 2 s: the client retries UNAVAILABLE
// answers within a poll for as long as its context lets it.
func pollThrough(ctx context.Context, op *vision.AsyncBatchAnnotateFilesOperation, until time.Time) pollOutcome {
	var o pollOutcome
	for time.Now().Before(until) && ctx.Err() == nil {
		o.Polls++
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := op.Poll(pctx)
		cancel()
		if op.Done() {
			o.Done, o.Err = true, err
			return o
		}
		if err != nil {
			o.Failed++
			o.LastFailure = err
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	return o
}

// redisProcess is a redis-server of one test on a free loopback port,
// writing every change to its append-only file (fsync at each write) in a
// directory of its own, so that it can be killed with SIGKILL and started
// again with its data.
type redisProcess struct {
	bin  string
	port int
	dir  string
	log  string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// startRedisProcess starts a redis-server for t, skipping t when there is
// none on PATH, and kills it when t ends.
func startRedisProcess(t *testing.T) *redisProcess {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not on PATH (apt-get install redis-server): this test runs a Redis of its own to kill and restart")
	}
	port, err := freeport.Port()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir() // removed after the Cleanup below has killed the server
	r := &redisProcess{bin: bin, port: port, dir: filepath.Join(dir, "data"), log: filepath.Join(dir, "redis.log")}
	if err := os.Mkdir(r.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Kill(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			b, _ := os.ReadFile(r.log)
			t.Logf("==== redis.log ====\n%s", b)
		}
	})
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	return r
}

// URL is the redis:// URL of the server, for REDIS_URL.
func (r *redisProcess) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d", r.port) }

// Start starts the server on its port and data directory (loading what it
// had) and waits until it answers PING.
func (r *redisProcess) Start() error {
	log, err := os.OpenFile(r.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(r.bin, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--appendonly", "yes", "--appendfsync", "always", "--save", "", "--dir", r.dir)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		_ = log.Close()
		return fmt.Errorf("start redis-server: %w", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		_ = log.Close()
		close(done)
	}()
	r.mu.Lock()
	r.cmd, r.done = cmd, done
	r.mu.Unlock()

	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", r.port), MaxRetries: -1})
	defer func() { _ = c.Close() }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err() // LOADING while it reads its append-only file
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("redis-server exited (%v) before answering; see %s", cmd.ProcessState, r.log)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redis-server on port %d does not answer PING after 20s: %v", r.port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill kills the server with SIGKILL, if it runs, and waits until it has
// exited.
func (r *redisProcess) Kill() error {
	r.mu.Lock()
	cmd, done := r.cmd, r.done
	r.mu.Unlock()
	if cmd == nil {
		return nil
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill redis-server: %w", err)
	}
	select {
	case <-done:
		return nil
	case <-time.After(10 * time.Second):
		return errors.New("redis-server still running 10s after SIGKILL")
	}
}

// faultRates are the shares of requests storageFaultProxy fails, by fault.
type faultRates struct {
	unavailable float64 // answered 503 without forwarding
	reset       float64 // connection reset without forwarding or answering
	lost        float64 // forwarded (it takes effect), then the connection is closed instead of answered
}

// faultCounts are the requests storageFaultProxy saw and failed.
type faultCounts struct {
	requests, unavailable, reset, lost int
	byKind                             map[string]int // requests by kind: upload, download, metadata
}

// storageFaultProxy is an HTTP reverse proxy in front of the storage
// emulator that fails a share of the requests as Cloud Storage and the
// network between do at their worst. Which requests fail is drawn from a
// seeded generator, in the order requests arrive.
type storageFaultProxy struct {
	srv    *httptest.Server
	target *url.URL
	rp     *httputil.ReverseProxy
	rates  faultRates

	mu  sync.Mutex
	rnd *rand.Rand
	n   faultCounts
}

// newStorageFaultProxy starts a fault-injecting proxy to the emulator at
// target (host:port) on a free loopback port; it stops when t ends.
func newStorageFaultProxy(t *testing.T, target string, seed uint64, rates faultRates) *storageFaultProxy {
	t.Helper()
	p := &storageFaultProxy{
		target: &url.URL{Scheme: "http", Host: target},
		rates:  rates,
		rnd:    rand.New(rand.NewPCG(seed, seed)),
		n:      faultCounts{byKind: map[string]int{}},
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(p.target) },
		// A resumable upload's session URL names the emulator: keep it
		// behind the proxy.
		ModifyResponse: func(resp *http.Response) error {
			if loc := resp.Header.Get("Location"); loc != "" {
				resp.Header.Set("Location", strings.Replace(loc, "//"+target+"/", "//"+p.Host()+"/", 1))
			}
			return nil
		},
	}
	p.srv = httptest.NewServer(p)
	t.Cleanup(p.srv.Close)
	return p
}

// Host is the proxy's host:port, for STORAGE_EMULATOR_HOST.
func (p *storageFaultProxy) Host() string { return p.srv.Listener.Addr().String() }

// Counts returns the requests seen and failed so far.
func (p *storageFaultProxy) Counts() faultCounts {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.n
	n.byKind = map[string]int{}
	for k, v := range p.n.byKind {
		n.byKind[k] = v
	}
	return n
}

// draw counts r and picks its fault: "" for none.
func (p *storageFaultProxy) draw(r *http.Request) string {
	kind := "metadata"
	switch {
	case strings.HasPrefix(r.URL.Path, "/upload/"):
		kind = "upload"
	case r.URL.Query().Get("alt") == "media" || strings.HasPrefix(r.URL.Path, "/download/") || !strings.HasPrefix(r.URL.Path, "/storage/"):
		kind = "download"
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n.requests++
	p.n.byKind[kind]++
	x := p.rnd.Float64()
	switch {
	case x < p.rates.unavailable:
		p.n.unavailable++
		return "unavailable"
	case x < p.rates.unavailable+p.rates.reset:
		p.n.reset++
		return "reset"
	case x < p.rates.unavailable+p.rates.reset+p.rates.lost:
		p.n.lost++
		return "lost"
	}
	return ""
}

// ServeHTTP forwards r to the emulator or fails it.
func (p *storageFaultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch p.draw(r) {
	case "unavailable":
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `{"error":{"code":503,"message":"injected fault: backend unavailable","errors":[{"message":"injected fault: backend unavailable","domain":"global","reason":"backendError"}]}}`)
	case "reset":
		dropConn(w, true)
	case "lost":
		p.rp.ServeHTTP(httptest.NewRecorder(), r)
		dropConn(w, false)
	default:
		p.rp.ServeHTTP(w, r)
	}
}

// dropConn takes the request's connection from the server and closes it
// without answering: with a reset (RST, SO_LINGER 0; the client sees
// "connection reset by peer") when rst is set, else with a FIN (the client
// sees EOF).
func dropConn(w http.ResponseWriter, rst bool) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler) // the server closes the connection
	}
	if tc, ok := conn.(*net.TCPConn); ok && rst {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}
