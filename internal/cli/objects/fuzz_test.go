package objects_test

import (
	"fmt"
	"path"
	"strings"
	"testing"

	"github.com/folio-ocr/folio/internal/cli/objects"
	"github.com/folio-ocr/folio/pipeline"
)

// FuzzOutputName reads the object names `folio text` lists under an
// output prefix. An output name is exactly the name the server gives the
// pages A to B (pipeline.OutputName), and such names are output names;
// SplitURI gives back the URI it split.
func FuzzOutputName(f *testing.F) {
	for _, s := range []string{
		"gs://b/out/output-1-to-20.json", "gs://b/out/output-21-to-21.json", "output-3-to-4.json",
		"gs://b/out/output-0-to-0.json", "gs://b/out/output--1-to-2.json", "gs://b/out/output-5-to-2.json",
		"gs://b/out/output-01-to-2.json", "gs://b/out/output-+1-to-2.json", "gs://b/out/output-1-to-2.json.tmp",
		"gs://b/out/output- 1-to-2.json", "gs://b/out/output-1-to-99999999999999999999.json", "gs://b/out/",
		"gs://b/o", "gs:///o", "gs://b/", "",
	} {
		f.Add(s, 1, 20)
	}
	f.Fuzz(func(t *testing.T, uri string, first, last int) {
		if first >= 1 && last >= first {
			name := pipeline.OutputName("gs://b/out/", pipeline.PageRange{First: first, Last: last})
			if !objects.IsOutputName(name) {
				t.Fatalf("IsOutputName(%q) = false", name)
			}
		}
		if objects.IsOutputName(uri) {
			var a, b int
			base := path.Base(uri)
			if _, err := fmt.Sscanf(base, "output-%d-to-%d.json", &a, &b); err != nil || a < 1 || b < a {
				t.Fatalf("IsOutputName(%q): pages %d to %d (%v)", uri, a, b, err)
			}
			if want := path.Base(pipeline.OutputName("gs://b/", pipeline.PageRange{First: a, Last: b})); base != want {
				t.Fatalf("IsOutputName(%q): the server names pages %d to %d %q", uri, a, b, want)
			}
		}
		bucket, object, err := objects.SplitURI(uri)
		if err != nil {
			if bucket != "" || object != "" || !strings.Contains(err.Error(), "not a gs://bucket/object URI") {
				t.Fatalf("SplitURI(%q) = %q, %q, %v", uri, bucket, object, err)
			}
			return
		}
		if bucket == "" || object == "" || strings.Contains(bucket, "/") || "gs://"+bucket+"/"+object != uri {
			t.Fatalf("SplitURI(%q) = %q, %q", uri, bucket, object)
		}
	})
}

// TestIsOutputNamePages pins what FuzzOutputName found: only names of
// pages 1 <= A <= B are output names.
func TestIsOutputNamePages(t *testing.T) {
	for name, want := range map[string]bool{
		"gs://b/o/output-1-to-20.json": true, "gs://b/o/output-7-to-7.json": true,
		"gs://b/o/output-0-to-0.json": false, "gs://b/o/output--1-to-2.json": false, "gs://b/o/output-5-to-2.json": false,
	} {
		if got := objects.IsOutputName(name); got != want {
			t.Errorf("IsOutputName(%q) = %t, want %t", name, got, want)
		}
	}
}
