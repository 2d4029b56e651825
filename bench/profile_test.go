package main

import (
	"bytes"
	"os"
	"os/exec"
	"runtime/pprof"
	"slices"
	"strings"
	"testing"
	"time"
)

// parsePprof reads what runtime/pprof writes: sample types and stacks of
// function names.
func TestParsePprof(t *testing.T) {
	var buf bytes.Buffer
	if err := pprof.Lookup("allocs").WriteTo(&buf, 0); err != nil {
		t.Fatal(err)
	}
	p, err := parsePprof(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if p.index("alloc_space") < 0 || len(p.samples) == 0 {
		t.Fatalf("types %q, %d samples: want alloc_space and samples", p.types, len(p.samples))
	}
	named := false
	for _, s := range p.samples {
		for _, f := range s.stack {
			named = named || strings.Contains(f, ".")
		}
	}
	if !named {
		t.Error("no sample has a function name")
	}
}

// The nearest bucketed caller decides; GC and native code come first.
func TestClassify(t *testing.T) {
	tests := []struct {
		stack []string
		want  string
	}{
		{[]string{"runtime._ExternalCode", "runtime._System"}, bucketWasm},
		{[]string{"runtime.scanobject", "runtime.gcDrain", "runtime.gcBgMarkWorker"}, bucketGC},
		{[]string{"runtime.mallocgc", "runtime.gcAssistAlloc", folio + "pipeline.layout"}, bucketGC},
		{[]string{"compress/flate.(*compressor).deflate", folio + "jobs.(*annotator).writeUnit.func1", folio + "jobs.(*annotator).annotate"}, "parts"},
		{[]string{"github.com/tetratelabs/wazero/internal/engine/wazevo.(*callEngine).callWithStack",
			folio + "pipeline.(*scanWalk).objects", folio + "pipeline.(*pdfDoc).scan", folio + "pipeline.(*pdfDoc).page.func1"}, "route"},
		{[]string{"x", folio + "pipeline.(*pdfDoc).page.func1", folio + "pipeline.(*pdfDoc).withPage"}, "extract"},
		{[]string{"x", folio + "pipeline.(*pdfDoc).load", folio + "pipeline.(*pdfDoc).recycle", folio + "pipeline.(*pdfDoc).call"}, "open"},
		{[]string{"syscall.read", folio + "pipeline.readFrame", folio + "pipeline.(*procDoc).roundTrip", folio + "pipeline.(*procDoc).pageCall",
			folio + "pipeline.(*procDoc).Page"}, "extract"},
		{[]string{folio + "pipeline.(*procDoc).roundTrip", folio + "pipeline.(*IsolatedPDF).open", folio + "pipeline.(*IsolatedPDF).Open"}, "open"},
		{[]string{folio + "pipeline.(*procDoc).PageCount"}, bucketOther},
		{[]string{folio + "store.(*RedisOperations).SavePart"}, "parts"},
		{[]string{folio + "store.(*RedisOperations).Partial"}, "queue"},
		{[]string{folio + "pipeline.(*pdfDoc).pageX"}, bucketOther},
		{[]string{"runtime.futex", "runtime.findRunnable", "runtime.schedule"}, bucketSched},
	}
	for _, tt := range tests {
		if got := classify(tt.stack); got != tt.want {
			t.Errorf("classify(%q) = %s, want %s", tt.stack, got, tt.want)
		}
	}
}

func TestWorkload(t *testing.T) {
	tests := []struct{ pages, batch, unit, tasks, opens int }{
		{100, 20, 10, 1 + 5*3, 1 + 10},
		{100, 20, 0, 1 + 5, 1 + 5},
		{25, 20, 10, 1 + 3 + 1, 1 + 2 + 1},
	}
	for _, tt := range tests {
		if tasks, opens := workload(tt.pages, tt.batch, tt.unit); tasks != tt.tasks || opens != tt.opens {
			t.Errorf("workload(%d, %d, %d) = %d, %d, want %d, %d", tt.pages, tt.batch, tt.unit, tasks, opens, tt.tasks, tt.opens)
		}
	}
}

func TestProfileFlags(t *testing.T) {
	cfg, err := parseFlags([]string{"-profile"}, "/m")
	if err != nil || !cfg.profile || len(cfg.profileConfigs) != 3 {
		t.Fatalf("parseFlags(-profile) = %+v, %v: want the three default settings", cfg.profileConfigs, err)
	}
	cfg, err = parseFlags([]string{"-profile", "-born=false", "-scanned=false", "-profile-config", "UNIT_PAGES=0 PDFIUM_INTERRUPT=false"}, "/m")
	if err != nil || len(cfg.profileConfigs) != 1 || len(cfg.profileConfigs[0].env) != 2 {
		t.Errorf("parseFlags = %+v, %v: want one setting of two variables", cfg.profileConfigs, err)
	}
	if _, err := parseFlags([]string{"-profile-config", "fast"}, "/m"); err == nil {
		t.Error("-profile-config fast: no error")
	}
}

// Children's CPU over a run: live ones by difference, new ones in full,
// reaped ones through the parent's cutime less what they had before.
func TestChildCPUSince(t *testing.T) {
	before := childCPU{live: map[int]time.Duration{10: time.Second, 11: 2 * time.Second}, reaped: time.Second}
	after := childCPU{live: map[int]time.Duration{10: 3 * time.Second, 12: time.Second}, reaped: 6 * time.Second}
	// 10: +2 s; 12: 1 s; 11 reaped with 5 s in all, 3 s of them during the run.
	if d, n := after.since(before); d != 6*time.Second || n != 2 {
		t.Errorf("since = %v, %d, want 6s, 2", d, n)
	}
	if d, _ := before.since(after); d != 0 {
		t.Errorf("since backwards = %v, want 0", d)
	}
}

// The children of this test process are found and their CPU read.
func TestChildrenCPU(t *testing.T) {
	cmd := exec.Command("sleep", "5")
	if err := cmd.Start(); err != nil {
		t.Skip(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	if pids := childPIDs(os.Getpid()); !slices.Contains(pids, cmd.Process.Pid) {
		t.Errorf("childPIDs = %v, want %d among them", pids, cmd.Process.Pid)
	}
	if clockTicks() <= 0 {
		t.Errorf("clockTicks = %d", clockTicks())
	}
}

// PDFIUM_ISOLATE decides where pdfium runs; PDFIUM_INTERRUPT only matters
// without it.
func TestCostsOfIsolation(t *testing.T) {
	split := &wasmSplit{pages: 10, on: emptyPhases(), off: emptyPhases()}
	for _, tt := range []struct {
		env      []string
		isolated bool
	}{
		{nil, true},
		{[]string{"PDFIUM_INTERRUPT=false"}, true},
		{[]string{"PDFIUM_ISOLATE=false"}, false},
		{[]string{"PDFIUM_ISOLATE=0", "UNIT_PAGES=0", "PDFIUM_INTERRUPT=false"}, false},
	} {
		r := &profileRun{config: profileConfig{env: tt.env}, pages: 10, cpu: &pprofData{}, childCPU: time.Second}
		c := costsOf(r, split, 20)
		if c.isolated != tt.isolated || c.cpu[bucketChildren] != time.Second {
			t.Errorf("costsOf(%q): isolated %t, children %v, want %t, 1s", tt.env, c.isolated, c.cpu[bucketChildren], tt.isolated)
		}
	}
}

// The report renders on runs without samples, the children's CPU in the
// total and the pages/s estimate.
func TestProfileReportChildren(t *testing.T) {
	split := &wasmSplit{pages: 10, on: emptyPhases(), off: emptyPhases()}
	var runs []*profileRun
	for _, pc := range defaultProfileConfigs {
		r := &profileRun{config: pc, env: pc.env, pages: 100, warm: 2 * time.Second, took: time.Second,
			workerCPU: time.Second, cpu: &pprofData{}, allocs: bucketTotals{}}
		if pc.env == nil {
			r.childCPU, r.children = time.Second, 2
		}
		runs = append(runs, r)
	}
	var out bytes.Buffer
	cfg := config{cores: 2, batch: 20}
	if err := profileReport(&out, cfg, []string{"-profile"}, "0.1", "book.pdf", 1000, split, runs, nil); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{
		"| pdfium child processes | 10.00 (100%), 2 processes | – (pdfium in the worker) |",
		"| **total CPU** (worker profile + pdfium child processes) | **10.00** | **0.00** |",
		"| **pages/s estimate** if CPU-bound on the cores (cores / total CPU a page) | **200** |",
		"| WebAssembly: worker native time / in-process prediction | – (pdfium in child processes) | 0.00 |",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("report lacks %q:\n%s", want, s)
		}
	}
}

func emptyPhases() *wasmPhases {
	return &wasmPhases{pages: 10, opens: 1, wall: map[string]time.Duration{}, cpu: map[string]time.Duration{},
		native: map[string]time.Duration{}, calls: map[string]int64{}}
}
