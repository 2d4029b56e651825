package main

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestCommandCalls(t *testing.T) {
	t.Parallel()
	info := "# Commandstats\r\n" +
		"cmdstat_evalsha:calls=12,usec=340,usec_per_call=28.33,rejected_calls=0,failed_calls=0\r\n" +
		"cmdstat_client|setname:calls=3,usec=4,usec_per_call=1.33,rejected_calls=0,failed_calls=0\r\n" +
		"cmdstat_HGET:calls=7,usec=9,usec_per_call=1.29,rejected_calls=0,failed_calls=0\r\n"
	got, err := commandCalls(info)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"evalsha": 12, "client|setname": 3, "hget": 7}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("commandCalls (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"cmdstat_get:usec=1", "cmdstat_get:calls=x,usec=1"} {
		if _, err := commandCalls(bad); err == nil {
			t.Errorf("commandCalls(%q) succeeded, want an error", bad)
		}
	}

	top, total := topCommands(callDelta(map[string]int64{"evalsha": 2, "hget": 7}, got), 2)
	if diff := cmp.Diff([]commandCount{{"evalsha", 10}, {"client|setname", 3}}, top, cmp.AllowUnexported(commandCount{})); diff != "" {
		t.Errorf("topCommands (-want +got):\n%s", diff)
	}
	if total != 13 {
		t.Errorf("total = %d, want 13 (hget unchanged)", total)
	}
}

func TestCPUSeconds(t *testing.T) {
	t.Parallel()
	got, err := cpuSeconds(infoFields("# CPU\r\nused_cpu_sys:1.250000\r\nused_cpu_user:2.500000\r\n"))
	if err != nil || got != 3.75 {
		t.Errorf("cpuSeconds = %v, %v; want 3.75", got, err)
	}
	if _, err := cpuSeconds(infoFields("used_cpu_sys:1\r\n")); err == nil {
		t.Error("cpuSeconds without used_cpu_user succeeded, want an error")
	}
}

func TestRangeLatencies(t *testing.T) {
	t.Parallel()
	logs := []string{
		// A split range 1-20: two units, the second merges.
		`{"level":"info","time":"2026-11-30T10:00:01Z","msg":"annotated unit","operation":"op1","file":0,"first_page":1,"last_page":10,"output_range":"1-20","took":0.5}`,
		`{"level":"info","time":"2026-11-30T10:00:02Z","msg":"annotated unit","operation":"op1","file":0,"first_page":11,"last_page":20,"output_range":"1-20","took":0.25}`,
		`{"level":"info","time":"2026-11-30T10:00:02.5Z","msg":"merged range","operation":"op1","file":0,"first_page":11,"last_page":20,"output_range":"1-20","took":0.1}`,
		// A range annotated whole.
		`{"level":"info","time":"2026-11-30T10:00:03Z","msg":"annotated range","operation":"op1","file":0,"first_page":21,"last_page":25,"took":2}`,
		// A unit whose range was never written (its worker was killed) is left out.
		`{"level":"info","time":"2026-11-30T10:00:03Z","msg":"annotated unit","operation":"op2","file":0,"first_page":1,"last_page":10,"output_range":"1-20","took":1}`,
		`{"level":"info","time":"2026-11-30T10:00:03Z","msg":"worker started"}`,
		`not json`,
	}
	spans, written := map[string]*rangeSpan{}, map[string]bool{}
	if err := rangeLatencies(strings.NewReader(strings.Join(logs, "\n")), spans, written); err != nil {
		t.Fatal(err)
	}
	got := latencies(spans, written)
	want := []time.Duration{2 * time.Second, 2 * time.Second} // 10:00:00.5 to 10:00:02.5; 10:00:01 to 10:00:03
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("latencies (-want +got):\n%s", diff)
	}
	if err := rangeLatencies(strings.NewReader(`{"msg":"merged range","time":"yesterday"}`), spans, written); err == nil {
		t.Error("a bad time succeeded, want an error")
	}
}

func TestPercentile(t *testing.T) {
	t.Parallel()
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i))
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{50, 50}, {99, 99}, {100, 100}, {1, 1}} {
		if got := percentile(ds, tc.q); got != tc.want {
			t.Errorf("percentile(1..100, %v) = %d, want %d", tc.q, got, tc.want)
		}
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("percentile(nil) = %d, want 0", got)
	}
}

func TestFleetFilePageCounts(t *testing.T) {
	t.Parallel()
	got := fleetConfig{pages: 2500, filePages: 1000}.filePageCounts()
	if diff := cmp.Diff([]int{1000, 1000, 500}, got); diff != "" {
		t.Errorf("filePageCounts (-want +got):\n%s", diff)
	}
}
