package main

import (
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// envValue is the value of key in KEY=value settings, or def.
func envValue(env []string, key, def string) string {
	v := def
	for _, e := range env {
		if k, val, ok := strings.Cut(e, "="); ok && k == key {
			v = val
		}
	}
	return v
}

// envBool is the boolean value of key in KEY=value settings (as
// strconv.ParseBool reads it, as the worker does), or def if unset or not
// a boolean.
func envBool(env []string, key string, def bool) bool {
	v, err := strconv.ParseBool(envValue(env, key, strconv.FormatBool(def)))
	if err != nil {
		return def
	}
	return v
}

// workload counts what a run of pages in ranges of batch pages does with
// UNIT_PAGES unit: tasks (plan, units or ranges, merges) and document
// opens (the plan's and one per unit or range).
func workload(pages, batch, unit int) (tasks, opens int) {
	tasks, opens = 1, 1 // planFile opens the file to count its pages
	for first := 1; first <= pages; first += batch {
		s := min(batch, pages-first+1)
		if unit > 0 && s > unit {
			u := (s + unit - 1) / unit
			tasks, opens = tasks+u+1, opens+u // the units and one merge
		} else {
			tasks, opens = tasks+1, opens+1
		}
	}
	return tasks, opens
}

// profileCosts is one run's CPU per bucket, with the WebAssembly native
// time split across the pdfium phases, and the CPU of the worker's pdfium
// child processes as the bucket bucketChildren.
type profileCosts struct {
	run      *profileRun
	cpu      map[string]time.Duration
	wasmFit  float64 // worker native time over the in-process prediction
	isolated bool    // pdfium ran in child processes (PDFIUM_ISOLATE)
	tasks    int
	opens    int
}

// costsOf buckets a run's CPU. The worker's WebAssembly time is split by
// the in-process phases of its interrupt setting; with PDFIUM_ISOLATE
// (the default) pdfium runs in child processes with the interrupt off,
// whatever PDFIUM_INTERRUPT says, and the worker has next to no
// WebAssembly time of its own.
func costsOf(r *profileRun, split *wasmSplit, batch int) *profileCosts {
	c := &profileCosts{run: r, cpu: cpuTotals(r.cpu)}
	env := r.env
	if env == nil {
		env = r.config.env
	}
	c.isolated = envBool(env, "PDFIUM_ISOLATE", true)
	interrupt := !c.isolated && envBool(env, "PDFIUM_INTERRUPT", true)
	unit, _ := strconv.Atoi(envValue(env, "UNIT_PAGES", "10"))
	c.tasks, c.opens = workload(r.pages, batch, unit)
	c.cpu[bucketChildren] = r.childCPU
	ph := split.off
	if interrupt {
		ph = split.on
	}
	pred := map[string]float64{}
	sum := 0.0
	for _, p := range splitPhases {
		per := float64(ph.native[p]) / float64(max(ph.pages, 1))
		n := float64(r.pages)
		if p == "open" {
			per, n = float64(ph.native[p])/float64(max(ph.opens, 1)), float64(c.opens)
		}
		pred[p] = per * n
		sum += pred[p]
	}
	wasm := c.cpu[bucketWasm]
	if sum > 0 {
		c.wasmFit = float64(wasm) / sum
		for _, p := range splitPhases {
			c.cpu["native:"+p] = time.Duration(float64(wasm) * pred[p] / sum)
		}
	}
	return c
}

// msPage formats d over pages as milliseconds a page.
func msPage(d time.Duration, pages int) string {
	return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)/float64(pages))
}

// profileReport writes the profile mode's tables.
func profileReport(w io.Writer, cfg config, args []string, load, book string, size int, split *wasmSplit, runs []*profileRun, ref *row) error {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("## Where born-digital time goes\n\n`%s`\n\n", commandLine(args))
	p("- machine: %d cores, %s, %s/%s, %s, load average %s at start, %s\n", runtime.NumCPU(), cpuModel(),
		runtime.GOOS, runtime.GOARCH, runtime.Version(), load, time.Now().Format("2006-01-02 15:04 MST"))
	p("- book: `%s`, %d pages, %d bytes; 1 worker, WORKER_CONCURRENCY %d, batchSize %d, api+Redis+GCS emulator on the same cores\n",
		filepath.Base(book), runs[0].pages, size, cfg.cores, cfg.batch)
	if ref != nil {
		p("- reference: `pdftotext -bbox-layout`, %s, %.0f pages/s (%.2f ms a page of wall time)\n", ref.note, ref.rate(),
			float64(ref.took)/float64(time.Millisecond)/float64(ref.pages))
	}
	p("- each configuration: a fresh worker, one warm-up run, then one run under a CPU profile and an allocation delta of the worker (DEBUG_PPROF)\n\n")

	costs := make([]*profileCosts, len(runs))
	for i, r := range runs {
		costs[i] = costsOf(r, split, cfg.batch)
	}
	head := "| worker CPU, ms/page (share) |"
	sep := "|---|"
	for _, r := range runs {
		head += " " + r.config.name + " |"
		sep += "---|"
	}
	p("%s\n%s\n", head, sep)
	total := func(c *profileCosts) time.Duration {
		var t time.Duration
		for k, v := range c.cpu {
			if !strings.Contains(k, ":") {
				t += v
			}
		}
		return t
	}
	cell := func(c *profileCosts, d time.Duration) string {
		return fmt.Sprintf("%s (%.0f%%)", msPage(d, c.run.pages), 100*float64(d)/float64(max(total(c), 1)))
	}
	line := func(label string, f func(c *profileCosts) string) {
		l := "| " + label + " |"
		for _, c := range costs {
			l += " " + f(c) + " |"
		}
		p("%s\n", l)
	}
	for _, bk := range profileBuckets {
		id := bk.id
		if n := "native:" + id; costs[0].cpu[n] != 0 || id == "open" || id == "route" || id == "extract" || id == "pageload" {
			line(bk.label+": Go side + wasm", func(c *profileCosts) string {
				return fmt.Sprintf("%s + %s = %s", msPage(c.cpu[id], c.run.pages), msPage(c.cpu["native:"+id], c.run.pages),
					cell(c, c.cpu[id]+c.cpu["native:"+id]))
			})
			continue
		}
		line(bk.label, func(c *profileCosts) string { return cell(c, c.cpu[id]) })
	}
	for _, id := range []string{bucketGC, bucketSched, bucketOther} {
		line(extraBucketLabels[id], func(c *profileCosts) string { return cell(c, c.cpu[id]) })
	}
	line(extraBucketLabels[bucketChildren], func(c *profileCosts) string {
		if !c.isolated && c.run.childCPU == 0 {
			return "– (pdfium in the worker)"
		}
		return fmt.Sprintf("%s, %d processes", cell(c, c.cpu[bucketChildren]), c.run.children)
	})
	line("**total CPU** (worker profile + pdfium child processes)", func(c *profileCosts) string {
		return "**" + msPage(total(c), c.run.pages) + "**"
	})
	line("worker CPU from /proc (without its children)", func(c *profileCosts) string { return msPage(c.run.workerCPU, c.run.pages) })
	line("wall time (profiled run)", func(c *profileCosts) string { return msPage(c.run.took, c.run.pages) })
	line("**pages/s** profiled run (warm-up run)", func(c *profileCosts) string {
		return fmt.Sprintf("**%.0f** (%.0f)", float64(c.run.pages)/c.run.took.Seconds(), float64(c.run.pages)/c.run.warm.Seconds())
	})
	line("**pages/s estimate** if CPU-bound on the cores (cores / total CPU a page)", func(c *profileCosts) string {
		if total(c) <= 0 {
			return "–"
		}
		return fmt.Sprintf("**%.0f**", float64(cfg.cores)*float64(c.run.pages)/total(c).Seconds())
	})
	line("cores busy, worker + child processes (CPU from /proc / wall)", func(c *profileCosts) string {
		return fmt.Sprintf("%.2f of %d", (c.run.workerCPU+c.run.childCPU).Seconds()/c.run.took.Seconds(), cfg.cores)
	})
	line("beside them, ms a page: api; GCS emulator and bench client; Redis; anything else on the machine", func(c *profileCosts) string {
		a := c.run.around
		rest := a.machine - a.api - a.bench - a.redis - c.run.workerCPU - c.run.childCPU
		return fmt.Sprintf("%s; %s; %s; %s", msPage(a.api, c.run.pages), msPage(a.bench, c.run.pages),
			msPage(a.redis, c.run.pages), msPage(max(rest, 0), c.run.pages))
	})
	line("cores busy, whole machine (/proc/stat)", func(c *profileCosts) string {
		return fmt.Sprintf("%.2f of %d", c.run.around.machine.Seconds()/c.run.took.Seconds(), runtime.NumCPU())
	})
	line("tasks (plan, ranges or units, merges); document opens", func(c *profileCosts) string {
		return fmt.Sprintf("%d; %d", c.tasks, c.opens)
	})
	line("WebAssembly: worker native time / in-process prediction", func(c *profileCosts) string {
		if c.isolated {
			return "– (pdfium in child processes)"
		}
		return fmt.Sprintf("%.2f", c.wasmFit)
	})
	p("\n%s: user+system CPU (utime+stime from /proc/<pid>/stat, %d clock ticks a second) of the worker's children "+
		"(listed from /proc/<worker pid>/task/*/children) during the profiled run, read before it and just after it, "+
		"while the worker still ran; children that exited meanwhile count through the worker's cutime+cstime once it "+
		"has reaped them. A child killed mid-run (a page timeout) and not yet reaped at the read is not counted, nor is "+
		"a child's time broken down by phase (its pdfium runs with the interrupt off: see the in-process phases below). "+
		"The pages/s estimate divides the cores by the total CPU a page, children included.\n",
		extraBucketLabels[bucketChildren], clockTicks())
	p("\nCross-cutting views of the same CPU profile (a sample may be in several):\n\n%s\n%s\n", head, sep)
	for _, v := range crossViews {
		line(v.name, func(c *profileCosts) string { return cell(c, c.cpu["cross:"+v.name]) })
	}
	p("\nAllocations of the profiled run, KB/page:\n\n%s\n%s\n", strings.Replace(head, "worker CPU, ms/page (share)", "allocated, KB/page", 1), sep)
	for _, id := range append(bucketIDs(), bucketGC, bucketSched, bucketOther) {
		line(bucketLabel(id), func(c *profileCosts) string {
			return fmt.Sprintf("%.0f", float64(c.run.allocs[id])/1024/float64(c.run.pages))
		})
	}
	line("**total**", func(c *profileCosts) string {
		return fmt.Sprintf("**%.0f**", float64(c.run.allocs.total())/1024/float64(c.run.pages))
	})
	if len(costs) >= 2 && costs[0].tasks != costs[1].tasks {
		a, c := costs[0], costs[1]
		p("\nPer-task cost, %s against %s: %+.1f ms wall and %+.1f ms CPU (worker and child processes) per extra task (%d against %d tasks).\n",
			a.run.config.name, c.run.config.name,
			float64(a.run.took-c.run.took)/float64(time.Millisecond)/float64(a.tasks-c.tasks),
			float64(a.run.workerCPU+a.run.childCPU-c.run.workerCPU-c.run.childCPU)/float64(time.Millisecond)/float64(a.tasks-c.tasks),
			a.tasks, c.tasks)
	}
	writeSplit(p, split)
	_, err := io.WriteString(w, b.String())
	return err
}

// writeSplit writes the in-process pdfium phases.
func writeSplit(p func(string, ...any), s *wasmSplit) {
	p("\nIn-process pdfium phases (the same calls as pipeline's pdfDoc, one goroutine, %d-page documents, first %d pages of the book): "+
		"wall ms a page (ms an open for open), of which in WebAssembly, and Go→wasm calls a page (an open); "+
		"the worker's pdfium child processes (PDFIUM_ISOLATE) run with the interrupt off:\n\n", splitUnit, s.pages)
	p("| phase | interrupt on: ms | in wasm | calls | interrupt off: ms | in wasm |\n|---|---|---|---|---|---|\n")
	for _, ph := range splitPhases {
		n, m := float64(s.on.pages), float64(s.off.pages)
		if ph == "open" {
			n, m = float64(s.on.opens), float64(s.off.opens)
		}
		ms := func(d time.Duration, n float64) string {
			return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)/n)
		}
		share := func(x *wasmPhases) string {
			return fmt.Sprintf("%.0f%%", 100*float64(x.native[ph])/float64(max(x.cpu[ph], 1)))
		}
		p("| %s | %s | %s | %.0f | %s | %s |\n", ph, ms(s.on.wall[ph], n), share(s.on), float64(s.on.calls[ph])/n, ms(s.off.wall[ph], m), share(s.off))
	}
	chars, objs := float64(s.on.chars)/float64(s.on.pages), float64(s.on.objects)/float64(s.on.pages)
	p("\n%.0f characters and %.0f page objects a page; extraction makes %.2f calls a character, routing %.2f an object. "+
		"Check against pipeline's own Document.Page over the same pages: %.2f ms a page interrupt on (replica %.2f), %.2f off (replica %.2f).\n",
		chars, objs, float64(s.on.calls["extract"])/float64(max(s.on.chars, 1)), float64(s.on.calls["route"])/float64(max(s.on.objects, 1)),
		float64(s.on.pipelinePage)/float64(time.Millisecond)/float64(s.on.pages), pagePhases(s.on),
		float64(s.off.pipelinePage)/float64(time.Millisecond)/float64(s.off.pages), pagePhases(s.off))
}

// pagePhases is the replica's pageload+route+extract in ms a page.
func pagePhases(x *wasmPhases) float64 {
	return float64(x.wall["pageload"]+x.wall["route"]+x.wall["extract"]) / float64(time.Millisecond) / float64(x.pages)
}

func bucketIDs() []string {
	var ids []string
	for _, b := range profileBuckets {
		ids = append(ids, b.id)
	}
	return append(ids, bucketWasm)
}

func bucketLabel(id string) string {
	for _, b := range profileBuckets {
		if b.id == id {
			return b.label
		}
	}
	return extraBucketLabels[id]
}
