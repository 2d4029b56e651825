package lang

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestModel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		tag     string
		want    string
		wantErr error
	}{
		{"en", "eng", nil},
		{"en-US", "eng", nil},
		{"EN-us", "eng", nil},
		{"en_GB", "eng", nil},
		{"en-Latn-US", "eng", nil},
		{"en-t-i0-handwrit", "eng", nil},
		{"en-US-t-i0-handwrit", "eng", nil},
		{"de", "deu", nil},
		{"de-CH-1996", "deu", nil},
		{"de-Latf", "frk", nil},
		{"fr", "fra", nil},
		{"fr-CA", "fra", nil},
		{"es", "spa", nil},
		{"es-419", "spa", nil},
		{"it", "ita", nil},
		{"pt", "por", nil},
		{"pt-BR", "por", nil},
		{"zh", "chi_sim", nil},
		{"zh-CN", "chi_sim", nil},
		{"zh-Hans", "chi_sim", nil},
		{"zh-hans-cn", "chi_sim", nil},
		{"zh-Hant", "chi_tra", nil},
		{"zh_Hant_TW", "chi_tra", nil},
		{"zh-TW", "chi_tra", nil},
		{"zh-HK", "chi_tra", nil},
		{"zh-MO", "chi_tra", nil},
		{"zh-Hans-TW", "chi_sim", nil}, // The script wins over the region.
		{"zh-t-i0-handwrit", "chi_sim", nil},
		{"ja", "jpn", nil},
		{"ja-Jpan", "jpn", nil},
		{"ja-Hrkt", "jpn", nil},
		{"ja-t-i0-handwrit", "jpn", nil},
		{"ko", "kor", nil},
		{"ko-Hang", "kor", nil},
		{"ru", "rus", nil},
		{"ar", "ara", nil},
		{"ar-EG", "ara", nil},
		{"he", "heb", nil},
		{"iw", "heb", nil},
		{"hi", "hin", nil},
		{"el", "ell", nil},
		{"th", "tha", nil},
		{"uk", "ukr", nil},
		{"pl", "pol", nil},
		{"nl", "nld", nil},
		{"sv", "swe", nil},
		{"id", "ind", nil},
		{"in", "ind", nil},
		{"yi", "yid", nil},
		{"ji", "yid", nil},
		{"no", "nor", nil},
		{"nb", "nor", nil},
		{"nn", "nor", nil},
		{"fil", "fil", nil},
		{"tl", "fil", nil},
		{"sr", "srp", nil},
		{"sr-Cyrl", "srp", nil},
		{"sr-Latn", "srp_latn", nil},
		{"sr-Latn-RS", "srp_latn", nil},
		{"az", "aze", nil},
		{"az-Cyrl", "aze_cyrl", nil},
		{"uz", "uzb", nil},
		{"uz-Latn", "uzb", nil},
		{"uz-Cyrl", "uzb_cyrl", nil},
		{"ku", "kmr", nil},
		{"kmr", "kmr", nil},
		{"ceb", "ceb", nil},
		{"grc", "grc", nil},
		{"la", "lat", nil},
		{"mo", "ron", nil},
		{"sl-rozaj-biske", "slv", nil},
		{"en-a-bbb-x-a-ccc", "eng", nil},
		{"en-x-private", "eng", nil},

		{"", "", ErrMalformed},
		{"e", "", ErrMalformed},
		{"english", "", ErrUnknown},
		{"en-", "", ErrMalformed},
		{"-en", "", ErrMalformed},
		{"en--US", "", ErrMalformed},
		{"en US", "", ErrMalformed},
		{"en.US", "", ErrMalformed},
		{"en-US-US", "", ErrMalformed},
		{"en-Latn-Latn", "", ErrMalformed},
		{"en-t", "", ErrMalformed},
		{"en-t-i", "", ErrMalformed},
		{"en-x", "", ErrMalformed},
		{"en-abcdefghi", "", ErrMalformed},
		{"e1", "", ErrMalformed},
		{"x-klingon", "", ErrMalformed},
		{"i-klingon", "", ErrMalformed},
		{"ελ", "", ErrMalformed},
		{"en\x00", "", ErrMalformed},
		{strings.Repeat("en-US-", 20) + "x", "", ErrMalformed},

		{"xx", "", ErrUnknown},
		{"tlh", "", ErrUnknown},
		{"und", "", ErrUnknown},
		{"zxx", "", ErrUnknown},
		{"en-Cyrl", "", ErrUnknown},
		{"zh-Hani", "", ErrUnknown},
		{"ku-Arab", "", ErrUnknown},
		{"zh-yue", "", ErrUnknown},
		{"eng", "", ErrUnknown}, // A model name is not a BCP-47 tag.
		{"chi_sim", "", ErrUnknown},
	}
	for _, tt := range tests {
		got, err := Model(tt.tag)
		if got != tt.want || !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
			t.Errorf("Model(%q) = %q, %v; want %q, %v", tt.tag, got, err, tt.want, tt.wantErr)
		}
		if err == nil {
			continue
		}
		var he *HintError
		if !errors.As(err, &he) || he.Hint != tt.tag || he.Index != 0 || he.Model != "" {
			t.Errorf("Model(%q) error = %#v, want a *HintError for the tag", tt.tag, err)
		}
	}
}

// TestTable checks the model table: unique names, each selecting tag maps
// back to its model, and one default per language.
func TestTable(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, r := range table {
		if seen[r.name] {
			t.Errorf("model %s listed twice", r.name)
		}
		seen[r.name] = true
		if r.langs != "" && r.scripts == "" {
			t.Errorf("model %s has languages but no script", r.name)
		}
		for _, l := range strings.Fields(r.langs) {
			for _, s := range strings.Fields(r.scripts) {
				if got, err := Model(l + "-" + s); got != r.name {
					t.Errorf("Model(%q) = %q, %v; want %q", l+"-"+s, got, err, r.name)
				}
			}
			for _, reg := range strings.Fields(r.regions) {
				if got, err := Model(l + "-" + reg); got != r.name {
					t.Errorf("Model(%q) = %q, %v; want %q", l+"-"+reg, got, err, r.name)
				}
			}
			if _, err := Model(l); err != nil {
				t.Errorf("Model(%q) = %v", l, err)
			}
		}
	}
	if !slices.IsSortedFunc(table, func(a, b row) int { return strings.Compare(a.name, b.name) }) {
		t.Error("table is not sorted by model name")
	}
	if len(table) != 124 {
		t.Errorf("table has %d models, want the 124 of Tesseract 5's tessdata", len(table))
	}
}

func TestResolve(t *testing.T) {
	t.Parallel()
	installed := Models{"eng": true, "deu": true, "chi_sim": true, "chi_tra": true, "osd": true}
	tests := []struct {
		name      string
		hints     []string
		installed Models
		want      string
		// wantErrs are the failing hints as "index:hint:model", in order.
		wantErrs []string
		// wantIs must be matched by errors.Is.
		wantIs []error
	}{
		{name: "no hints", installed: installed, want: ""},
		{name: "empty hints", hints: []string{}, installed: installed, want: ""},
		{name: "one", hints: []string{"de"}, installed: installed, want: "deu"},
		{name: "hint order", hints: []string{"de", "en"}, installed: installed, want: "deu+eng"},
		{name: "other order", hints: []string{"en-US", "de-DE"}, installed: installed, want: "eng+deu"},
		{name: "deduplicated", hints: []string{"de", "en-GB", "en", "EN-t-i0-handwrit", "de-AT"}, installed: installed, want: "deu+eng"},
		{name: "chinese", hints: []string{"zh", "zh-Hans", "zh-TW", "zh-Hant"}, installed: installed, want: "chi_sim+chi_tra"},
		{name: "unknown installed set", hints: []string{"ja", "ko"}, want: "jpn+kor"},
		{
			name: "not installed", hints: []string{"en", "ja"}, installed: installed,
			wantErrs: []string{"1:ja:jpn"}, wantIs: []error{ErrNotInstalled},
		},
		{
			name: "empty installed set", hints: []string{"en"}, installed: Models{},
			wantErrs: []string{"0:en:eng"}, wantIs: []error{ErrNotInstalled},
		},
		{
			name: "every failure in order", hints: []string{"xx", "en", "ja", "e n", "ja"}, installed: installed,
			wantErrs: []string{"0:xx:", "2:ja:jpn", "3:e n:", "4:ja:jpn"},
			wantIs:   []error{ErrUnknown, ErrNotInstalled, ErrMalformed},
		},
		{
			name: "unknown without installed set", hints: []string{"en", "qq"},
			wantErrs: []string{"1:qq:"}, wantIs: []error{ErrUnknown},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Resolve(tt.hints, tt.installed)
			if got != tt.want {
				t.Errorf("Resolve() = %q, want %q", got, tt.want)
			}
			if tt.wantErrs == nil {
				if err != nil {
					t.Fatalf("Resolve() error = %v", err)
				}
				return
			}
			var re *ResolveError
			if !errors.As(err, &re) {
				t.Fatalf("Resolve() error = %v (%T), want *ResolveError", err, err)
			}
			var errs []string
			for _, h := range re.Hints {
				errs = append(errs, strings.Join([]string{string(rune('0' + h.Index)), h.Hint, h.Model}, ":"))
			}
			if diff := cmp.Diff(tt.wantErrs, errs); diff != "" {
				t.Errorf("failing hints (-want +got):\n%s", diff)
			}
			for _, target := range tt.wantIs {
				if !errors.Is(err, target) {
					t.Errorf("errors.Is(%v, %v) = false", err, target)
				}
			}
			var he *HintError
			if !errors.As(err, &he) || he != re.Hints[0] {
				t.Errorf("errors.As(*HintError) = %v, want the first hint error", he)
			}
		})
	}
}

func TestHintErrorMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  *HintError
		want string
	}{
		{
			&HintError{Index: 1, Hint: "ja", Model: "jpn", Err: ErrNotInstalled},
			`language hint "ja" needs the Tesseract model jpn, which is not installed (Debian package tesseract-ocr-jpn)`,
		},
		{
			&HintError{Hint: "zh-Hant", Model: "chi_tra", Err: ErrNotInstalled},
			`language hint "zh-Hant" needs the Tesseract model chi_tra, which is not installed (Debian package tesseract-ocr-chi-tra)`,
		},
		{
			&HintError{Hint: "xx", Err: ErrUnknown},
			`language hint "xx" names no language and script that Tesseract has a model for`,
		},
		{
			&HintError{Hint: "e n", Err: ErrMalformed},
			`language hint "e n" is not a well-formed BCP-47 language tag such as "en", "pt-BR" or "zh-Hant"`,
		},
		{
			&HintError{Hint: strings.Repeat("a", 100), Err: ErrMalformed},
			`language hint "` + strings.Repeat("a", 64) + `"... is not a well-formed`,
		},
		{
			&HintError{Hint: "en", Err: os.ErrPermission},
			`language hint "en": permission denied`,
		},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); !strings.HasPrefix(got, tt.want) {
			t.Errorf("Error() = %q, want it to start with %q", got, tt.want)
		}
	}
	re := &ResolveError{Hints: []*HintError{tests[0].err, tests[2].err}}
	if got, want := re.Error(), tests[0].want+"; "+tests[2].want; got != want {
		t.Errorf("ResolveError.Error() = %q, want %q", got, want)
	}
}

func TestPackage(t *testing.T) {
	t.Parallel()
	for model, want := range map[string]string{
		"eng":          "tesseract-ocr-eng",
		"chi_sim":      "tesseract-ocr-chi-sim",
		"chi_tra_vert": "tesseract-ocr-chi-tra-vert",
		"srp_latn":     "tesseract-ocr-srp-latn",
	} {
		if got := Package(model); got != want {
			t.Errorf("Package(%q) = %q, want %q", model, got, want)
		}
	}
}

// writeFiles creates each of names (a name ending in '/' is a directory)
// under dir.
func writeFiles(t *testing.T, dir string, names ...string) {
	t.Helper()
	for _, n := range names {
		p := filepath.Join(dir, n)
		if strings.HasSuffix(n, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("not a real model"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestInstalled(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir,
		"eng.traineddata", "deu.traineddata", "chi_sim.traineddata", "osd.traineddata",
		"pdf.ttf", "eng.user-words", "configs/", "tessconfigs/", "script/Latin.traineddata",
		".traineddata", "dir.traineddata/", "fra.traineddata.bak")
	if err := os.Symlink(filepath.Join(dir, "eng.traineddata"), filepath.Join(dir, "eng_link.traineddata")); err != nil {
		t.Fatal(err)
	}
	got, err := Installed(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := Models{"eng": true, "deu": true, "chi_sim": true, "osd": true, "eng_link": true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Installed() (-want +got):\n%s", diff)
	}

	empty, err := Installed(t.TempDir())
	if err != nil || empty == nil || len(empty) != 0 {
		t.Errorf("Installed(empty dir) = %v, %v; want an empty, non-nil set", empty, err)
	}
	if m, err := Installed(filepath.Join(dir, "missing")); err == nil || !errors.Is(err, os.ErrNotExist) || m != nil {
		t.Errorf("Installed(missing) = %v, %v; want nil and an error wrapping os.ErrNotExist", m, err)
	}
}

func TestFindDir(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	writeFiles(t, root,
		"v5/tessdata/eng.traineddata", // Tesseract 3 style prefix: v5
		"flat/eng.traineddata",        // prefix is the tessdata dir
		"empty/",                      // a directory without models
		"emptytd/tessdata/",           // a parent with an empty tessdata
		"both/eng.traineddata", "both/tessdata/deu.traineddata",
		"std2/", "std3/")
	p := func(s string) string { return filepath.Join(root, s) }
	search := []string{p("nostd"), p("std2"), p("std3")}

	tests := []struct {
		name, prefix string
		search       []string
		want         string
	}{
		{"prefix is tessdata", p("flat"), search, p("flat")},
		{"prefix with trailing slash", p("flat") + "/", search, p("flat")},
		{"prefix named tessdata", p("v5/tessdata"), search, p("v5/tessdata")},
		{"prefix is the parent", p("v5"), search, p("v5/tessdata")},
		{"parent with trailing slash", p("v5") + "/", search, p("v5/tessdata")},
		{"models in prefix win", p("both"), search, p("both")},
		{"empty prefix dir", p("empty"), search, p("empty")},
		{"empty tessdata below prefix", p("emptytd"), search, p("emptytd/tessdata")},
		{"missing prefix is not replaced", p("missing"), search, ""},
		{"prefix is a file", p("flat/eng.traineddata"), search, ""},
		{"no prefix: first existing standard dir", "", search, p("std2")},
		{"no prefix, no standard dir", "", []string{p("nostd")}, ""},
	}
	for _, tt := range tests {
		if got := findDir(tt.prefix, tt.search); got != tt.want {
			t.Errorf("%s: findDir(%q) = %q, want %q", tt.name, tt.prefix, got, tt.want)
		}
	}
}

func TestDefaultDir(t *testing.T) {
	// Not parallel: it sets TESSDATA_PREFIX.
	dir := t.TempDir()
	writeFiles(t, dir, "tessdata/eng.traineddata")
	t.Setenv("TESSDATA_PREFIX", dir)
	if got, want := DefaultDir(), filepath.Join(dir, "tessdata"); got != want {
		t.Errorf("DefaultDir() = %q, want %q", got, want)
	}
	t.Setenv("TESSDATA_PREFIX", "")
	got := DefaultDir()
	if got != "" && !slices.Contains(searchDirs, got) {
		t.Errorf("DefaultDir() without TESSDATA_PREFIX = %q, want one of %q or \"\"", got, searchDirs)
	}
}

// FuzzModel checks that Model never panics, that success means a model of
// the table, that case and '_' do not matter, and that failures are
// *HintError values wrapping ErrMalformed or ErrUnknown.
func FuzzModel(f *testing.F) {
	for _, s := range []string{"en", "en-US", "zh-Hant-TW", "en-t-i0-handwrit", "sr_Latn", "x-a", "en-x", "de-Latf",
		"zh-yue-HK", "en-a-b", "", "-", "__", "é", "en-US-u-ca-gregory-x-1-2"} {
		f.Add(s)
	}
	names := map[string]bool{}
	for _, r := range table {
		names[r.name] = true
	}
	f.Fuzz(func(t *testing.T, tag string) {
		got, err := Model(tag)
		if err != nil {
			var he *HintError
			if got != "" || !errors.As(err, &he) || !(errors.Is(err, ErrMalformed) || errors.Is(err, ErrUnknown)) {
				t.Fatalf("Model(%q) = %q, %v", tag, got, err)
			}
			_ = err.Error()
			return
		}
		if !names[got] {
			t.Fatalf("Model(%q) = %q, not a model of the table", tag, got)
		}
		alt := strings.ReplaceAll(strings.ToUpper(tag), "-", "_")
		if got2, err := Model(alt); got2 != got || err != nil {
			t.Fatalf("Model(%q) = %q, %v; Model(%q) = %q", alt, got2, err, tag, got)
		}
	})
}

func TestCode(t *testing.T) {
	for model, want := range map[string]string{
		"eng": "en", "deu": "de", "chi_sim": "zh", "chi_tra": "zh-Hant", "jpn_vert": "ja", "heb": "iw",
		"srp": "sr", "srp_latn": "sr-Latn", "frk": "de-Latf", "nor": "no", "osd": "", "ita_old": "", "": "", "xyz": "",
	} {
		if got := Code(model); got != want {
			t.Errorf("Code(%q) = %q, want %q", model, got, want)
		}
	}
}
