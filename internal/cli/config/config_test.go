package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "folio", "config")
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte("# mine\nFOLIO_ENDPOINT = localhost:8081\nFOLIO_BUCKET='scans'\n\nFOLIO_API_KEY=\"k\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("FOLIO_BUKET=x\nnonsense\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		env     map[string]string
		want    Config
		wantErr []string
	}{
		{name: "defaults", env: map[string]string{"HOME": t.TempDir()},
			want: Config{Endpoint: DefaultEndpoint, Prefix: DefaultPrefix}},
		{name: "file", env: map[string]string{"XDG_CONFIG_HOME": dir},
			want: Config{Endpoint: "localhost:8081", Bucket: "scans", APIKey: "k", Prefix: DefaultPrefix, File: file}},
		{name: "environment wins over the file", env: map[string]string{"XDG_CONFIG_HOME": dir, "FOLIO_BUCKET": "other", "FOLIO_TRANSPORT": "rest"},
			want: Config{Endpoint: "localhost:8081", Transport: "rest", Bucket: "other", APIKey: "k", Prefix: DefaultPrefix, File: file}},
		{name: "bad file", env: map[string]string{"FOLIO_CONFIG": bad},
			wantErr: []string{"line 1 sets FOLIO_BUKET", "line 2 is not KEY=value"}},
		{name: "FOLIO_CONFIG missing", env: map[string]string{"FOLIO_CONFIG": filepath.Join(dir, "none")}, wantErr: []string{"no such file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Load(func(k string) string { return tt.env[k] })
			for _, w := range tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("error %v, want one containing %q", err, w)
				}
			}
			if tt.wantErr != nil {
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}
