package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// infoFields parses the text of Redis INFO into its key:value fields;
// section headers ("# Memory") and blank lines are skipped.
func infoFields(info string) map[string]string {
	fields := map[string]string{}
	for _, line := range strings.Split(info, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			fields[k] = v
		}
	}
	return fields
}

// commandCalls parses INFO commandstats into calls per command, lower case
// ("cmdstat_evalsha:calls=12,usec=340,..." gives "evalsha": 12).
// Subcommands keep their "|" ("client|setname").
func commandCalls(info string) (map[string]int64, error) {
	calls := map[string]int64{}
	for k, v := range infoFields(info) {
		name, ok := strings.CutPrefix(k, "cmdstat_")
		if !ok {
			continue
		}
		found := false
		for _, kv := range strings.Split(v, ",") {
			if n, ok := strings.CutPrefix(kv, "calls="); ok {
				c, err := strconv.ParseInt(n, 10, 64)
				if err != nil {
					return nil, fmt.Errorf("commandstats %s: calls %q: %w", name, n, err)
				}
				calls[strings.ToLower(name)] = c
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("commandstats %s: no calls in %q", name, v)
		}
	}
	return calls, nil
}

// callDelta is after minus before, per command, leaving out commands not
// called in between.
func callDelta(before, after map[string]int64) map[string]int64 {
	d := map[string]int64{}
	for k, a := range after {
		if n := a - before[k]; n > 0 {
			d[k] = n
		}
	}
	return d
}

// commandCount is one command's calls.
type commandCount struct {
	name  string
	calls int64
}

// topCommands returns the n most called commands, most first (ties by
// name), and the total over all commands.
func topCommands(calls map[string]int64, n int) ([]commandCount, int64) {
	var all []commandCount
	var total int64
	for k, c := range calls {
		all = append(all, commandCount{k, c})
		total += c
	}
	slices.SortFunc(all, func(a, b commandCount) int {
		if a.calls != b.calls {
			if a.calls > b.calls {
				return -1
			}
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
	return all[:min(n, len(all))], total
}

// cpuSeconds is the Redis server's CPU time (used_cpu_user + used_cpu_sys)
// in INFO fields.
func cpuSeconds(fields map[string]string) (float64, error) {
	var sum float64
	for _, k := range []string{"used_cpu_user", "used_cpu_sys"} {
		v, err := strconv.ParseFloat(fields[k], 64)
		if err != nil {
			return 0, fmt.Errorf("INFO %s: %w", k, err)
		}
		sum += v
	}
	return sum, nil
}

// rangeSpan is when work on one output range started and ended.
type rangeSpan struct{ start, end time.Time }

// rangeLatencies reads worker logs (zap JSON lines) and returns, per output
// range, the time from the start of its first annotation task to the end
// of the task that wrote its output file. A range annotated whole logs
// "annotated range"; a split range logs "annotated unit" for each unit
// (they carry output_range) and "merged range" from the task that wrote
// the file. A task's start is its line's time minus its "took" (seconds).
// Lines of other messages and lines that are not JSON are skipped. spans is
// keyed by operation, file and range, so logs of several workers can be
// read into one map; only ranges whose output was written are returned by
// [latencies].
func rangeLatencies(r io.Reader, spans map[string]*rangeSpan, written map[string]bool) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		var l struct {
			Msg         string  `json:"msg"`
			Time        string  `json:"time"`
			Took        float64 `json:"took"`
			Operation   string  `json:"operation"`
			File        int     `json:"file"`
			First       int     `json:"first_page"`
			Last        int     `json:"last_page"`
			OutputRange string  `json:"output_range"`
		}
		line := sc.Bytes()
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &l) != nil {
			continue
		}
		switch l.Msg {
		case "annotated range", "annotated unit", "merged range":
		default:
			continue
		}
		end, err := time.Parse(time.RFC3339Nano, l.Time)
		if err != nil {
			return fmt.Errorf("log line time %q: %w", l.Time, err)
		}
		rng := l.OutputRange
		if rng == "" {
			rng = fmt.Sprintf("%d-%d", l.First, l.Last)
		}
		key := fmt.Sprintf("%s/%d/%s", l.Operation, l.File, rng)
		start := end.Add(-time.Duration(l.Took * float64(time.Second)))
		s := spans[key]
		if s == nil {
			s = &rangeSpan{start: start, end: end}
			spans[key] = s
		}
		if start.Before(s.start) {
			s.start = start
		}
		if l.Msg != "annotated unit" { // the output file was written
			written[key] = true
			if end.After(s.end) {
				s.end = end
			}
		}
	}
	return sc.Err()
}

// latencies returns the sorted latencies of the written ranges.
func latencies(spans map[string]*rangeSpan, written map[string]bool) []time.Duration {
	var ds []time.Duration
	for k := range written {
		if s := spans[k]; s != nil {
			ds = append(ds, s.end.Sub(s.start))
		}
	}
	slices.Sort(ds)
	return ds
}

// percentile is the nearest-rank q-th percentile (0 < q ≤ 100) of sorted
// durations, 0 for none.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q/100*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}
