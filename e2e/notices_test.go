package e2e

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// THIRD_PARTY_NOTICES.md lists exactly the Go modules the binaries hold,
// at their versions, each with a license: after a dependency change,
// `make notices` rewrites it.
func TestThirdPartyNotices(t *testing.T) {
	if buildError != nil {
		t.Fatal(buildError)
	}
	out, err := exec.Command("go", "version", "-m",
		filepath.Join(binDir, "api"), filepath.Join(binDir, "worker"), filepath.Join(binDir, "folio")).Output()
	if err != nil {
		t.Fatalf("go version -m: %v", err)
	}
	held := map[string]bool{}
	var last string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 3 && f[0] == "dep":
			last = f[1] + " " + f[2]
			held[last] = true
		case len(f) >= 3 && f[0] == "=>": // a replacement takes its module's place
			delete(held, last)
			held[f[1]+" "+f[2]] = true
		}
	}
	file, err := os.Open("../THIRD_PARTY_NOTICES.md")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = file.Close() }()
	listed := map[string]bool{}
	sc := bufio.NewScanner(file)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		cells := strings.Split(sc.Text(), "|")
		if len(cells) != 5 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			continue
		}
		mod := strings.Trim(strings.TrimSpace(cells[1]), "`")
		ver, lic := strings.TrimSpace(cells[2]), strings.TrimSpace(cells[3])
		if strings.Contains(mod, " ") || !strings.HasPrefix(ver, "v") {
			continue // the Debian table
		}
		listed[mod+" "+ver] = true
		if lic == "" || strings.Contains(lic, "no license") || lic == "see text" {
			t.Errorf("%s %s: license %q", mod, ver, lic)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	var missing, stale []string
	for m := range held {
		if !listed[m] {
			missing = append(missing, m)
		}
	}
	for m := range listed {
		if !held[m] {
			stale = append(stale, m)
		}
	}
	slices.Sort(missing)
	slices.Sort(stale)
	if len(missing)+len(stale) > 0 {
		t.Errorf("THIRD_PARTY_NOTICES.md is out of date (run make notices):\nin the binaries, not listed: %v\nlisted, not in the binaries: %v", missing, stale)
	}
}
