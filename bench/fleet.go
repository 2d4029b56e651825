package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/folio-ocr/folio/internal/freeport"
	"github.com/folio-ocr/folio/internal/localrun"
	"github.com/folio-ocr/folio/internal/pdfgen"
)

// fleetConfig holds the -fleet flags.
type fleetConfig struct {
	on          bool
	workers     int
	concurrency int
	pages       int
	pageDelay   time.Duration
	batch       int
	kill        int
	filePages   int
}

func (f *fleetConfig) bind(fs *flag.FlagSet) {
	fs.BoolVar(&f.on, "fleet", false, "run the fleet simulation instead of the sets: many workers with synthetic pages (FOLIO_SYNTHETIC_PAGE_DELAY)")
	fs.IntVar(&f.workers, "fleet-workers", 8, "worker processes of the fleet simulation")
	fs.IntVar(&f.concurrency, "fleet-concurrency", 2, "WORKER_CONCURRENCY of each fleet worker")
	fs.IntVar(&f.pages, "fleet-pages", 10000, "pages of the fleet simulation, in files of -fleet-file-pages")
	fs.DurationVar(&f.pageDelay, "fleet-page-delay", 20*time.Millisecond, "synthetic work per page")
	fs.IntVar(&f.batch, "fleet-batch", 20, "outputConfig.batchSize of the fleet requests")
	fs.IntVar(&f.kill, "fleet-kill", 0, "then run again, SIGKILLing this many random workers during the run (each replaced at once)")
	fs.IntVar(&f.filePages, "fleet-file-pages", 1000, "pages per synthetic input file (at most the worker's MAX_PAGES, 2000)")
}

func (f fleetConfig) validate() []error {
	var errs []error
	for _, v := range []struct {
		name string
		n    int
	}{{"-fleet-workers", f.workers}, {"-fleet-concurrency", f.concurrency}, {"-fleet-pages", f.pages}, {"-fleet-file-pages", f.filePages}} {
		if v.n < 1 {
			errs = append(errs, fmt.Errorf("%s must be at least 1, got %d", v.name, v.n))
		}
	}
	if f.filePages > 2000 {
		errs = append(errs, fmt.Errorf("-fleet-file-pages must be at most 2000 (MAX_PAGES), got %d", f.filePages))
	}
	if f.batch < 1 || f.batch > 100 {
		errs = append(errs, fmt.Errorf("-fleet-batch must be 1 to 100, got %d", f.batch))
	}
	if f.pageDelay <= 0 {
		errs = append(errs, fmt.Errorf("-fleet-page-delay must be positive, got %s", f.pageDelay))
	}
	if f.kill < 0 || f.kill > f.workers {
		errs = append(errs, fmt.Errorf("-fleet-kill must be 0 to -fleet-workers (%d), got %d", f.workers, f.kill))
	}
	return errs
}

// ideal is the fleet's pages/s if only the synthetic page work took time:
// every worker runs concurrency ranges, each a page at a time.
func (f fleetConfig) ideal() float64 {
	return float64(f.workers*f.concurrency) / f.pageDelay.Seconds()
}

// filePageCounts splits the pages into files of filePages, the last one
// shorter.
func (f fleetConfig) filePageCounts() []int {
	var counts []int
	for left := f.pages; left > 0; left -= f.filePages {
		counts = append(counts, min(left, f.filePages))
	}
	return counts
}

// fleetResult is one fleet run's figures.
type fleetResult struct {
	name        string
	killed      int
	wall        time.Duration
	firstOutput time.Duration
	outputs     int
	pagesOnce   bool
	calls       int64
	top         []commandCount
	redisCPU    float64 // seconds
	peakMem     string
	p50, p99    time.Duration
	ranges      int
	killToDone  time.Duration // last kill to the end of the run
	err         error
}

// runFleet runs the fleet simulation (without kills, then with -fleet-kill
// kills) and writes its report to out.
func runFleet(ctx context.Context, cfg config, root string, args []string, out io.Writer) error {
	f := cfg.fleet
	if _, err := exec.LookPath("redis-server"); err != nil {
		return fmt.Errorf("the fleet simulation starts a redis-server of its own: %w", err)
	}
	load := loadAverage()
	dir, err := os.MkdirTemp("", "folio-fleet-")
	if err != nil {
		return err
	}
	keep := false
	defer func() {
		if keep {
			logf("process logs kept in %s", dir)
			return
		}
		_ = os.RemoveAll(dir)
	}()
	d := &deployment{dir: dir, binDir: filepath.Join(dir, "bin"), wasm: filepath.Join(dir, "wazero")}
	logf("building cmd/api and cmd/worker")
	if err := localrun.Build(root, d.binDir, d.wasm); err != nil {
		return err
	}
	host, err := d.startGCS()
	if err != nil {
		return fmt.Errorf("GCS emulator: %w", err)
	}
	defer d.stopGCS()
	counts := f.filePageCounts()
	logf("generating %d synthetic PDFs (%d pages)", len(counts), f.pages)
	made := map[int][]byte{}
	for i, n := range counts {
		if made[n] == nil {
			made[n] = pdfgen.Document(n)
		}
		d.upload(fmt.Sprintf("fleet/in-%d.pdf", i), made[n])
	}
	runs := []int{0}
	if f.kill > 0 {
		runs = append(runs, f.kill)
	}
	var results []fleetResult
	for i, k := range runs {
		r := fleetRun(ctx, d, host, f, counts, i, k)
		if r.err != nil {
			keep = true
			logf("fleet run %d: %v", i+1, r.err)
		}
		results = append(results, r)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return fleetReport(out, f, args, load, results)
}

// fleetRun runs every file through a fresh fleet: its own redis-server,
// api and workers, killing kill random workers while outputs are between
// 20% and 60% written.
func fleetRun(ctx context.Context, d *deployment, host string, f fleetConfig, counts []int, n, kill int) (res fleetResult) {
	res.name, res.killed = "undisturbed", kill
	if kill > 0 {
		res.name = fmt.Sprintf("%d of %d workers SIGKILLed", kill, f.workers)
	}
	logf("fleet run %d: %s", n+1, res.name)
	runDir := filepath.Join(d.dir, fmt.Sprintf("run-%d", n+1))
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		res.err = err
		return res
	}
	rdb, stopRedis, err := startRedis(ctx, runDir)
	if err != nil {
		res.err = err
		return res
	}
	defer stopRedis()
	cluster, err := localrun.Start(localrun.Options{
		BinDir: d.binDir, LogDir: runDir, RedisURL: "redis://" + rdb.Options().Addr + "/0", KeyPrefix: "fleet:", Queue: "fleet",
		StorageHost: host, WasmCache: d.wasm, Env: []string{"LOG_LEVEL=info"},
	})
	if err != nil {
		res.err = err
		return res
	}
	defer cluster.Close()
	env := []string{"WORKER_CONCURRENCY=" + strconv.Itoa(f.concurrency), "SYNC_CONCURRENCY=1", "OCR_ENGINES=1",
		"FOLIO_SYNTHETIC_PAGE_DELAY=" + f.pageDelay.String()}
	var workers []*localrun.Proc
	for range f.workers {
		p, err := cluster.StartWorker(env...)
		if err != nil {
			res.err = err
			return res
		}
		workers = append(workers, p)
	}
	if err := waitStarted(ctx, workers, 30*time.Second); err != nil {
		res.err = err
		return res
	}
	before, cpuBefore, err := redisStats(ctx, rdb)
	if err != nil {
		res.err = err
		return res
	}

	prefix := fmt.Sprintf("out/fleet-%d/", n+1)
	want := 0
	for _, c := range counts {
		want += (c + f.batch - 1) / f.batch
	}
	kills := make([]float64, kill)
	for i := range kills {
		kills[i] = 0.2 + 0.4*rand.Float64()
	}
	start := time.Now()
	var (
		mu   sync.Mutex
		errs []error
		done = make(chan struct{})
	)
	var wg sync.WaitGroup
	for i := range counts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			src := fmt.Sprintf("gs://%s/fleet/in-%d.pdf", bucket, i)
			dest := fmt.Sprintf("gs://%s/%sf%d/", bucket, prefix, i)
			if _, err := submitAndWaitPoll(ctx, cluster.API, src, dest, f.batch, 15*time.Minute, 250*time.Millisecond); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	go func() { wg.Wait(); close(done) }()
	var lastKill time.Time
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
wait:
	for {
		select {
		case <-done:
			break wait
		case <-tick.C:
		}
		objs, _, err := d.gcs.ListObjects(bucket, prefix, "", false)
		if err != nil {
			continue
		}
		if len(objs) > 0 && res.firstOutput == 0 {
			res.firstOutput = time.Since(start)
		}
		for i, at := range kills {
			if at < 0 || float64(len(objs)) < at*float64(want) {
				continue
			}
			kills[i] = -1
			j := rand.IntN(len(workers))
			logf("SIGKILL worker pid %d at %d of %d outputs; starting a replacement", workers[j].Process.Pid, len(objs), want)
			_ = workers[j].Process.Signal(syscall.SIGKILL)
			lastKill = time.Now()
			if p, err := cluster.StartWorker(env...); err == nil {
				workers[j] = p
			}
		}
	}
	res.wall = time.Since(start)
	if !lastKill.IsZero() {
		res.killToDone = time.Since(lastKill)
	}
	if len(errs) > 0 {
		res.err = errors.Join(errs...)
		return res
	}
	after, cpuAfter, err := redisStats(ctx, rdb)
	if err != nil {
		res.err = err
		return res
	}
	res.top, res.calls = topCommands(callDelta(before, after), 4)
	res.redisCPU = cpuAfter - cpuBefore
	mem, err := rdb.Info(ctx, "memory").Result()
	if err == nil {
		res.peakMem = infoFields(mem)["used_memory_peak_human"]
	}
	res.outputs, res.pagesOnce, err = checkFleetOutputs(d, prefix, counts, want)
	if err != nil {
		res.err = err
		return res
	}
	cluster.Close() // flush the logs
	spans, written := map[string]*rangeSpan{}, map[string]bool{}
	for _, path := range cluster.Logs() {
		fh, err := os.Open(path)
		if err != nil {
			continue
		}
		err = rangeLatencies(fh, spans, written)
		_ = fh.Close()
		if err != nil {
			res.err = fmt.Errorf("%s: %w", path, err)
			return res
		}
	}
	lat := latencies(spans, written)
	res.ranges, res.p50, res.p99 = len(lat), percentile(lat, 50), percentile(lat, 99)
	return res
}

// checkFleetOutputs reads every output file under prefix and checks that
// there are want of them and that every page of every file is answered
// exactly once.
func checkFleetOutputs(d *deployment, prefix string, counts []int, want int) (int, bool, error) {
	objs, _, err := d.gcs.ListObjects(bucket, prefix, "", false)
	if err != nil {
		return 0, false, fmt.Errorf("list outputs: %w", err)
	}
	seen := map[string]int{}
	for _, o := range objs {
		obj, err := d.gcs.GetObject(bucket, o.Name)
		if err != nil {
			return 0, false, fmt.Errorf("read output %s: %w", o.Name, err)
		}
		var r visionpb.AnnotateFileResponse
		if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(obj.Content, &r); err != nil {
			return 0, false, fmt.Errorf("decode output %s: %w", o.Name, err)
		}
		for _, p := range r.GetResponses() {
			seen[fmt.Sprintf("%s#%d", p.GetContext().GetUri(), p.GetContext().GetPageNumber())]++
		}
	}
	once := true
	for i, c := range counts {
		for pg := 1; pg <= c; pg++ {
			if seen[fmt.Sprintf("gs://%s/fleet/in-%d.pdf#%d", bucket, i, pg)] != 1 {
				once = false
			}
		}
	}
	total := 0
	for _, c := range counts {
		total += c
	}
	if len(seen) != total {
		once = false
	}
	if len(objs) != want {
		return len(objs), once, fmt.Errorf("%d output files under %s, want %d", len(objs), prefix, want)
	}
	return len(objs), once, nil
}

// startRedis starts a redis-server of the run's own (no persistence) on a
// free port, so that its command statistics and peak memory are the run's
// alone.
func startRedis(ctx context.Context, dir string) (*redis.Client, func(), error) {
	addr, err := freeport.Addr()
	if err != nil {
		return nil, nil, err
	}
	_, port, _ := strings.Cut(addr, ":")
	log, err := os.Create(filepath.Join(dir, "redis.log"))
	if err != nil {
		return nil, nil, err
	}
	cmd := command(ctx, nil, "redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		_ = log.Close()
		return nil, nil, fmt.Errorf("start redis-server: %w", err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	stop := func() {
		_ = rdb.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = log.Close()
	}
	for i := 0; ; i++ {
		if rdb.Ping(ctx).Err() == nil {
			return rdb, stop, nil
		}
		if i == 100 {
			stop()
			return nil, nil, fmt.Errorf("redis-server on %s did not answer PING", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// redisStats reads the command calls and the CPU seconds of Redis.
func redisStats(ctx context.Context, rdb *redis.Client) (map[string]int64, float64, error) {
	cs, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		return nil, 0, fmt.Errorf("INFO commandstats: %w", err)
	}
	calls, err := commandCalls(cs)
	if err != nil {
		return nil, 0, err
	}
	cpu, err := rdb.Info(ctx, "cpu").Result()
	if err != nil {
		return nil, 0, fmt.Errorf("INFO cpu: %w", err)
	}
	secs, err := cpuSeconds(infoFields(cpu))
	return calls, secs, err
}

// waitStarted waits until every worker has logged "worker started".
func waitStarted(ctx context.Context, ps []*localrun.Proc, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for _, p := range ps {
		for {
			b, _ := os.ReadFile(p.Log)
			if strings.Contains(string(b), `"worker started"`) {
				break
			}
			select {
			case <-p.Done:
				return fmt.Errorf("worker exited at start (log: %s)", p.Log)
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("worker not started after %s (log: %s)", limit, p.Log)
			}
		}
	}
	return nil
}

// fleetReport writes the fleet table.
func fleetReport(w io.Writer, f fleetConfig, args []string, load string, rs []fleetResult) error {
	var b strings.Builder
	fmt.Fprintf(&b, "## Folio fleet simulation\n\n`%s`\n\n", commandLine(args))
	fmt.Fprintf(&b, "- machine: %s, %d cores, load average %s at start, %s\n", cpuModel(), runtime.NumCPU(), load,
		time.Now().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "- %d pages in %d synthetic PDFs of up to %d pages, one operation each, batchSize %d; "+
		"%d workers × WORKER_CONCURRENCY %d, FOLIO_SYNTHETIC_PAGE_DELAY=%s; ideal %.0f pages/s; "+
		"api, workers and a redis-server of the run's own on this machine, GCS emulator in the bench process\n\n",
		f.pages, len(f.filePageCounts()), f.filePages, f.batch, f.workers, f.concurrency, f.pageDelay, f.ideal())
	b.WriteString("| run | pages | wall | pages/s | vs ideal | Redis calls/page | top commands (calls/page) | Redis CPU/page | first output | range p50 | range p99 | peak Redis memory | every page once |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rs {
		if r.err != nil {
			msg, _, _ := strings.Cut(r.err.Error(), "\n")
			fmt.Fprintf(&b, "| %s | error: %s |||||||||||\n", r.name, msg)
			continue
		}
		rate := float64(f.pages) / r.wall.Seconds()
		var top []string
		for _, c := range r.top {
			top = append(top, fmt.Sprintf("%s %.2f", strings.ToUpper(c.name), float64(c.calls)/float64(f.pages)))
		}
		once := "yes"
		if !r.pagesOnce {
			once = "**no**"
		}
		fmt.Fprintf(&b, "| %s | %d | %.1f s | %.0f | %.2f× | %.1f | %s | %.0f µs | %.2f s | %.2f s | %.2f s | %s | %s |\n",
			r.name, f.pages, r.wall.Seconds(), rate, rate/f.ideal(), float64(r.calls)/float64(f.pages),
			strings.Join(top, ", "), r.redisCPU/float64(f.pages)*1e6, r.firstOutput.Seconds(),
			r.p50.Seconds(), r.p99.Seconds(), r.peakMem, once)
	}
	b.WriteString("\nRedis calls: INFO commandstats deltas from the first submit to the last operation done, " +
		"including the workers' idle polling and the bench's own operation polls (every 250 ms); commands run " +
		"inside Lua scripts count both under EVALSHA and under their own name. Redis CPU: used_cpu_user+sys delta. " +
		"Range latency: from the start of a range's first annotation task to the end of the task that wrote its " +
		"output file, from the worker logs.\n")
	for _, r := range rs {
		if r.killed > 0 && r.err == nil {
			fmt.Fprintf(&b, "Kill run: %d SIGKILLs, each worker replaced at once; the run ended %.1f s after the last kill.\n",
				r.killed, r.killToDone.Seconds())
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
