package inputs

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/folio-ocr/folio/internal/cli/results"
	"github.com/folio-ocr/folio/internal/cli/resume"
)

// FuzzDiscoverGCS names the objects of a bucket listing, which whoever can
// write to the bucket controls. Every name is relative, stays inside the
// output folder, is unique and does not collide with the run's own files
// (the resume state and the failure report); sources come sorted by name
// with the mimeType of their extension.
func FuzzDiscoverGCS(f *testing.F) {
	f.Add("gs://bkt/in/", "in/x.pdf\nin/deep/y.gif\nin/z.jpg\nother.pdf")
	f.Add("gs://bkt/in", "in/a.pdf\nin/a.tif\nin/a.TIFF")
	f.Add("gs://bkt", "a.pdf\nsub/b.gif\nsub/")
	f.Add("gs://bkt/in/x.pdf", "")
	f.Add("gs://bkt/in/", "in/../../../etc/cron.d/x.pdf")
	f.Add("gs://bkt/in/", "in//abs.pdf\nin/.pdf\nin/.folio-state.pdf\nin/folio-report.tif")
	f.Add("gs://bkt/", "..pdf\n../x.gif\n./y.pdf\nz/./w.pdf")
	f.Add("gs:///x.pdf", "")
	f.Add("gs://bkt/in/", "in/a.pdf\nin/a.pdf")
	f.Fuzz(func(t *testing.T, arg, listing string) {
		if !strings.HasPrefix(arg, "gs://") {
			arg = "gs://" + arg
		}
		list := fakeLister{}
		if bucket, _, _ := strings.Cut(strings.TrimPrefix(arg, "gs://"), "/"); bucket != "" {
			list[bucket] = strings.Split(listing, "\n")
		}
		srcs, err := Discover(context.Background(), []string{arg}, list)
		if err != nil {
			if srcs != nil {
				t.Fatalf("Discover(%q) = %v and %v", arg, srcs, err)
			}
			return
		}
		out := filepath.Join(t.TempDir(), "out")
		for i, s := range srcs {
			if s.Path != "" || !strings.HasPrefix(s.URI, "gs://") {
				t.Fatalf("source %+v of %s", s, arg)
			}
			if mt, ok := MIMEType(s.URI); !ok || mt != s.MIMEType {
				t.Fatalf("source %+v: mimeType of its extension is %q, %t", s, mt, ok)
			}
			if !filepath.IsLocal(filepath.FromSlash(s.Name)) {
				t.Fatalf("object %s is named %q, outside the output folder", s.URI, s.Name)
			}
			j, txt := results.Paths(out, s.Name)
			for _, p := range []string{j, txt} {
				if !strings.HasPrefix(p, out+string(filepath.Separator)) {
					t.Fatalf("object %s is written as %s, outside %s", s.URI, p, out)
				}
				if base := filepath.Base(p); p == filepath.Join(out, resume.StateFile) || p == filepath.Join(out, results.ReportFile) {
					t.Fatalf("object %s is written over the run's %s", s.URI, base)
				}
			}
			if i > 0 && srcs[i-1].Name >= s.Name {
				t.Fatalf("names %q and %q are not sorted and unique", srcs[i-1].Name, s.Name)
			}
		}
		if !slices.IsSortedFunc(srcs, func(a, b Source) int { return strings.Compare(a.Name, b.Name) }) {
			t.Fatal("not sorted")
		}
	})
}

// TestDiscoverUnsafeNames pins what FuzzDiscoverGCS found: object names
// under a prefix that would write results outside the output folder are
// refused, and names that dropping the extension would empty or make
// collide with the run's own files keep it.
func TestDiscoverUnsafeNames(t *testing.T) {
	for _, object := range []string{"in/../../x.pdf", "in//abs.pdf", "in/a/../../x.pdf"} {
		_, err := Discover(context.Background(), []string{"gs://bkt/in/"}, fakeLister{"bkt": {object}})
		if err == nil || !strings.Contains(err.Error(), "outside the output folder") {
			t.Errorf("object %s: err %v, want one about the output folder", object, err)
		}
	}
	for object, want := range map[string]string{
		"in/.pdf": ".pdf", "in/..pdf": "..pdf", "in/.folio-state.pdf": ".folio-state.pdf",
		"in/folio-report.tif": "folio-report.tif", "in/sub/.folio-state.pdf": "sub/.folio-state",
	} {
		srcs, err := Discover(context.Background(), []string{"gs://bkt/in/"}, fakeLister{"bkt": {object}})
		if err != nil || len(srcs) != 1 || srcs[0].Name != want {
			t.Errorf("object %s: %+v, %v; want name %q", object, srcs, err, want)
		}
	}
}
