package resume

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFileKey(t *testing.T) {
	base := Options{MIMEType: "application/pdf", Features: []string{"DOCUMENT_TEXT_DETECTION"}, BatchSize: 20, Destination: "gs://b/folio/out/"}
	k := FileKey("abc", base)
	if len(k) != 64 || k != FileKey("abc", base) {
		t.Fatalf("key %q: want 64 hex digits, the same for the same input", k)
	}
	change := []struct {
		name string
		hash string
		opts func(*Options)
	}{
		{name: "content", hash: "abd"},
		{name: "mime type", opts: func(o *Options) { o.MIMEType = "image/tiff" }},
		{name: "features", opts: func(o *Options) { o.Features = []string{"TEXT_DETECTION"} }},
		{name: "languages", opts: func(o *Options) { o.Languages = []string{"de"} }},
		{name: "batch size", opts: func(o *Options) { o.BatchSize = 5 }},
		{name: "destination", opts: func(o *Options) { o.Destination = "gs://c/folio/out/" }},
	}
	for _, tt := range change {
		o := base
		if tt.opts != nil {
			tt.opts(&o)
		}
		h := "abc"
		if tt.hash != "" {
			h = tt.hash
		}
		if FileKey(h, o) == k {
			t.Errorf("changing the %s keeps the key", tt.name)
		}
	}
}

func TestBatchKey(t *testing.T) {
	a, b := BatchKey([]string{"k1", "k2"}), BatchKey([]string{"k2", "k1"})
	if a != b {
		t.Errorf("order changes the key: %s, %s", a, b)
	}
	if a == BatchKey([]string{"k1"}) || a == BatchKey([]string{"k1", "k2", "k3"}) {
		t.Error("another set of files gives the same key")
	}
	if !strings.HasPrefix(a, "folio-") || len(a) != 70 {
		t.Errorf("key %q: want folio- and 64 hex digits", a)
	}
}

func TestDecide(t *testing.T) {
	tests := []struct {
		name  string
		e     Entry
		ok    bool
		exist bool
		want  Action
	}{
		{name: "never seen", want: Submit},
		{name: "done, results there", e: Entry{Key: "k", Operation: "op", Done: true}, ok: true, exist: true, want: Skip},
		{name: "done, a result deleted", e: Entry{Key: "k", Operation: "op", Done: true}, ok: true, want: Submit},
		{name: "submitted, not done", e: Entry{Key: "k", Operation: "op"}, ok: true, want: Follow},
		{name: "submitted, results of an older run there", e: Entry{Key: "k", Operation: "op"}, ok: true, exist: true, want: Follow},
		{name: "file or options changed", e: Entry{Key: "old", Operation: "op", Done: true}, ok: true, exist: true, want: Submit},
		{name: "entry without operation", e: Entry{Key: "k"}, ok: true, want: Submit},
	}
	for _, tt := range tests {
		if got := Decide(tt.e, tt.ok, "k", tt.exist); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestStateRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s, err := Load(dir)
	if err != nil || len(s.Files) != 0 {
		t.Fatalf("Load of an empty folder: %v, %v", s, err)
	}
	s.Files["a/b"] = Entry{Key: "k", Operation: "operations/1", Done: true, Pages: 3,
		FailedPages: []PageError{{Page: 2, Code: 3, Message: "bad page"}}}
	if err := s.Save(dir); err != nil {
		t.Fatal(err)
	}
	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(s, got); diff != "" {
		t.Errorf("(-saved +loaded)\n%s", diff)
	}
}
