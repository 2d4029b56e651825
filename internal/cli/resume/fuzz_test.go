package resume

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// FuzzLoad reads resume state files, which live in the output folder and
// may be edited, truncated or left by another version. A state that loads
// saves and loads back equal, whatever it held; one that does not load
// is an error naming the file and saying how to start over.
func FuzzLoad(f *testing.F) {
	key := FileKey("sha256:abc", Options{MIMEType: "application/pdf", Features: []string{"DOCUMENT_TEXT_DETECTION"},
		Destination: "gs://b/folio/out/"})
	s := &State{Files: map[string]Entry{
		"scan":        {Key: key, Operation: "operations/0123456789abcdef"},
		"sub/report":  {Key: key, Operation: "operations/1", Done: true, Pages: 3, FailedPages: []PageError{{Page: 2, Code: 13, Message: "OCR failed"}}},
		"never-asked": {Key: key},
	}}
	dir := f.TempDir()
	if err := s.Save(dir); err != nil {
		f.Fatal(err)
	}
	saved, err := os.ReadFile(filepath.Join(dir, StateFile))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(saved)
	f.Add(saved[:len(saved)/2])
	for _, s := range []string{
		`{}`, `{"files":null}`, `{"files":{}}`, `null`, ``, `[]`, `{"files":{"a":null}}`,
		`{"files":{"a":{"key":"k","pages":-1,"failedPages":[{"page":0}]}}}`,
		`{"files":{"a":{"key":"k"},"a":{"key":"other"}}}`, `{"files":{"a":{"done":"yes"}}}`,
		`{"files":{"a":{"pages":1e400}}}`, "{\"files\":{\"\xff\":{\"key\":\"\xfe\"}}}", `{"files":{"":{}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, StateFile)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := Load(dir)
		if err != nil {
			if s != nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "delete it to start over") {
				t.Fatalf("Load = %v, %v", s, err)
			}
			return
		}
		if s.Files == nil {
			t.Fatal("loaded state has no Files map")
		}
		for name, e := range s.Files {
			_ = Decide(e, true, e.Key, true).String()
			_ = name
		}
		if err := s.Save(dir); err != nil {
			t.Fatal(err)
		}
		again, err := Load(dir)
		if err != nil {
			t.Fatalf("saved state does not load: %v", err)
		}
		if diff := cmp.Diff(s, again, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("state changed over save and load (-loaded +reloaded):\n%s", diff)
		}
	})
}
