package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"github.com/fsouza/fake-gcs-server/fakestorage"
	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/folio-ocr/folio/internal/gcsemu"
	"github.com/folio-ocr/folio/internal/localrun"
)

// bucket is the emulator's bucket holding inputs and outputs.
const bucket = "bench"

// deployment is Folio as the end-to-end rows run it: the api process, workers
// started per measurement, Redis (under a key prefix and queue of its own,
// removed at the end) and an in-process GCS emulator.
type deployment struct {
	dir     string // binaries, pdfium cache, logs, worker caches
	binDir  string
	wasm    string
	rdb     *redis.Client
	prefix  string
	queue   string
	gcs     *gcsemu.Emulator
	cluster *localrun.Cluster
	runs    int  // requests submitted, naming output prefixes
	keep    bool // keep dir (logs) at Close: a row failed
}

// startDeployment checks Redis, builds the api and worker from the module
// at root and starts the api against a fresh GCS emulator.
func startDeployment(ctx context.Context, root, redisURL string) (*deployment, error) {
	ropts, err := redis.ParseURL(redisURL)
	if err != nil {
		return nil, fmt.Errorf("-redis-url: %w", err)
	}
	d := &deployment{rdb: redis.NewClient(ropts)}
	if err := d.rdb.Ping(ctx).Err(); err != nil {
		_ = d.rdb.Close()
		return nil, fmt.Errorf("%w (no Redis at %s: %v)", errSkipped, redisURL, err)
	}
	id := strconv.FormatInt(time.Now().UnixNano(), 36)
	d.prefix, d.queue = "bench:"+id+":", "bench-"+id
	if d.dir, err = os.MkdirTemp("", "folio-bench-"); err != nil {
		d.Close()
		return nil, err
	}
	d.binDir, d.wasm = filepath.Join(d.dir, "bin"), filepath.Join(d.dir, "wazero")
	logf("building cmd/api and cmd/worker")
	if err := localrun.Build(root, d.binDir, d.wasm); err != nil {
		d.Close()
		return nil, err
	}
	host, err := d.startGCS()
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("GCS emulator: %w", err)
	}
	d.cluster, err = localrun.Start(localrun.Options{
		BinDir: d.binDir, LogDir: d.dir, RedisURL: redisURL, KeyPrefix: d.prefix, Queue: d.queue,
		StorageHost: host, WasmCache: d.wasm, Env: []string{"LOG_LEVEL=warn", "OMP_THREAD_LIMIT=1"},
	})
	if err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// startGCS starts the emulator on a free port with the bucket, and returns
// its host:port.
func (d *deployment) startGCS() (string, error) {
	e, err := gcsemu.Start(bucket)
	if err != nil {
		return "", err
	}
	d.gcs = e
	return e.Host, nil
}

// stopGCS stops the emulator, if it runs.
func (d *deployment) stopGCS() {
	if d.gcs == nil {
		return
	}
	d.gcs.Stop()
	d.gcs = nil
}

// Close stops the processes and the emulator, removes the Redis keys and,
// unless a row failed, the temporary directory. A nil deployment is fine.
func (d *deployment) Close() {
	if d == nil {
		return
	}
	if d.cluster != nil {
		d.cluster.Close()
	}
	d.stopGCS()
	if d.prefix != "" {
		cleanRedis(d.rdb, d.prefix, d.queue)
	}
	_ = d.rdb.Close()
	switch {
	case d.dir == "":
	case d.keep:
		logf("process logs kept in %s", d.dir)
	default:
		_ = os.RemoveAll(d.dir)
	}
}

// upload stores data as an input object.
func (d *deployment) upload(name string, data []byte) {
	d.gcs.CreateObject(fakestorage.Object{
		ObjectAttrs: fakestorage.ObjectAttrs{BucketName: bucket, Name: name, ContentType: "application/pdf"},
		Content:     data,
	})
}

// worker is a running worker process.
type worker struct{ *localrun.Proc }

// startWorker starts one worker running -cores ranges at once with
// OMP_THREAD_LIMIT=1 for Tesseract, then env (KEY=value settings of the
// row, such as PDFIUM_ISOLATE=false), then the -worker-env settings, which
// come last and so win. pdfium is compiled ahead with -warmup under the
// same settings, as the Docker image does, so that the first run does not
// pay for it (wazero's cache key includes the interrupt setting, which
// PDFIUM_ISOLATE and PDFIUM_INTERRUPT decide).
func (d *deployment) startWorker(ctx context.Context, cfg config, env ...string) (worker, error) {
	settings := append(append([]string(nil), env...), cfg.workerEnv...)
	warm := command(ctx, settings, filepath.Join(d.binDir, "worker"), "-warmup", "-pdfium-cache-dir", d.wasm)
	if out, err := warm.CombinedOutput(); err != nil {
		return worker{}, fmt.Errorf("worker -warmup: %w\n%s", err, out)
	}
	all := append([]string{"WORKER_CONCURRENCY=" + strconv.Itoa(cfg.cores), "OMP_THREAD_LIMIT=1"}, env...)
	all = append(all, cfg.workerEnv...)
	p, err := d.cluster.StartWorker(all...)
	if err != nil {
		return worker{}, err
	}
	select { // let the worker connect to Redis
	case <-time.After(time.Second):
	case <-ctx.Done():
	case <-p.Done:
		return worker{}, fmt.Errorf("worker exited at start (log: %s)", p.Log)
	}
	return worker{p}, nil
}

// workerNote describes the deployment of a Folio row.
func workerNote(cfg config, batch int) string {
	n := fmt.Sprintf("1 worker × %d, batchSize %d, api+Redis+GCS emulator", cfg.cores, batch)
	if len(cfg.workerEnv) > 0 {
		n += ", worker env " + strings.Join(cfg.workerEnv, " ")
	}
	return n
}

// stop drains the worker with SIGTERM (SIGKILL after 30 s) and returns its
// peak resident set size, read just before.
func (w worker) stop() string {
	rss := peakRSS(w.Process.Pid)
	_ = w.Process.Signal(syscall.SIGTERM)
	select {
	case <-w.Done:
	case <-time.After(30 * time.Second):
		_ = w.Process.Kill()
		<-w.Done
	}
	return rss
}

// annotate submits object with DOCUMENT_TEXT_DETECTION and batchSize batch,
// waits for the operation and returns the wall time from POST to done and
// every page response of the outputs, in page order. It checks that
// ceil(pages/batch) output files were written.
func (d *deployment) annotate(ctx context.Context, object string, pages, batch int) (time.Duration, []*visionpb.AnnotateImageResponse, error) {
	took, prefix, err := d.submit(ctx, object, pages, batch)
	if err != nil {
		return 0, nil, err
	}
	resps, err := d.results(prefix, pages, batch)
	if err != nil {
		return 0, nil, err
	}
	return took, resps, nil
}

// submit runs object (of pages pages) through Folio with batchSize batch
// and returns the time from submission to the operation's end, and the
// prefix of its outputs (see results).
func (d *deployment) submit(ctx context.Context, object string, pages, batch int) (time.Duration, string, error) {
	d.runs++
	prefix := fmt.Sprintf("out/%d/", d.runs)
	took, err := submitAndWait(ctx, d.cluster.API, "gs://"+bucket+"/"+object, "gs://"+bucket+"/"+prefix, batch, waitLimit(pages))
	if err != nil {
		d.keep = true
		return 0, "", fmt.Errorf("%w (logs: %s)", err, strings.Join(d.cluster.Logs(), " "))
	}
	return took, prefix, nil
}

// results reads and checks the outputs a submit wrote under prefix: one
// response per page, in page order.
func (d *deployment) results(prefix string, pages, batch int) ([]*visionpb.AnnotateImageResponse, error) {
	resps, err := d.outputs(prefix, (pages+batch-1)/batch)
	if err == nil && len(resps) != pages {
		err = fmt.Errorf("outputs under %s answer %d pages, want %d", prefix, len(resps), pages)
	}
	if err != nil {
		d.keep = true
		return nil, err
	}
	return resps, nil
}

// outputs reads and decodes the output files under prefix, expecting
// files of them, and returns their page responses in page order.
func (d *deployment) outputs(prefix string, files int) ([]*visionpb.AnnotateImageResponse, error) {
	objs, _, err := d.gcs.ListObjects(bucket, prefix, "", false)
	if err != nil {
		return nil, fmt.Errorf("list outputs: %w", err)
	}
	if len(objs) != files {
		return nil, fmt.Errorf("%d output files under %s, want %d", len(objs), prefix, files)
	}
	var resps []*visionpb.AnnotateImageResponse
	for _, o := range objs {
		obj, err := d.gcs.GetObject(bucket, o.Name)
		if err != nil {
			return nil, fmt.Errorf("read output %s: %w", o.Name, err)
		}
		var f visionpb.AnnotateFileResponse
		if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(obj.Content, &f); err != nil {
			return nil, fmt.Errorf("decode output %s: %w", o.Name, err)
		}
		resps = append(resps, f.Responses...)
	}
	slices.SortFunc(resps, func(a, b *visionpb.AnnotateImageResponse) int {
		return int(a.GetContext().GetPageNumber() - b.GetContext().GetPageNumber())
	})
	return resps, nil
}

// pageFailures counts the responses carrying an error and describes the
// first ("code 12: page 1 has no text layer ...").
func pageFailures(resps []*visionpb.AnnotateImageResponse) (int, string) {
	n, first := 0, ""
	for _, r := range resps {
		if e := r.GetError(); e != nil && e.GetCode() != 0 {
			if n == 0 {
				first = fmt.Sprintf("code %d: %s", e.GetCode(), e.GetMessage())
			}
			n++
		}
	}
	return n, first
}

// waitLimit is how long a request of pages may take before the row gives
// up: ten minutes, and ten seconds a page (the scanned set runs at about a
// page per second per core).
func waitLimit(pages int) time.Duration {
	return 10*time.Minute + time.Duration(pages)*10*time.Second
}

// submitAndWait posts one request, waits for its operation and returns the
// time from submission to the operation's end, for at most limit.
//
// It polls every 100 ms, as no client would (Google's start at a second),
// and takes the end from the operation's own updateTime, which the worker
// that finishes it sets: the api, Redis and this process then spend next to
// nothing on polls while Folio works on the same cores, and the time is as
// exact as the clock, not the poll interval.
func submitAndWait(ctx context.Context, api, src, dest string, batch int, limit time.Duration) (time.Duration, error) {
	return submitAndWaitPoll(ctx, api, src, dest, batch, limit, 100*time.Millisecond)
}

// submitAndWaitPoll is submitAndWait polling every poll.
func submitAndWaitPoll(ctx context.Context, api, src, dest string, batch int, limit, poll time.Duration) (time.Duration, error) {
	body := fmt.Sprintf(`{"requests":[{"inputConfig":{"gcsSource":{"uri":%q},"mimeType":"application/pdf"},`+
		`"features":[{"type":"DOCUMENT_TEXT_DETECTION"}],"outputConfig":{"gcsDestination":{"uri":%q},"batchSize":%d}}]}`,
		src, dest, batch)
	start := time.Now()
	var op struct {
		Name     string          `json:"name"`
		Done     bool            `json:"done"`
		Error    json.RawMessage `json:"error"`
		Metadata struct {
			UpdateTime time.Time `json:"updateTime"`
		} `json:"metadata"`
	}
	status, err := doJSON(ctx, http.MethodPost, api+"/v1/files:asyncBatchAnnotate", body, &op)
	if err != nil || op.Name == "" {
		return 0, fmt.Errorf("submit: status %d: %v", status, err)
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for !op.Done {
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("operation %s: %w", op.Name, ctx.Err())
		case <-time.After(poll):
		}
		if _, err := doJSON(ctx, http.MethodGet, api+"/v1/"+op.Name, "", &op); err != nil {
			return 0, fmt.Errorf("poll %s: %w", op.Name, err)
		}
	}
	seen := time.Now()
	if len(op.Error) > 0 {
		return 0, fmt.Errorf("operation failed: %s", op.Error)
	}
	return operationTook(start, op.Metadata.UpdateTime, seen), nil
}

// operationTook is an operation's time from submission at start to its
// end at end (its final updateTime), or to seen, when the poll saw it done,
// if end is not between start and seen (another clock, or none).
func operationTook(start, end, seen time.Time) time.Duration {
	if end.Before(start) || end.After(seen) {
		return seen.Sub(start)
	}
	return end.Sub(start)
}

// doJSON sends a request with a JSON body (none if empty) and decodes the
// JSON answer into v; it returns the HTTP status.
func doJSON(ctx context.Context, method, url, body string, v any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return resp.StatusCode, fmt.Errorf("status %d: decode: %w", resp.StatusCode, err)
	}
	return resp.StatusCode, nil
}

// cleanRedis removes the keys and the queue the bench created.
func cleanRedis(rdb *redis.Client, prefix, queue string) {
	ctx := context.Background()
	for _, pattern := range []string{prefix + "*", "asynq:{" + queue + "}*"} {
		iter := rdb.Scan(ctx, 0, pattern, 1000).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
	}
	rdb.SRem(ctx, "asynq:queues", queue)
}

// peakRSS reads a live process's peak resident set size from /proc.
func peakRSS(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return formatKiB(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
		}
	}
	return "unknown"
}

// formatKiB turns a decimal count of KiB into "123 MiB".
func formatKiB(kib string) string {
	n, err := strconv.ParseInt(kib, 10, 64)
	if err != nil {
		return kib + " kB"
	}
	return mib(n)
}

// mib formats a size in KiB as whole MiB.
func mib(kib int64) string { return fmt.Sprintf("%d MiB", kib>>10) }
