package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/folio-ocr/folio/internal/pdfgen"
)

// nodeDir is the Node.js project that runs Google's Node.js client.
const nodeDir = "../tests/node"

// Google's official Node.js client, @google-cloud/vision, on its default
// transport (gRPC) and on REST: tests/node/check.mjs submits, waits, reads
// and lists operations, cancels, deletes, and decodes a bad request's field
// violation; here the outputs it asked for are checked in the emulator.
// The test needs node and npm (Node.js 18 or later) and skips without them;
// it runs `npm ci` itself when tests/node/node_modules is missing or older
// than the lockfile (.ci/run runs it before go test).
func TestNodeClient(t *testing.T) {
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = exec.LookPath("npm")
	}
	if err != nil {
		t.Skipf("Google's Node.js client is not tested: node and npm are needed (Node.js 18 or later; apt-get install nodejs npm): %v", err)
	}
	checkNodeVersion(t, node)
	npmInstall(t)

	f := start(t, 2)
	input := f.Upload("in/node.pdf", pdfgen.Document(5))
	long := f.Upload("in/node-long.pdf", pdfgen.Document(200)) // still running when the cancel arrives
	ctx := testContext(t, 4*time.Minute)
	cmd := exec.CommandContext(ctx, node, "check.mjs")
	cmd.Dir = nodeDir
	cmd.Env = append(os.Environ(),
		"FOLIO_REST="+f.API,
		"FOLIO_GRPC="+f.GRPC,
		"FOLIO_INPUT="+input,
		"FOLIO_CANCEL_INPUT="+long,
		"FOLIO_OUTPUT=gs://"+bucket+"/out/node/",
		"FOLIO_GCS="+f.GCS.URL(),
		// Everything is local: keep grpc-js off an http_proxy of the environment,
		// as Go's clients keep off it for loopback addresses.
		"no_grpc_proxy=127.0.0.1,localhost",
	)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	began := time.Now()
	err = cmd.Run()
	t.Logf("node check.mjs (%s):\n%s", time.Since(began).Round(time.Millisecond), out.String())
	if err != nil {
		t.Fatalf("node check.mjs: %v (its FAIL lines are above)", err)
	}

	// What the Node client asked for is in the emulator: 5 pages in ranges
	// of batchSize, once each, on both transports and both API versions.
	for _, transport := range []string{"grpc", "rest"} {
		for _, tt := range []struct {
			version string
			names   []string
		}{
			{"v1", []string{"output-1-to-2.json", "output-3-to-4.json", "output-5-to-5.json"}},
			{"v1p4beta1", []string{"output-1-to-3.json", "output-4-to-5.json"}},
		} {
			prefix := "out/node/" + transport + "/" + tt.version + "/"
			outs := f.Outputs(prefix)
			if len(outs) != len(tt.names) {
				t.Errorf("%s: outputs %v, want %v", prefix, keys(outs), tt.names)
			}
			for _, name := range tt.names {
				if outs[name] == nil {
					t.Errorf("%s: missing %s", prefix, name)
				}
			}
			pages := f.PageTexts(outs)
			for p := 1; p <= 5; p++ {
				if want := fmt.Sprintf("Page %d of 5\n", p); !strings.HasPrefix(pages[p], want) {
					t.Errorf("%s: page %d text %q, want prefix %q", prefix, p, pages[p], want)
				}
			}
		}
	}
}

// checkNodeVersion fails t unless node is Node.js 18 or later, the oldest
// @google-cloud/vision 5 supports.
func checkNodeVersion(t *testing.T, node string) {
	t.Helper()
	v, err := exec.Command(node, "--version").Output()
	if err != nil {
		t.Fatalf("node --version: %v", err)
	}
	major, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimSpace(string(v)), "v"), ".")
	if n, err := strconv.Atoi(major); err != nil || n < 18 {
		t.Fatalf("node %s is too old: @google-cloud/vision 5 needs Node.js 18 or later", bytes.TrimSpace(v))
	}
}

// npmInstall runs `npm ci` in nodeDir unless node_modules was installed
// from the current lockfile (npm's node_modules/.package-lock.json is newer
// than package-lock.json).
func npmInstall(t *testing.T) {
	t.Helper()
	lock, err := os.Stat(filepath.Join(nodeDir, "package-lock.json"))
	if err != nil {
		t.Fatal(err)
	}
	if installed, err := os.Stat(filepath.Join(nodeDir, "node_modules", ".package-lock.json")); err == nil && !installed.ModTime().Before(lock.ModTime()) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts")
	cmd.Dir = nodeDir
	began := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in tests/node: %v\n%s", err, out)
	}
	t.Logf("npm ci in tests/node took %s", time.Since(began).Round(time.Millisecond))
}
