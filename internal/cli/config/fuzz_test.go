package config

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
)

// FuzzParse reads config files. Every key it returns is a setting; the
// settings written back one `KEY="value"` a line parse to the same
// values without error; every problem is a sentence naming its line.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"FOLIO_ENDPOINT=http://localhost:8080\nFOLIO_BUCKET=my-bucket\n",
		"# folio\n\nFOLIO_TRANSPORT = grpc\nFOLIO_ENDPOINT='folio.example.com:443'\r\nFOLIO_API_KEY=\"k=v\"\n",
		"FOLIO_PREFIX=\"\"\nFOLIO_PREFIX=\"\nFOLIO_PREFIX='a\"\n",
		"FOLIO_BUCKET\nOTHER=1\n=\n  # indented comment\n",
		"export FOLIO_BUCKET=b\n", "FOLIO_BUCKET=a=b=c", "\xff=\xfe", strings.Repeat("x", 70000),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		vals, err := Parse(data)
		for k := range vals {
			if !slices.Contains(keys, k) {
				t.Fatalf("Parse returned key %q", k)
			}
		}
		if err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "line ") && !strings.Contains(line, "too long") {
					t.Fatalf("error line %q does not name its line", line)
				}
			}
		}
		var b strings.Builder
		for _, k := range slices.Sorted(maps.Keys(vals)) {
			if strings.ContainsAny(vals[k], "\n\r") {
				t.Fatalf("value of %s spans lines: %q", k, vals[k])
			}
			fmt.Fprintf(&b, "%s=\"%s\"\n", k, vals[k])
		}
		again, err := Parse([]byte(b.String()))
		if err != nil || !maps.Equal(vals, again) {
			t.Fatalf("%q parses as %q; written back as %q it parses as %q, %v", data, vals, b.String(), again, err)
		}
	})
}
