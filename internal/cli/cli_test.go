package cli

import (
	"bytes"
	"context"
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseInterspersed(t *testing.T) {
	tests := []struct {
		args []string
		pos  []string
		out  string
	}{
		{args: []string{"./scans", "--out", "text"}, pos: []string{"./scans"}, out: "text"},
		{args: []string{"--out", "text", "a.pdf", "b.pdf"}, pos: []string{"a.pdf", "b.pdf"}, out: "text"},
		{args: []string{"a.pdf", "-out=t", "b.pdf"}, pos: []string{"a.pdf", "b.pdf"}, out: "t"},
		{args: []string{"a.pdf", "--", "--out"}, pos: []string{"a.pdf", "--out"}, out: "."},
	}
	for _, tt := range tests {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		out := fs.String("out", ".", "")
		pos, err := parse(fs, tt.args)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tt.pos, pos); diff != "" || *out != tt.out {
			t.Errorf("%v: out %q, positional (-want +got)\n%s", tt.args, *out, diff)
		}
	}
}

func TestParseFeatures(t *testing.T) {
	got, err := parseFeatures("document_text_detection, TEXT_DETECTION,TEXT_DETECTION")
	if err != nil || len(got) != 2 || got[0].String() != "DOCUMENT_TEXT_DETECTION" || got[1].String() != "TEXT_DETECTION" {
		t.Errorf("parseFeatures: %v, %v", got, err)
	}
	for _, bad := range []string{"", "OCR", "TYPE_UNSPECIFIED"} {
		if _, err := parseFeatures(bad); err == nil {
			t.Errorf("parseFeatures(%q) accepted", bad)
		}
	}
}

// Every command answers --help with its usage and examples, status 0;
// usage errors are status 2.
func TestHelpAndUsage(t *testing.T) {
	for _, c := range commands() {
		var stderr bytes.Buffer
		env := Env{Stdout: io.Discard, Stderr: &stderr, Getenv: func(string) string { return "" }}
		if code := Main(context.Background(), env, []string{c.name, "--help"}); code != ExitOK {
			t.Errorf("%s --help: status %d", c.name, code)
		}
		if !strings.Contains(stderr.String(), "Usage: folio "+c.name) || !strings.Contains(stderr.String(), "Example") {
			t.Errorf("%s --help lacks usage or examples:\n%s", c.name, &stderr)
		}
	}
	env := Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" }}
	for _, args := range [][]string{{"frobnicate"}, {"annotate"}, {"annotate", "x.pdf", "--batch-size", "101"}, {"status"}, {"annotate", "--nope"}} {
		if code := Main(context.Background(), env, args); code != ExitUsage {
			t.Errorf("%v: status %d, want %d", args, code, ExitUsage)
		}
	}
}
