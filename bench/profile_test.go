package main

import (
	"bytes"
	"runtime/pprof"
	"strings"
	"testing"
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
