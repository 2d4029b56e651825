// Package kubernetes_test checks the manifests of deploy/kubernetes against
// the code they deploy, without a cluster: every environment variable is one
// the binaries read, ports agree with the listen addresses, Services and
// probes name real container ports and served paths, grace periods outlast
// the drain, selectors select, and the ScaledObject scales the worker
// Deployment on metrics the api really exports.
package kubernetes_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"go.uber.org/zap"
	"go.yaml.in/yaml/v3"

	"github.com/folio-ocr/folio/metrics"
	"github.com/folio-ocr/folio/store"
)

// root is the module's root, from this package's directory.
const root = "../.."

// binaries maps a container's command to the package it runs.
var binaries = map[string]string{"folio-api": "./cmd/api", "folio-worker": "./cmd/worker"}

// processEnv are the variables a binary reads other than through its
// config loader (so they are not in its -h), with where the test finds the
// reader: a file of the module that must contain the string.
var processEnv = map[string]map[string]struct{ file, contains string }{
	"folio-api": {
		"STORAGE_EMULATOR_HOST": {"go.mod", "cloud.google.com/go/storage"}, // read by the GCS client
	},
	"folio-worker": {
		"STORAGE_EMULATOR_HOST": {"go.mod", "cloud.google.com/go/storage"},
		// libgomp and glibc read these; the worker re-executes itself with them.
		"OMP_THREAD_LIMIT": {"cmd/worker/ocr.go", `"OMP_THREAD_LIMIT=1"`},
		"MALLOC_ARENA_MAX": {"cmd/worker/ocr.go", `"MALLOC_ARENA_MAX=2"`},
	},
}

// addrPorts maps a listen-address variable to the name of the container
// port it opens.
var addrPorts = map[string]string{"LISTEN_ADDR": "http", "GRPC_LISTEN_ADDR": "grpc", "METRICS_ADDR": "metrics"}

// obj is one parsed manifest document.
type obj struct {
	file string
	m    map[string]any
}

func (o obj) kind() string { return str(o.m["kind"]) }
func (o obj) name() string { return str(get(o.m, "metadata", "name")) }
func (o obj) String() string {
	return fmt.Sprintf("%s %s (%s)", o.kind(), o.name(), o.file)
}

// get walks maps by keys; nil when a key is missing.
func get(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func str(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

func list(v any) []map[string]any {
	var out []map[string]any
	l, _ := v.([]any)
	for _, e := range l {
		if m, ok := e.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func labels(v any) map[string]string {
	out := map[string]string{}
	m, _ := v.(map[string]any)
	for k, v := range m {
		out[k] = str(v)
	}
	return out
}

// selects reports whether every selector label is in pod.
func selects(selector, pod map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if pod[k] != v {
			return false
		}
	}
	return true
}

// loadManifests parses the resources listed in kustomization.yaml and
// checks that the list and the directory's YAML files agree.
func loadManifests(t *testing.T) (kust map[string]any, objs []obj) {
	t.Helper()
	b, err := os.ReadFile("kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &kust); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	var resources []string
	for _, r := range kust["resources"].([]any) {
		resources = append(resources, str(r))
	}
	files, _ := filepath.Glob("*.yaml")
	files = slices.DeleteFunc(files, func(f string) bool { return f == "kustomization.yaml" })
	slices.Sort(files)
	if got := slices.Sorted(slices.Values(resources)); !slices.Equal(got, files) {
		t.Errorf("kustomization.yaml resources %v, want the directory's manifests %v", got, files)
	}
	for _, f := range resources {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for {
			var m map[string]any
			err := dec.Decode(&m)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if m == nil {
				continue
			}
			o := obj{file: f, m: m}
			if o.kind() == "" || o.name() == "" || str(m["apiVersion"]) == "" {
				t.Errorf("%s: a document without apiVersion, kind or metadata.name", f)
			}
			if ns := get(m, "metadata", "namespace"); ns != nil {
				t.Errorf("%v sets namespace %v; the manifests are namespace-agnostic", o, ns)
			}
			objs = append(objs, o)
		}
	}
	return kust, objs
}

func find(objs []obj, kind, name string) (obj, bool) {
	for _, o := range objs {
		if o.kind() == kind && o.name() == name {
			return o, true
		}
	}
	return obj{}, false
}

// flagEnv runs pkg with -h and returns the variables its usage names, each
// with its default ("" when the flag prints none).
func flagEnv(t *testing.T, pkg string) map[string]string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go is not on PATH: %v", err)
	}
	cmd := exec.Command(gobin, "run", pkg, "-h")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go run %s -h: %v\n%s", pkg, err, stderr.String())
	}
	env := map[string]string{}
	// flag's usage: "  -redis-url string\n    \tRedis URL (REDIS_URL) (default \"redis://...\")"
	re := regexp.MustCompile(`\(([A-Z][A-Z0-9_]*)\)(?: \(default "?([^")]*)"?\))?`)
	for _, m := range re.FindAllStringSubmatch(string(out), -1) {
		env[m[1]] = m[2]
	}
	if len(env) < 5 {
		t.Fatalf("go run %s -h named %d variables; its usage format changed?\n%s", pkg, len(env), out)
	}
	return env
}

// container is one container of a Deployment, with its effective
// environment.
type container struct {
	dep    obj
	pod    map[string]any // the pod spec
	c      map[string]any
	binary string
	env    map[string]string // name → value; valueFrom gives ""
	from   map[string]map[string]any
}

func (c container) String() string { return fmt.Sprintf("%v container %s", c.dep, str(c.c["name"])) }

// port returns the container port that ref (a name or a number) names.
func (c container) port(ref any) (name string, number int, ok bool) {
	for _, p := range list(c.c["ports"]) {
		n, _ := strconv.Atoi(str(p["containerPort"]))
		if str(p["name"]) == str(ref) || strconv.Itoa(n) == str(ref) {
			return str(p["name"]), n, true
		}
	}
	return "", 0, false
}

func containers(t *testing.T, objs []obj) []container {
	t.Helper()
	var out []container
	for _, d := range objs {
		if d.kind() != "Deployment" {
			continue
		}
		pod, _ := get(d.m, "spec", "template", "spec").(map[string]any)
		for _, c := range list(pod["containers"]) {
			cmd, _ := c["command"].([]any)
			ct := container{dep: d, pod: pod, c: c, env: map[string]string{}, from: map[string]map[string]any{}}
			if len(cmd) > 0 {
				ct.binary = str(cmd[0])
			}
			if _, ok := binaries[ct.binary]; !ok {
				t.Errorf("%v runs %v, not one of folio-api, folio-worker", ct, cmd)
			}
			for _, ef := range list(c["envFrom"]) {
				if ref, ok := ef["configMapRef"].(map[string]any); ok {
					cm, ok := find(objs, "ConfigMap", str(ref["name"]))
					if !ok {
						t.Errorf("%v reads ConfigMap %q, which no manifest defines", ct, str(ref["name"]))
						continue
					}
					for k, v := range labels(cm.m["data"]) {
						ct.env[k] = v
					}
				}
				if ref, ok := ef["secretRef"].(map[string]any); ok && ref["optional"] != true {
					t.Errorf("%v requires Secret %q, which no manifest defines; make it optional", ct, str(ref["name"]))
				}
			}
			for _, e := range list(c["env"]) {
				ct.env[str(e["name"])] = str(e["value"])
				if vf, ok := e["valueFrom"].(map[string]any); ok {
					ct.from[str(e["name"])] = vf
				}
			}
			out = append(out, ct)
		}
	}
	if len(out) == 0 {
		t.Fatal("no Deployment containers")
	}
	return out
}

// quantity parses a Kubernetes quantity as far as the manifests use them.
func quantity(t *testing.T, s string) float64 {
	t.Helper()
	units := []struct {
		suffix string
		mult   float64
	}{{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"m", 1e-3}, {"", 1}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			f, err := strconv.ParseFloat(num, 64)
			if err != nil {
				t.Fatalf("quantity %q: %v", s, err)
			}
			return f * u.mult
		}
	}
	return 0
}

// handlerGrace reads the worker's grace for handlers after SHUTDOWN_TIMEOUT
// from cmd/worker/drain.go.
func handlerGrace(t *testing.T) time.Duration {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "cmd/worker/drain.go"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`const handlerGrace = (\d+) \* time\.Second`).FindSubmatch(b)
	if m == nil {
		t.Fatal("cmd/worker/drain.go no longer declares handlerGrace as N * time.Second; update this test")
	}
	n, _ := strconv.Atoi(string(m[1]))
	return time.Duration(n) * time.Second
}

// emptyBacklog stands in for Redis when the api's registry is built.
type emptyBacklog struct{}

func (emptyBacklog) Backlog(context.Context) (store.Backlog, error) {
	return store.Backlog{Operations: map[store.State]int64{visionpb.OperationMetadata_RUNNING: 1}}, nil
}

// apiMetrics returns the api's metric names, each with its label names and
// the values each takes, from a registry built as cmd/api builds it.
func apiMetrics(t *testing.T) map[string]map[string][]string {
	t.Helper()
	reg := metrics.NewRegistry()
	calls := metrics.NewAPI(reg)
	calls.Observe("rest", "GetOperation", "OK", time.Millisecond) // vectors show once observed
	reg.MustRegister(metrics.NewBacklogCollector(emptyBacklog{}, time.Second, zap.NewNop()))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string][]string{}
	for _, mf := range mfs {
		ls := map[string][]string{}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				ls[lp.GetName()] = append(ls[lp.GetName()], lp.GetValue())
			}
		}
		out[mf.GetName()] = ls
	}
	return out
}

func TestManifests(t *testing.T) {
	kust, objs := loadManifests(t)
	cs := containers(t, objs)
	env := map[string]map[string]string{}
	for bin, pkg := range binaries {
		env[bin] = flagEnv(t, pkg)
	}

	t.Run("env", func(t *testing.T) {
		for _, c := range cs {
			for name := range c.env {
				if _, ok := env[c.binary][name]; ok {
					continue
				}
				src, ok := processEnv[c.binary][name]
				if !ok {
					t.Errorf("%v sets %s, which %s does not read", c, name, c.binary)
					continue
				}
				b, err := os.ReadFile(filepath.Join(root, src.file))
				if err != nil || !bytes.Contains(b, []byte(src.contains)) {
					t.Errorf("%v sets %s, but %s no longer holds %s (err %v)", c, name, src.file, src.contains, err)
				}
			}
			for name, vf := range c.from {
				rf, ok := vf["resourceFieldRef"].(map[string]any)
				if !ok {
					continue
				}
				res, _ := strings.CutPrefix(str(rf["resource"]), "limits.")
				if get(c.c, "resources", "limits", res) == nil {
					t.Errorf("%v: %s comes from %s, which the container does not set", c, name, str(rf["resource"]))
				}
			}
			if c.binary == "folio-worker" {
				for name, want := range map[string]string{"OMP_THREAD_LIMIT": "1", "MALLOC_ARENA_MAX": "2"} {
					if c.env[name] != want {
						t.Errorf("%v: %s=%q, want %q", c, name, c.env[name], want)
					}
				}
			}
		}
		// The api and the worker must agree on these (config.Common).
		for _, name := range []string{"REDIS_URL", "REDIS_KEY_PREFIX", "QUEUE_NAME", "OPERATION_TTL"} {
			var vals []string
			for _, c := range cs {
				vals = append(vals, c.env[name])
			}
			slices.Sort(vals)
			if vals = slices.Compact(vals); len(vals) != 1 || vals[0] == "" {
				t.Errorf("%s differs between containers or is unset: %q", name, vals)
			}
		}
	})

	t.Run("ports", func(t *testing.T) {
		for _, c := range cs {
			opened := map[string]bool{}
			for v, portName := range addrPorts {
				addr, set := c.env[v]
				if !set || addr == "" {
					continue
				}
				_, p, err := net.SplitHostPort(addr)
				n, _ := strconv.Atoi(p)
				if err != nil {
					t.Errorf("%v: %s=%q is not host:port", c, v, addr)
					continue
				}
				name, num, ok := c.port(portName)
				if !ok || num != n {
					t.Errorf("%v: %s=%q, but container port %q is %d", c, v, addr, portName, num)
				}
				opened[name] = true
			}
			for _, p := range list(c.c["ports"]) {
				if !opened[str(p["name"])] {
					t.Errorf("%v: container port %s=%v is opened by no listen address (%v)", c, str(p["name"]), p["containerPort"], addrPorts)
				}
			}
		}
	})

	t.Run("selectors", func(t *testing.T) {
		for _, c := range cs {
			sel := labels(get(c.dep.m, "spec", "selector", "matchLabels"))
			if !selects(sel, labels(get(c.dep.m, "spec", "template", "metadata", "labels"))) {
				t.Errorf("%v: selector %v does not match its pod labels", c.dep, sel)
			}
		}
		for _, o := range objs {
			var sel map[string]string
			switch o.kind() {
			case "Service":
				sel = labels(get(o.m, "spec", "selector"))
			case "PodDisruptionBudget":
				sel = labels(get(o.m, "spec", "selector", "matchLabels"))
			default:
				continue
			}
			var hit []container
			for _, c := range cs {
				if selects(sel, labels(get(c.dep.m, "spec", "template", "metadata", "labels"))) {
					hit = append(hit, c)
				}
			}
			if len(hit) != 1 {
				t.Errorf("%v selects %d Deployments' pods, want 1", o, len(hit))
				continue
			}
			if o.kind() == "PodDisruptionBudget" && hit[0].binary != "folio-worker" {
				t.Errorf("%v selects %v, not the workers", o, hit[0])
			}
			for _, p := range list(get(o.m, "spec", "ports")) {
				if _, _, ok := hit[0].port(p["targetPort"]); !ok {
					t.Errorf("%v port %s: targetPort %v is no port of %v", o, str(p["name"]), p["targetPort"], hit[0])
				}
			}
		}
	})

	t.Run("probes", func(t *testing.T) {
		rest, err := os.ReadFile(filepath.Join(root, "api/rest.go"))
		if err != nil {
			t.Fatal(err)
		}
		probes, err := os.ReadFile(filepath.Join(root, "cmd/worker/health.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			for _, kind := range []string{"readinessProbe", "livenessProbe"} {
				if c.c[kind] == nil {
					t.Errorf("%v has no %s", c, kind)
				}
			}
			for _, kind := range []string{"readinessProbe", "livenessProbe", "startupProbe"} {
				p, ok := c.c[kind].(map[string]any)
				if !ok {
					continue
				}
				h, _ := p["httpGet"].(map[string]any)
				if h == nil {
					h, _ = p["tcpSocket"].(map[string]any)
				}
				if h == nil {
					t.Errorf("%v %s: neither httpGet nor tcpSocket", c, kind)
					continue
				}
				name, _, ok := c.port(h["port"])
				if !ok {
					t.Errorf("%v %s: port %v is no container port", c, kind, h["port"])
					continue
				}
				path, isHTTP := h["path"]
				switch {
				case !isHTTP:
				case c.binary == "folio-worker" && name == "metrics":
					if !bytes.Contains(probes, []byte(`"GET `+str(path)+`"`)) {
						t.Errorf("%v %s: cmd/worker/health.go serves no GET %v", c, kind, path)
					}
					// Readiness must turn off when the worker drains.
					if kind == "readinessProbe" && str(path) != "/readyz" {
						t.Errorf("%v %s: path %v, want /readyz (503 while draining)", c, kind, path)
					}
				case name == "metrics":
					if str(path) != metrics.Path {
						t.Errorf("%v %s: the metrics port serves only %s, not %v", c, kind, metrics.Path, path)
					}
				case c.binary == "folio-api" && name == "http":
					if !bytes.Contains(rest, []byte(`"GET `+str(path)+`"`)) {
						t.Errorf("%v %s: api/rest.go serves no GET %v", c, kind, path)
					}
				default:
					t.Errorf("%v %s: nothing known serves %v on port %s", c, kind, path, name)
				}
			}
		}
	})

	t.Run("grace", func(t *testing.T) {
		for _, c := range cs {
			v, ok := c.env["SHUTDOWN_TIMEOUT"]
			if !ok {
				v = env[c.binary]["SHUTDOWN_TIMEOUT"] // the binary's default
			}
			shutdown, err := time.ParseDuration(v)
			if err != nil {
				t.Fatalf("%v: SHUTDOWN_TIMEOUT %q: %v", c, v, err)
			}
			drain := shutdown
			if c.binary == "folio-worker" {
				drain += handlerGrace(t)
			}
			grace, _ := strconv.Atoi(str(c.pod["terminationGracePeriodSeconds"]))
			if time.Duration(grace)*time.Second <= drain {
				t.Errorf("%v: terminationGracePeriodSeconds %d is not above its drain of %s", c, grace, drain)
			}
		}
	})

	t.Run("resources", func(t *testing.T) {
		for _, c := range cs {
			for _, k := range []string{"requests.cpu", "requests.memory", "limits.memory"} {
				a, b, _ := strings.Cut(k, ".")
				if get(c.c, "resources", a, b) == nil {
					t.Errorf("%v sets no resources.%s", c, k)
				}
			}
			if c.binary != "folio-worker" {
				continue
			}
			// README, Benchmarks: a worker's peak RSS on 2 cores is 429 MiB.
			if req := quantity(t, str(get(c.c, "resources", "requests", "memory"))); req < 430<<20 {
				t.Errorf("%v requests %v memory, below the 430 MiB peak RSS README measured", c, req)
			}
			if cpu := quantity(t, str(get(c.c, "resources", "limits", "cpu"))); cpu != 2 {
				t.Errorf("%v: limits.cpu %v; the memory sizing is for 2 cores", c, cpu)
			}
			// The input cache's emptyDir holds CACHE_MAX_BYTES.
			cacheMax, _ := strconv.ParseFloat(c.env["CACHE_MAX_BYTES"], 64)
			for _, m := range list(c.c["volumeMounts"]) {
				if str(m["mountPath"]) != c.env["CACHE_DIR"] {
					continue
				}
				for _, v := range list(c.pod["volumes"]) {
					if str(v["name"]) == str(m["name"]) {
						if sz := quantity(t, str(get(v, "emptyDir", "sizeLimit"))); sz <= cacheMax {
							t.Errorf("%v: the %s volume's sizeLimit %v is not above CACHE_MAX_BYTES %v", c, str(v["name"]), sz, cacheMax)
						}
					}
				}
			}
		}
	})

	t.Run("references", func(t *testing.T) {
		for _, c := range cs {
			if sa := str(c.pod["serviceAccountName"]); sa != "" {
				if _, ok := find(objs, "ServiceAccount", sa); !ok {
					t.Errorf("%v runs as ServiceAccount %q, which no manifest defines", c, sa)
				}
			}
			var images []string
			for _, im := range list(kust["images"]) {
				images = append(images, str(im["name"]))
			}
			if !slices.Contains(images, str(c.c["image"])) {
				t.Errorf("%v: image %q is not in kustomization.yaml images %v", c, str(c.c["image"]), images)
			}
		}
	})

	t.Run("scaledobject", func(t *testing.T) {
		var sos []obj
		for _, o := range objs {
			if o.kind() == "ScaledObject" {
				sos = append(sos, o)
			}
		}
		if len(sos) != 1 {
			t.Fatalf("%d ScaledObjects, want 1", len(sos))
		}
		so := sos[0]
		target := str(get(so.m, "spec", "scaleTargetRef", "name"))
		if k := str(get(so.m, "spec", "scaleTargetRef", "kind")); k != "" && k != "Deployment" {
			t.Errorf("%v scales a %s", so, k)
		}
		var worker *container
		for i, c := range cs {
			if c.dep.name() == target {
				worker = &cs[i]
			}
		}
		if worker == nil || worker.binary != "folio-worker" {
			t.Fatalf("%v scales %q, not the worker Deployment", so, target)
		}
		if r := get(worker.dep.m, "spec", "replicas"); r != nil {
			t.Errorf("%v sets replicas %v, which every apply would reset under KEDA", worker.dep, r)
		}
		if v := str(get(so.m, "spec", "minReplicaCount")); v != "0" {
			t.Errorf("%v minReplicaCount %q, want 0", so, v)
		}
		cooldown, _ := strconv.Atoi(str(get(so.m, "spec", "cooldownPeriod")))
		grace, _ := strconv.Atoi(str(worker.pod["terminationGracePeriodSeconds"]))
		if cooldown <= grace {
			t.Errorf("%v cooldownPeriod %d is not above the workers' grace period %d", so, cooldown, grace)
		}

		registered := apiMetrics(t)
		triggers := list(get(so.m, "spec", "triggers"))
		if len(triggers) == 0 {
			t.Fatalf("%v has no triggers", so)
		}
		for _, tr := range triggers {
			if str(tr["type"]) != "prometheus" {
				t.Errorf("%v trigger type %q, want prometheus", so, str(tr["type"]))
				continue
			}
			md, _ := tr["metadata"].(map[string]any)
			if v := str(md["ignoreNullValues"]); v != "false" {
				t.Errorf("%v ignoreNullValues %q: a missing signal would read as no work", so, v)
			}
			if th, err := strconv.ParseFloat(str(md["threshold"]), 64); err != nil || th <= 0 {
				t.Errorf("%v threshold %q, want a positive number", so, str(md["threshold"]))
			}
			q := str(md["query"])
			for _, must := range []string{"folio_pages_pending", `folio_operations{state="CREATED"}`} {
				if !strings.Contains(q, "max("+must+")") {
					t.Errorf("%v query %q lacks max(%s): the fleet is woken on pages pending and operations not yet planned", so, q, must)
				}
			}
			sel := regexp.MustCompile(`(folio_[a-z_]+)(\{[^}]*\})?`)
			for _, m := range sel.FindAllStringSubmatch(q, -1) {
				ls, ok := registered[m[1]]
				if !ok {
					t.Errorf("%v query names %s, which the api does not register", so, m[1])
					continue
				}
				if !strings.Contains(q, "max("+m[0]) {
					t.Errorf("%v query: every api replica reports %s, aggregate it with max", so, m[0])
				}
				for _, lm := range regexp.MustCompile(`(\w+)="([^"]*)"`).FindAllStringSubmatch(m[2], -1) {
					if !slices.Contains(ls[lm[1]], lm[2]) {
						t.Errorf("%v query: %s has no %s=%q (it has %v)", so, m[1], lm[1], lm[2], ls)
					}
				}
			}
		}
	})
}
