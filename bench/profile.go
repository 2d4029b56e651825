package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/folio-ocr/folio/internal/freeport"
)

// The profile mode (-profile) breaks down where a worker's time goes on a
// born-digital book: for each worker setting (-profile-configs) it runs the
// book once to warm up, then again while it takes a CPU profile and the
// allocations of the worker process through DEBUG_PPROF's /debug/pprof/,
// and attributes every sample to a bucket by the functions on its stack
// (profileBuckets). WebAssembly runs as native code that Go's profiler
// cannot see into (runtime._ExternalCode); its time is split between
// opening, page loading, routing and extraction by an in-process run of
// the same pdfium calls with pprof labels (splitWasm). With PDFIUM_ISOLATE
// (the worker's default) pdfium runs in the worker's child processes,
// which its profile does not see: their CPU during the profiled run, read
// from /proc, is a bucket of its own (childCPU).

// profileConfig is one worker setting of the profile mode.
type profileConfig struct {
	name string
	env  []string
}

// defaultProfileConfigs are the defaults (pdfium in child processes), the
// previous defaults (pdfium in the worker, interrupt on) and issue 10's
// fastest in-worker setting.
var defaultProfileConfigs = []profileConfig{
	{"defaults", nil},
	{"PDFIUM_ISOLATE=false", []string{"PDFIUM_ISOLATE=false"}},
	{"PDFIUM_ISOLATE=false UNIT_PAGES=0 PDFIUM_INTERRUPT=false",
		[]string{"PDFIUM_ISOLATE=false", "UNIT_PAGES=0", "PDFIUM_INTERRUPT=false"}},
}

// rManuals are the R manuals that make the profile book, in order, and
// the pages of the reference manual appended to pass 1,000 pages.
var rManuals = []string{"R-FAQ", "R-admin", "R-data", "R-exts", "R-intro", "R-ints", "R-lang"}

const (
	rManualDir    = "/usr/share/R/doc/manual"
	refmanPages   = 350 // 677 pages of manuals + 350 = 1,027
	profileBookV1 = "r-manuals-1027.pdf"
)

// buildBook joins Debian's R manuals and the first refmanPages pages of
// refman.pdf into one born-digital PDF under dir, with qpdf
// --deterministic-id so that the same inputs give the same bytes, and
// returns its path. A book already built is reused. Without qpdf or the
// manuals the error wraps errSkipped.
func buildBook(ctx context.Context, dir string) (string, error) {
	out := filepath.Join(dir, profileBookV1)
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	if pkg := missingTool("qpdf"); pkg != "" {
		return "", fmt.Errorf("%w: install %s", errSkipped, pkg)
	}
	args := []string{"--deterministic-id", "--empty", "--pages"}
	for _, m := range rManuals {
		args = append(args, filepath.Join(rManualDir, m+".pdf"))
	}
	args = append(args, filepath.Join(rManualDir, "refman.pdf"), "1-"+strconv.Itoa(refmanPages), "--")
	for _, a := range args {
		if strings.HasSuffix(a, ".pdf") {
			if _, err := os.Stat(a); err != nil {
				return "", fmt.Errorf("%w: install r-doc-pdf (%v)", errSkipped, err)
			}
		}
	}
	err := buildOnce(out, func(tmp string) error {
		_, err := runTool(ctx, nil, "qpdf", append(args, tmp)...)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("build %s: %w", out, err)
	}
	return out, nil
}

// profileRun is one profiled run of the book through a worker.
type profileRun struct {
	config    profileConfig
	pages     int
	warm      time.Duration // the warm-up run's wall time
	took      time.Duration // the profiled run's wall time
	workerCPU time.Duration // the worker's user+system CPU during the profiled run
	// childCPU is the user+system CPU of the worker's pdfium child
	// processes during the profiled run (see childCPU); children tells
	// how many were seen.
	childCPU time.Duration
	children int
	// around is what else ran on the machine during the profiled run: the
	// api, this process (GCS emulator and client), Redis and everything
	// else, from /proc.
	around aroundCPU
	env    []string     // the worker's settings: the configuration's, then -worker-env
	cpu    *pprofData   // CPU profile of the profiled run
	allocs bucketTotals // bytes allocated per bucket during the profiled run
	calls  float64      // asynq tasks run per page (from the worker's metrics)
}

// runProfile is the profile mode: it builds the book, profiles it under
// each configuration and writes the report.
func runProfile(ctx context.Context, cfg config, root string, args []string, out io.Writer) error {
	book := cfg.profilePDF
	if book == "" {
		var err error
		if book, err = buildBook(ctx, cfg.corpusDir); err != nil {
			return err
		}
	}
	data, err := os.ReadFile(book)
	if err != nil {
		return err
	}
	split, err := splitWasm(ctx, data, cfg.profileSplitPages)
	if err != nil {
		return fmt.Errorf("in-process pdfium split: %w", err)
	}
	pages := split.pages
	var ref *row
	if missingTool("pdftotext") == "" {
		logf("pdftotext -bbox-layout")
		if ref, err = pdftotext(ctx, book, pages, cfg.cores); err != nil {
			return err
		}
	}
	load := loadAverage()
	d, err := startDeployment(ctx, root, cfg.redisURL)
	if err != nil {
		return err
	}
	defer d.Close()
	d.upload("book.pdf", data)
	var runs []*profileRun
	for _, pc := range cfg.profileConfigs {
		logf("profiling %s", pc.name)
		r, err := profileWorker(ctx, d, cfg, pc, pages)
		if err != nil {
			return fmt.Errorf("%s: %w", pc.name, err)
		}
		runs = append(runs, r)
		if cfg.profileDir != "" {
			logf("raw profiles kept in %s", cfg.profileDir)
		}
	}
	return profileReport(out, cfg, args, load, book, len(data), split, runs, ref)
}

// profileWorker starts a worker with DEBUG_PPROF for pc, runs the book once
// to warm up and once profiled, and stops the worker.
func profileWorker(ctx context.Context, d *deployment, cfg config, pc profileConfig, pages int) (*profileRun, error) {
	addr, err := freeport.Addr()
	if err != nil {
		return nil, err
	}
	wcfg := cfg
	wcfg.workerEnv = append(append([]string{"METRICS_ADDR=" + addr, "DEBUG_PPROF=true"}, pc.env...), cfg.workerEnv...)
	w, err := d.startWorker(ctx, wcfg)
	if err != nil {
		return nil, err
	}
	defer w.stop()
	base := "http://" + addr
	r := &profileRun{config: pc, pages: pages, env: append(slices.Clone(pc.env), cfg.workerEnv...)}
	if r.warm, _, err = d.annotate(ctx, "book.pdf", pages, cfg.batch); err != nil {
		return nil, fmt.Errorf("warm-up run: %w", err)
	}
	before, err := fetchProfile(ctx, base+"/debug/pprof/allocs")
	if err != nil {
		return nil, err
	}
	tasksBefore := workerTasks(ctx, base)
	// The CPU profile runs for a fixed time, chosen from the warm-up run
	// with room to spare; the worker idles for the rest of it.
	secs := int(r.warm.Seconds()*1.3) + 2
	type result struct {
		b   []byte
		err error
	}
	cpuc := make(chan result, 1)
	go func() {
		b, err := fetchProfile(ctx, base+"/debug/pprof/profile?seconds="+strconv.Itoa(secs))
		cpuc <- result{b, err}
	}()
	time.Sleep(200 * time.Millisecond) // let the profile start
	api := d.cluster.APIProc().Process.Pid
	cpu0, kids0, around0 := procCPU(w.Process.Pid), childrenCPU(w.Process.Pid), readAround(api)
	took, prefix, err := d.submit(ctx, "book.pdf", pages, cfg.batch)
	if err != nil {
		return nil, fmt.Errorf("profiled run: %w", err)
	}
	// Read while the worker, and so its children, still run, and before
	// this process decodes the outputs.
	r.took, r.workerCPU = took, procCPU(w.Process.Pid)-cpu0
	r.childCPU, r.children = childrenCPU(w.Process.Pid).since(kids0)
	r.around = readAround(api).since(around0)
	if _, err := d.results(prefix, pages, cfg.batch); err != nil {
		return nil, fmt.Errorf("profiled run: %w", err)
	}
	if n := workerTasks(ctx, base) - tasksBefore; n > 0 {
		r.calls = n / float64(pages)
	}
	after, err := fetchProfile(ctx, base+"/debug/pprof/allocs")
	if err != nil {
		return nil, err
	}
	res := <-cpuc
	if res.err != nil {
		return nil, fmt.Errorf("CPU profile: %w", res.err)
	}
	if cfg.profileDir != "" {
		name := strings.NewReplacer(" ", "_", "=", "-").Replace(pc.name)
		_ = os.MkdirAll(cfg.profileDir, 0o755)
		_ = os.WriteFile(filepath.Join(cfg.profileDir, name+".cpu.pb.gz"), res.b, 0o644)
		_ = os.WriteFile(filepath.Join(cfg.profileDir, name+".allocs-before.pb.gz"), before, 0o644)
		_ = os.WriteFile(filepath.Join(cfg.profileDir, name+".allocs-after.pb.gz"), after, 0o644)
	}
	if r.cpu, err = parsePprof(res.b); err != nil {
		return nil, err
	}
	a0, err := parsePprof(before)
	if err != nil {
		return nil, err
	}
	a1, err := parsePprof(after)
	if err != nil {
		return nil, err
	}
	r.allocs = bucketize(a1, "alloc_space", nil)
	r.allocs.sub(bucketize(a0, "alloc_space", nil))
	return r, nil
}

// fetchProfile GETs a profile from the worker's /debug/pprof/.
func fetchProfile(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", url, resp.Status, tail(string(b), 200))
	}
	return b, nil
}

// workerTasks is the number of asynq tasks the worker has finished, read
// from its /metrics (folio_range_duration_seconds counts ranges, units and
// merges; plan tasks are few); -1 if unknown.
func workerTasks(ctx context.Context, base string) float64 {
	b, err := fetchProfile(ctx, base+"/metrics")
	if err != nil {
		return -1
	}
	total := 0.0
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "folio_range_duration_seconds_count") {
			f := strings.Fields(line)
			if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
				total += v
			}
		}
	}
	return total
}

// procCPU is a process's user+system CPU time so far, from /proc; 0 if
// unknown.
func procCPU(pid int) time.Duration {
	f, ok := procStat(pid)
	if !ok {
		return 0
	}
	return ticks(f[11]) + ticks(f[12])
}

// procStat is the fields of /proc/<pid>/stat after the command, state
// first (so utime is field 11, stime 12, cutime 13 and cstime 14); ok is
// false if the process is gone or the file unreadable.
func procStat(pid int) ([]string, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, false
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:]
	}
	f := strings.Fields(s)
	return f, len(f) >= 15
}

// ticks converts a count of clock ticks, as /proc reports CPU times, to a
// duration; 0 if it does not parse.
func ticks(v string) time.Duration {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0
	}
	return time.Duration(n) * time.Second / time.Duration(clockTicks())
}

// clockTicks is the kernel's clock ticks a second (getconf CLK_TCK), 100
// if getconf cannot tell.
var clockTicks = sync.OnceValue(func() int64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err != nil {
		return 100
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil || n <= 0 {
		return 100
	}
	return n
})

// aroundCPU is the CPU time of what runs beside the worker in a profiled
// run: the api, this process (the GCS emulator, the bench's client and its
// polling), redis-server, and the whole machine (all cores, from
// /proc/stat), so that a report can tell whether the cores were full.
type aroundCPU struct {
	api, bench, redis, machine time.Duration
}

// readAround reads the counters of aroundCPU now; api is the api's pid.
func readAround(api int) aroundCPU {
	a := aroundCPU{api: procCPU(api), bench: procCPU(os.Getpid()), machine: machineCPU()}
	dirs, _ := filepath.Glob("/proc/[0-9]*/comm")
	for _, name := range dirs {
		if b, err := os.ReadFile(name); err == nil && strings.TrimSpace(string(b)) == "redis-server" {
			if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(name))); err == nil {
				a.redis += procCPU(pid)
			}
		}
	}
	return a
}

// since is the CPU each counter used from before to a.
func (a aroundCPU) since(before aroundCPU) aroundCPU {
	return aroundCPU{api: a.api - before.api, bench: a.bench - before.bench,
		redis: a.redis - before.redis, machine: a.machine - before.machine}
}

// machineCPU is the busy CPU time of all cores so far: the first line of
// /proc/stat without idle and iowait; 0 if unreadable.
func machineCPU() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	var busy time.Duration
	for i, v := range f[1:] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		if i >= 7 { // guest time is counted in user already
			break
		}
		busy += ticks(v)
	}
	return busy
}

// childCPU is a snapshot of the CPU time of a process's children: each
// live child's user+system CPU by pid, and the parent's cutime+cstime,
// the CPU of the children it has waited for (the worker waits for every
// pdfium child, killed ones included).
type childCPU struct {
	live   map[int]time.Duration
	reaped time.Duration
}

// childrenCPU reads the snapshot of pid's children, listed from
// /proc/<pid>/task/*/children (each thread's children) or, if the kernel
// lacks those files, from the parent pid of every process.
func childrenCPU(pid int) childCPU {
	s := childCPU{live: map[int]time.Duration{}}
	if f, ok := procStat(pid); ok {
		s.reaped = ticks(f[13]) + ticks(f[14])
	}
	for _, c := range childPIDs(pid) {
		if cpu := procCPU(c); cpu > 0 {
			s.live[c] = cpu
		}
	}
	return s
}

// since returns the children's CPU from before to s (children seen only
// in s count in full; those that exited in between count through the
// parent's cutime and cstime once reaped) and how many children s saw.
func (s childCPU) since(before childCPU) (time.Duration, int) {
	d := s.reaped - before.reaped
	for pid, cpu := range s.live {
		if c0, ok := before.live[pid]; ok && c0 <= cpu {
			cpu -= c0
		}
		d += cpu
	}
	// A child live before and reaped since counts in full in reaped: take
	// back what it had used before.
	for pid, c0 := range before.live {
		if _, ok := s.live[pid]; !ok {
			d -= c0
		}
	}
	return max(d, 0), len(s.live)
}

// childPIDs lists the children of pid.
func childPIDs(pid int) []int {
	var pids []int
	files, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	read := false
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			continue
		}
		read = true
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				pids = append(pids, n)
			}
		}
	}
	if read {
		return pids
	}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, dir := range dirs {
		n, err := strconv.Atoi(filepath.Base(dir))
		if err != nil {
			continue
		}
		if f, ok := procStat(n); ok && f[1] == strconv.Itoa(pid) {
			pids = append(pids, n)
		}
	}
	return pids
}
