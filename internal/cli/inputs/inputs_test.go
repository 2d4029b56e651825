package inputs

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fakeLister lists names from a map of bucket -> object names.
type fakeLister map[string][]string

func (f fakeLister) List(_ context.Context, bucket, prefix string) ([]string, error) {
	var out []string
	for _, n := range f[bucket] {
		if strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	return out, nil
}

func TestDiscover(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"scans/a.pdf", "scans/b.TIF", "scans/sub/c.gif", "scans/notes.txt",
		"scans/d.pdf", "scans/d.tiff", "other/a.pdf", "single.pdf", "readme.md"} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := func(rel string) string { return filepath.Join(dir, filepath.FromSlash(rel)) }
	list := fakeLister{"bkt": {"in/x.pdf", "in/deep/y.gif", "in/z.jpg", "other.pdf"}}
	type got struct{ Name, Path, URI, MIME string }
	tests := []struct {
		name    string
		args    []string
		want    []got
		wantErr string
	}{
		{name: "file", args: []string{p("single.pdf")}, want: []got{{"single", p("single.pdf"), "", "application/pdf"}}},
		{name: "folder, recursive, extension dropped unless shared", args: []string{p("scans")}, want: []got{
			{"a", p("scans/a.pdf"), "", "application/pdf"},
			{"b", p("scans/b.TIF"), "", "image/tiff"},
			{"d.pdf", p("scans/d.pdf"), "", "application/pdf"},
			{"d.tiff", p("scans/d.tiff"), "", "image/tiff"},
			{"sub/c", p("scans/sub/c.gif"), "", "image/gif"},
		}},
		{name: "same file twice", args: []string{p("single.pdf"), p("single.pdf")}, want: []got{{"single", p("single.pdf"), "", "application/pdf"}}},
		{name: "gs object and prefix", args: []string{"gs://bkt/other.pdf", "gs://bkt/in"}, want: []got{
			{"deep/y", "", "gs://bkt/in/deep/y.gif", "image/gif"},
			{"other", "", "gs://bkt/other.pdf", "application/pdf"},
			{"x", "", "gs://bkt/in/x.pdf", "application/pdf"},
		}},
		{name: "two files, one name", args: []string{p("scans"), p("other")}, wantErr: "would both be written as a"},
		{name: "unsupported file", args: []string{p("readme.md")}, wantErr: "not a .pdf"},
		{name: "missing", args: []string{p("nope.pdf")}, wantErr: "no such file"},
		{name: "empty prefix", args: []string{"gs://bkt/none/"}, wantErr: "no .pdf"},
		{name: "no bucket", args: []string{"gs:///x.pdf"}, wantErr: "not a gs://bucket"},
		{name: "nothing", wantErr: "no input"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srcs, err := Discover(context.Background(), tt.args, list)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var g []got
			for _, s := range srcs {
				g = append(g, got{s.Name, s.Path, s.URI, s.MIMEType})
			}
			if diff := cmp.Diff(tt.want, g); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}
