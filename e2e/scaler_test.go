package e2e

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	vision "cloud.google.com/go/vision/v2/apiv1"
	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"go.yaml.in/yaml/v3"

	"github.com/folio-ocr/folio/internal/localrun"
	"github.com/folio-ocr/folio/internal/pdfgen"
)

// scaledObjectPath is the KEDA ScaledObject that scales the workers in
// Kubernetes; the test scaler takes its rule from it.
const scaledObjectPath = "../deploy/kubernetes/scaledobject.yaml"

// kedaQuery is the only query the test scaler knows how to evaluate; a
// change to the manifest's query must change scaler.step too.
const kedaQuery = `max(folio_pages_pending) + max(folio_operations{state="CREATED"})`

const (
	// testMaxReplicas stands in for the manifest's maxReplicaCount (20):
	// four workers are as many as one test machine runs comfortably, and
	// enough to see the fleet grow past one and stop at its bound.
	testMaxReplicas = 4
	// timeScale shrinks the manifest's cooldownPeriod (300 s) to a test's
	// length: 3 s.
	timeScale = 100
	// scalerPoll stands in for KEDA's pollingInterval (15 s).
	scalerPoll = 300 * time.Millisecond
	// pageDelay is the synthetic workers' time per page: long enough that
	// the burst lasts several scaler polls at four workers.
	pageDelay = 40 * time.Millisecond
	// syntheticText is what a synthetic worker answers for page %d (see
	// cmd/worker/synthetic.go).
	syntheticText = "Synthetic page %d of a Folio fleet benchmark."
)

// scaledObject is what the test reads of the ScaledObject manifest.
type scaledObject struct {
	Spec struct {
		MinReplicaCount int `yaml:"minReplicaCount"`
		MaxReplicaCount int `yaml:"maxReplicaCount"`
		CooldownPeriod  int `yaml:"cooldownPeriod"`
		Triggers        []struct {
			Type     string            `yaml:"type"`
			Metadata map[string]string `yaml:"metadata"`
		} `yaml:"triggers"`
	} `yaml:"spec"`
}

// scaleRule is the autoscaling rule of the ScaledObject, with its times
// and bound scaled down for a test.
type scaleRule struct {
	threshold float64       // pages (or CREATED operations) per worker
	max       int           // most workers
	cooldown  time.Duration // value 0 this long before scaling to zero
}

// readScaleRule reads the rule from the ScaledObject manifest, checking that
// it is the one the test scaler models: one Prometheus trigger with
// kedaQuery, activation above 0, a missing value an error, and scaling to
// zero.
func readScaleRule(t *testing.T) scaleRule {
	t.Helper()
	data, err := os.ReadFile(scaledObjectPath)
	if err != nil {
		t.Fatal(err)
	}
	var so scaledObject
	if err := yaml.Unmarshal(data, &so); err != nil {
		t.Fatalf("%s: %v", scaledObjectPath, err)
	}
	if len(so.Spec.Triggers) != 1 || so.Spec.Triggers[0].Type != "prometheus" {
		t.Fatalf("%s: triggers %+v, want one prometheus trigger", scaledObjectPath, so.Spec.Triggers)
	}
	md := so.Spec.Triggers[0].Metadata
	if md["query"] != kedaQuery || md["activationThreshold"] != "0" || md["ignoreNullValues"] != "false" ||
		so.Spec.MinReplicaCount != 0 {
		t.Fatalf("%s: query %q, activationThreshold %q, ignoreNullValues %q, minReplicaCount %d; the test scaler models %q, 0, false, 0",
			scaledObjectPath, md["query"], md["activationThreshold"], md["ignoreNullValues"], so.Spec.MinReplicaCount, kedaQuery)
	}
	threshold, err := strconv.ParseFloat(md["threshold"], 64)
	if err != nil || threshold <= 0 {
		t.Fatalf("%s: threshold %q, want a positive number", scaledObjectPath, md["threshold"])
	}
	if so.Spec.MaxReplicaCount < testMaxReplicas || so.Spec.CooldownPeriod <= 0 {
		t.Fatalf("%s: maxReplicaCount %d, cooldownPeriod %d; want at least %d and positive",
			scaledObjectPath, so.Spec.MaxReplicaCount, so.Spec.CooldownPeriod, testMaxReplicas)
	}
	return scaleRule{
		threshold: threshold,
		max:       testMaxReplicas,
		cooldown:  time.Duration(so.Spec.CooldownPeriod) * time.Second / timeScale,
	}
}

// scalePoint is one poll of the test scaler: what it read and how many
// workers it left running.
type scalePoint struct {
	at       time.Duration // since the scaler started
	pending  float64       // folio_pages_pending
	created  float64       // folio_operations{state="CREATED"}
	replicas int           // workers running after the poll
	allDone  bool          // every operation was seen done after the read
}

// scaler plays KEDA and the HPA for worker processes: each step reads the
// api's /metrics as the ScaledObject's query would and starts or SIGTERMs
// workers to the replica count the rule gives.
type scaler struct {
	t       *testing.T
	f       *folio
	metrics string // the api's METRICS_ADDR
	rule    scaleRule
	env     []string // settings of every worker it starts

	began      time.Time
	lastActive time.Time        // last poll whose value was above the activation threshold
	running    []*localrun.Proc // oldest first
	stopped    []*localrun.Proc // SIGTERMed, in order
	starts     int              // workers started
	timeline   []scalePoint     // every poll
}

// newScaler returns a scaler of f's workers, which it starts with env.
func newScaler(t *testing.T, f *folio, metricsAddr string, rule scaleRule, env ...string) *scaler {
	return &scaler{t: t, f: f, metrics: metricsAddr, rule: rule, env: env, began: time.Now()}
}

// replicas returns the number of running (not SIGTERMed) workers.
func (s *scaler) replicas() int { return len(s.running) }

// step polls once: it evaluates the query, computes the replicas as KEDA
// and the HPA would and starts or stops workers to match. A missing gauge
// fails the test (ignoreNullValues: false makes it a scaler error, not 0).
func (s *scaler) step() scalePoint {
	s.t.Helper()
	m := scrape(s.t, s.metrics)
	pending, okPending := sample(m, "folio_pages_pending")
	created, okCreated := sample(m, "folio_operations", "state", "CREATED")
	if !okPending || !okCreated {
		s.t.Fatalf("api /metrics lacks folio_pages_pending (%v) or folio_operations{state=\"CREATED\"} (%v): the query would be empty",
			okPending, okCreated)
	}
	for _, w := range s.running {
		select {
		case <-w.Done:
			s.t.Fatalf("worker %d exited (%v) without being stopped; see %s", w.Process.Pid, w.ProcessState, w.Log)
		default:
		}
	}
	value := pending + created
	now := time.Now()
	if value > 0 { // activationThreshold 0
		s.lastActive = now
	}
	var desired int
	switch {
	case value > 0:
		// The HPA's AverageValue target: ceil(value / threshold) within
		// [1, max] (KEDA sets the HPA's minimum to 1 while active).
		desired = min(max(int(math.Ceil(value/s.rule.threshold)), 1), s.rule.max)
	case s.replicas() > 0 && now.Sub(s.lastActive) < s.rule.cooldown:
		desired = 1 // inactive but within cooldownPeriod: the HPA's minimum
	}
	old := s.replicas()
	for s.replicas() < desired {
		p, err := s.f.Cluster.StartWorker(s.env...)
		if err != nil {
			s.t.Fatal(err)
		}
		s.running = append(s.running, p)
		s.starts++
	}
	for s.replicas() > desired { // newest first, as a ReplicaSet picks the youngest pod
		p := s.running[len(s.running)-1]
		if err := p.Process.Signal(syscall.SIGTERM); err != nil {
			s.t.Fatalf("SIGTERM worker %d: %v", p.Process.Pid, err)
		}
		s.running = s.running[:len(s.running)-1]
		s.stopped = append(s.stopped, p)
	}
	pt := scalePoint{at: now.Sub(s.began), pending: pending, created: created, replicas: s.replicas()}
	if pt.replicas != old {
		s.t.Logf("%6.2fs value %4.0f (pending %3.0f + created %.0f): replicas %d -> %d",
			pt.at.Seconds(), value, pending, created, old, pt.replicas)
	}
	s.timeline = append(s.timeline, pt)
	return pt
}

// waitStopped waits up to d for every SIGTERMed worker to exit and checks
// that each exited 0, as a drained worker does.
func (s *scaler) waitStopped(d time.Duration) {
	s.t.Helper()
	deadline := time.After(d)
	for _, p := range s.stopped {
		select {
		case <-p.Done:
		case <-deadline:
			s.t.Fatalf("worker %d still running %s after the last scale-down; see %s", p.Process.Pid, d, p.Log)
		}
		if code := p.ProcessState.ExitCode(); code != 0 {
			s.t.Errorf("worker %d exited %d after SIGTERM, want 0; see %s", p.Process.Pid, code, p.Log)
		}
	}
}

// burstFile is one input of the burst.
type burstFile struct {
	pages int
	batch int32
	dest  string // output prefix in the bucket
	op    *vision.AsyncBatchAnnotateFilesOperation
	done  bool
}

// The autoscaling loop without a cluster: a test scaler reads the api's
// /metrics as deploy/kubernetes/scaledobject.yaml's Prometheus query does
// and applies KEDA's and the HPA's rule to worker processes. From zero
// workers, a burst of operations wakes the fleet while they are CREATED,
// grows it to its maximum while pages are pending (the gauge counts the
// queued ranges too: the value never reads 0 while an operation is
// unfinished), shrinks it by SIGTERM (each worker drains and exits 0) and
// takes it to zero once the value has been 0 for the cooldown. Every
// operation succeeds with every page once, and the backlog ends at 0.
func TestAutoscaler(t *testing.T) {
	rule := readScaleRule(t)
	metricsAt := metricsAddr(t)
	f := start(t, 0, func(o *localrun.Options) { o.APIEnv = append(o.APIEnv, "METRICS_ADDR="+metricsAt) })
	c := f.client()
	ctx := testContext(t, 2*time.Minute)
	s := newScaler(t, f, metricsAt, rule,
		"WORKER_CONCURRENCY=2", "FOLIO_SYNTHETIC_PAGE_DELAY="+pageDelay.String())

	// Idle: nothing to do, no worker.
	if pt := s.step(); pt.replicas != 0 || pt.pending != 0 || pt.created != 0 {
		t.Fatalf("idle poll %+v, want no backlog and no workers", pt)
	}

	// A burst of files, more pages than the maximum fleet's threshold
	// (testMaxReplicas-1)*threshold, so that the fleet must reach its bound.
	sizes := []int{60, 140, 90, 120, 75, 130, 100, 125}
	files := make([]*burstFile, len(sizes))
	total := 0
	for i, n := range sizes {
		files[i] = &burstFile{pages: n, batch: int32(1 + i%5), dest: fmt.Sprintf("out/burst-%d/", i)}
		total += n
	}
	if need := float64(rule.max-1) * rule.threshold; float64(total) < need*1.2 {
		t.Fatalf("burst of %d pages; with threshold %v it needs well over %v to reach %d workers",
			total, rule.threshold, need, rule.max)
	}
	uris := make([]string, len(files))
	for i, bf := range files {
		uris[i] = f.Upload(fmt.Sprintf("in/burst-%d.pdf", i), pdfgen.Document(bf.pages))
	}
	errs := make(chan error, len(files))
	for i, bf := range files {
		go func() {
			var err error
			bf.op, err = c.AsyncBatchAnnotateFiles(ctx, &visionpb.AsyncBatchAnnotateFilesRequest{
				Requests: []*visionpb.AsyncAnnotateFileRequest{request(uris[i], "gs://"+bucket+"/"+bf.dest, bf.batch)},
			})
			errs <- err
		}()
	}
	for range files {
		if err := <-errs; err != nil {
			t.Fatalf("submit: %v", err)
		}
	}
	submitted := time.Since(s.began)
	t.Logf("%6.2fs submitted %d operations, %d pages; threshold %v pages per worker, max %d workers, cooldown %s",
		submitted.Seconds(), len(files), total, rule.threshold, rule.max, rule.cooldown)

	// Scale until every operation is done and the fleet is back at zero.
	deadline := time.Now().Add(90 * time.Second)
	var doneAt time.Duration
	for {
		pt := s.step()
		// Read after the scrape: an operation that was done when the
		// gauges were read is seen done here.
		pt.allDone = true
		for _, bf := range files {
			if bf.done {
				continue
			}
			if _, err := bf.op.Poll(ctx); err != nil {
				t.Errorf("operation for %s: %v", bf.dest, err)
				bf.done = true
			} else if bf.done = bf.op.Done(); !bf.done {
				pt.allDone = false
			}
		}
		s.timeline[len(s.timeline)-1].allDone = pt.allDone
		if pt.allDone && doneAt == 0 {
			doneAt = pt.at
			t.Logf("%6.2fs every operation done", doneAt.Seconds())
		}
		if !pt.allDone && pt.pending+pt.created == 0 {
			t.Errorf("%.2fs: value 0 while operations are unfinished: the fleet could scale to zero with work left", pt.at.Seconds())
		}
		if pt.allDone && pt.replicas == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 90 s: every operation done %v, %d workers running", pt.allDone, pt.replicas)
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(scalerPoll):
		}
	}
	s.waitStopped(20 * time.Second) // SHUTDOWN_TIMEOUT is 10s

	// The timeline: 0 until the burst, woken by the CREATED operations,
	// up to the maximum while pages are pending, never 0 in between, and
	// 0 only after the work is done and the cooldown has passed.
	woke, peaked, slept := -1, -1, -1
	for i, pt := range s.timeline {
		switch {
		case woke < 0 && pt.replicas > 0:
			woke = i
		case woke >= 0 && peaked < 0 && pt.replicas == rule.max && pt.pending > 0:
			peaked = i
		case woke >= 0 && slept < 0 && pt.replicas == 0:
			slept = i
		}
	}
	if woke < 0 || slept < 0 {
		t.Fatalf("the fleet never woke (%v) or never went back to zero (%v)", woke >= 0, slept >= 0)
	}
	if s.timeline[woke].created == 0 {
		t.Errorf("woke at %+v with no CREATED operation, want the burst's CREATED operations to wake it", s.timeline[woke])
	}
	if peaked < 0 {
		t.Errorf("never %d workers while pages were pending", rule.max)
	}
	if pt := s.timeline[slept]; !pt.allDone || slept != len(s.timeline)-1 {
		t.Errorf("back to zero at %.2fs (poll %d of %d), before every operation was done (%v)",
			pt.at.Seconds(), slept, len(s.timeline), pt.allDone)
	}
	lastBusy := 0
	for i, pt := range s.timeline[:slept] {
		if pt.pending+pt.created > 0 {
			lastBusy = i
		}
	}
	if idle := s.timeline[slept].at - s.timeline[lastBusy].at; idle < rule.cooldown {
		t.Errorf("back to zero %s after the last poll with work, within the %s cooldown", idle, rule.cooldown)
	}
	t.Logf("timeline: woke %.2fs after start (%.2fs after submit), %d workers at %.2fs (%.0f pages pending), done %.2fs, zero %.2fs; %d workers started, %d SIGTERMed",
		s.timeline[woke].at.Seconds(), (s.timeline[woke].at - submitted).Seconds(), rule.max,
		s.timeline[max(peaked, 0)].at.Seconds(), s.timeline[max(peaked, 0)].pending,
		doneAt.Seconds(), s.timeline[slept].at.Seconds(), s.starts, len(s.stopped))

	// Every operation succeeded with every page once, in its ranges.
	for _, bf := range files {
		if _, err := bf.op.Wait(ctx); err != nil {
			t.Errorf("%s: %v", bf.dest, err)
		}
		outs := f.Outputs(bf.dest)
		ranges := 0
		for first := 1; first <= bf.pages; first += int(bf.batch) {
			name := fmt.Sprintf("output-%d-to-%d.json", first, min(first+int(bf.batch)-1, bf.pages))
			if outs[name] == nil {
				t.Errorf("%s: no %s", bf.dest, name)
			}
			ranges++
		}
		if len(outs) != ranges {
			t.Errorf("%s: %d outputs, want %d", bf.dest, len(outs), ranges)
		}
		pages := f.PageTexts(outs)
		if len(pages) != bf.pages {
			t.Errorf("%s: %d pages, want %d", bf.dest, len(pages), bf.pages)
		}
		for p := 1; p <= bf.pages; p++ {
			if want := fmt.Sprintf(syntheticText, p); strings.TrimSpace(pages[p]) != want {
				t.Errorf("%s: page %d text %q, want %q", bf.dest, p, pages[p], want)
				break
			}
		}
	}

	// The backlog is empty.
	m := scrape(t, metricsAt)
	want(t, "after the burst", m, "folio_pages_pending", 0)
	want(t, "after the burst", m, "folio_operations", 0, "state", "CREATED")
	want(t, "after the burst", m, "folio_operations", 0, "state", "RUNNING")
	want(t, "after the burst", m, "folio_backlog_read_errors_total", 0)
}
