package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/metadata"
)

const secret = "s3cret-0123456789abcdef"

func TestParse(t *testing.T) {
	digest := sha256.Sum256([]byte("other-0123456789abcdef"))
	tests := []struct {
		name, json string
		wantErr    string // substring; "" means valid
	}{
		{"minimal", `{"keys":[{"name":"a","key":"` + secret + `"}]}`, ""},
		{"digest", `{"keys":[{"name":"a","sha256":"` + hex.EncodeToString(digest[:]) + `"}]}`, ""},
		{"policy", `{"keys":[{"name":"a.b-c_1","key":"` + secret + `","inputs":["gs://inb","gs://in2b/scans/"],"outputs":["*"],"requestsPerMinute":5,"pagesInFlight":9}]}`, ""},
		{"not json", `keys: []`, "not valid JSON"},
		{"unknown field", `{"keys":[{"name":"a","key":"` + secret + `","requestsPerMinut":5}]}`, "unknown field"},
		{"no keys", `{"keys":[]}`, "no keys"},
		{"short secret", `{"keys":[{"name":"a","key":"short"}]}`, "at least 16"},
		{"no secret", `{"keys":[{"name":"a"}]}`, "key (the secret) or sha256"},
		{"both", `{"keys":[{"name":"a","key":"` + secret + `","sha256":"00"}]}`, "not both"},
		{"bad digest", `{"keys":[{"name":"a","sha256":"xyz"}]}`, "64 hexadecimal"},
		{"bad name", `{"keys":[{"name":"a b","key":"` + secret + `"}]}`, "name must be"},
		{"duplicate name", `{"keys":[{"name":"a","key":"` + secret + `"},{"name":"a","key":"x` + secret + `"}]}`, "used twice"},
		{"duplicate secret", `{"keys":[{"name":"a","key":"` + secret + `"},{"name":"b","key":"` + secret + `"}]}`, "same secret"},
		{"bad prefix", `{"keys":[{"name":"a","key":"` + secret + `","inputs":["s3://x/"]}]}`, "not gs://bucket/"},
		{"bad bucket", `{"keys":[{"name":"a","key":"` + secret + `","outputs":["gs://B/"]}]}`, "not gs://bucket/"},
		{"empty list", `{"keys":[{"name":"a","key":"` + secret + `","inputs":[]}]}`, "inputs is empty"},
		{"null list", `{"keys":[{"name":"a","key":"` + secret + `","outputs":null}]}`, "outputs must be a list"},
		{"not a list", `{"keys":[{"name":"a","key":"` + secret + `","inputs":"gs://bkt/"}]}`, "inputs must be a list"},
		{"star not alone", `{"keys":[{"name":"a","key":"` + secret + `","inputs":["*","gs://x/"]}]}`, "only entry"},
		{"negative quota", `{"keys":[{"name":"a","key":"` + secret + `","pagesInFlight":-1}]}`, "negative"},
		{"trailing data", `{"keys":[{"name":"a","key":"` + secret + `"}]} {}`, "after the JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kr, err := Parse([]byte(tc.json))
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Parse: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("Parse = %v, want an error containing %q", err, tc.wantErr)
			case err != nil && strings.Contains(err.Error(), secret):
				t.Errorf("the error shows the secret: %v", err)
			case tc.wantErr == "" && kr.Len() == 0:
				t.Error("no keys")
			}
		})
	}
}

func TestParseEnv(t *testing.T) {
	kr, err := ParseEnv(" a:" + secret + ", b:other-0123456789abcdef ")
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := kr.Lookup("other-0123456789abcdef"); !ok || k.Name != "b" || k.Inputs != nil {
		t.Errorf("Lookup = %+v, %v", k, ok)
	}
	if _, err := ParseEnv("just-a-secret-without-name"); err == nil || strings.Contains(err.Error(), "just-a-secret") {
		t.Errorf("ParseEnv without a name = %v, want an error that does not show the entry", err)
	}
	if _, err := ParseEnv(`{"keys":[{"name":"j","key":"` + secret + `"}]}`); err != nil {
		t.Errorf("JSON in API_KEYS: %v", err)
	}
}

func TestLookup(t *testing.T) {
	kr, err := ParseEnv("a:" + secret + ",b:" + secret + "-b")
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]string{secret: "a", secret + "-b": "b", secret[:len(secret)-1]: "", "": "", secret + "x": ""} {
		k, ok := kr.Lookup(in)
		if got := map[bool]string{true: "", false: ""}[ok]; ok {
			got = k.Name
			if got != want {
				t.Errorf("Lookup(%q) = %s, want %q", in, got, want)
			}
		} else if want != "" {
			t.Errorf("Lookup(%q) found nothing, want %s", in, want)
		}
	}
	if k, ok := kr.Named("b"); !ok || k.Name != "b" {
		t.Errorf("Named(b) = %v, %v", k, ok)
	}
}

func TestPolicy(t *testing.T) {
	kr, err := Parse([]byte(`{"keys":[{"name":"a","key":"` + secret + `","inputs":["gs://inb","gs://shared/team-a/"],"outputs":["gs://out/ocr/"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	k, _ := kr.Named("a")
	tests := []struct {
		uri         string
		read, write bool
	}{
		{"gs://inb/x.pdf", true, false},
		{"gs://inb/deep/x.pdf", true, false},
		{"gs://inbox/x.pdf", false, false}, // another bucket sharing a prefix of the name
		{"gs://shared/team-a/x.pdf", true, false},
		{"gs://shared/team-b/x.pdf", false, false},
		{"gs://shared/team-a", false, false}, // the prefix without its slash
		{"gs://out/ocr/", false, true},
		{"gs://out/ocr/doc-", false, true},
		{"gs://out/other/", false, false},
		{"https://inb/x.pdf", false, false},
		{"", false, false},
	}
	for _, tc := range tests {
		if got := k.MayRead(tc.uri); got != tc.read {
			t.Errorf("MayRead(%q) = %v", tc.uri, got)
		}
		if got := k.MayWrite(tc.uri); got != tc.write {
			t.Errorf("MayWrite(%q) = %v", tc.uri, got)
		}
	}
	open, _ := ParseEnv("o:" + secret)
	ko, _ := open.Named("o")
	if !ko.MayRead("gs://any/x") || !ko.MayWrite("gs://any/") || Describe(ko.Inputs) != "any bucket" {
		t.Error("a key without lists must be allowed every bucket")
	}
}

func TestCredentials(t *testing.T) {
	tests := []struct {
		name   string
		target string
		header map[string]string
		want   Credential
	}{
		{"query", "/v1/operations?key=k1", nil, Credential{APIKey, "k1"}},
		{"header", "/", map[string]string{"X-Goog-Api-Key": "k2"}, Credential{APIKey, "k2"}},
		{"bearer", "/", map[string]string{"Authorization": "Bearer  k3 "}, Credential{Bearer, "k3"}},
		{"bearer lowercase", "/", map[string]string{"Authorization": "bearer k4"}, Credential{Bearer, "k4"}},
		{"basic", "/", map[string]string{"Authorization": "Basic dTpw"}, Credential{}},
		{"empty bearer", "/", map[string]string{"Authorization": "Bearer "}, Credential{}},
		{"query wins", "/?key=q", map[string]string{"X-Goog-Api-Key": "h"}, Credential{APIKey, "q"}},
		{"none", "/", nil, Credential{}},
	}
	for _, tc := range tests {
		r := httptest.NewRequest("GET", tc.target, nil)
		for k, v := range tc.header {
			r.Header.Set(k, v)
		}
		if got := FromHTTP(r); got != tc.want {
			t.Errorf("%s: FromHTTP = %+v, want %+v", tc.name, got, tc.want)
		}
	}
	md := metadata.Pairs("authorization", "Bearer g1")
	if got := FromMetadata(metadata.NewIncomingContext(context.Background(), md)); got != (Credential{Bearer, "g1"}) {
		t.Errorf("FromMetadata(bearer) = %+v", got)
	}
	md = metadata.Pairs("x-goog-api-key", "g2", "authorization", "Bearer g1")
	if got := FromMetadata(metadata.NewIncomingContext(context.Background(), md)); got != (Credential{APIKey, "g2"}) {
		t.Errorf("FromMetadata(api key) = %+v", got)
	}
	if got := FromMetadata(context.Background()); got != (Credential{}) {
		t.Errorf("FromMetadata(none) = %+v", got)
	}
}

func TestLoad(t *testing.T) {
	if s, err := Load("", ""); s != nil || err != nil {
		t.Errorf("Load(off) = %v, %v", s, err)
	}
	path := filepath.Join(t.TempDir(), "keys.json")
	if _, err := Load("a:"+secret, path); err == nil {
		t.Error("both API_KEYS and API_KEYS_FILE: no error")
	}
	if _, err := Load("", path); err == nil || !strings.Contains(err.Error(), "API_KEYS_FILE") {
		t.Errorf("a missing file: %v", err)
	}
	if err := os.WriteFile(path, []byte(`{"keys":[{"name":"a","key":"`+secret+`"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Load("", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Keyring().Lookup(secret); !ok {
		t.Error("the file's key is not found")
	}
	// reload keeps the last good keys when the file breaks.
	if err := os.WriteFile(path, []byte(`{"keys":[`), 0o600); err != nil {
		t.Fatal(err)
	}
	if changed, err := s.reload(); changed || err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("reload of a broken file = %v, %v", changed, err)
	}
	if _, ok := s.Keyring().Lookup(secret); !ok {
		t.Error("a broken file dropped the keys")
	}
	if changed, _ := s.reload(); changed {
		t.Error("reload of the same content reports a change")
	}
	// Refresh reads an edited file at once.
	if err := os.WriteFile(path, []byte(`{"keys":[{"name":"b","key":"b-`+secret+`"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Refresh().Lookup("b-" + secret); !ok {
		t.Error("Refresh did not read the edited file")
	}
	if _, ok := s.Refresh().Lookup(secret); ok {
		t.Error("a removed key is still found")
	}
	// Removing the last key, or the file, revokes every key.
	if err := os.WriteFile(path, []byte(`{"keys":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if changed, err := s.reload(); !changed || err != nil || s.Keyring().Len() != 0 {
		t.Errorf("reload of an empty list = %v, %v, %d keys; want no keys", changed, err, s.Keyring().Len())
	}
	if err := os.WriteFile(path, []byte(`{"keys":[{"name":"b","key":"b-`+secret+`"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.reload(); err != nil || s.Keyring().Len() != 1 {
		t.Fatalf("reload: %v", err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if changed, err := s.reload(); !changed || err == nil || s.Keyring().Len() != 0 {
		t.Errorf("reload of a removed file = %v, %v, %d keys; want no keys and an error", changed, err, s.Keyring().Len())
	}
}

// BenchmarkLookup is the cost a key check adds to every call.
func BenchmarkLookup(b *testing.B) {
	var pairs []string
	for i := range 100 {
		pairs = append(pairs, "k"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+hex.EncodeToString([]byte{byte(i)})+":secret-number-"+hex.EncodeToString([]byte{byte(i), 1, 2, 3, 4, 5, 6, 7}))
	}
	kr, err := ParseEnv(strings.Join(pairs, ","))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		kr.Lookup("secret-number-3f01020304050607")
	}
}

func TestCheck(t *testing.T) {
	kr, err := Parse([]byte(`{"keys":[{"name":"a","key":"` + secret + `","inputs":["gs://inb/"],"outputs":["gs://out/ocr/"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	s := Static(kr)
	for _, tc := range []struct {
		owner    string
		accesses []Access
		want     string // "" means allowed
	}{
		{"a", []Access{{URI: "gs://inb/x.pdf"}, {URI: "gs://out/ocr/", Write: true}, {URI: ""}}, ""},
		{"a", []Access{{Field: "requests[0].inputConfig.gcsSource.uri", URI: "gs://other/x.pdf"}},
			`requests[0].inputConfig.gcsSource.uri: API key "a" may not read gs://other/x.pdf (it may read gs://inb/)`},
		{"a", []Access{{URI: "gs://inb/out/", Write: true}}, `API key "a" may not write to gs://inb/out/ (it may write to gs://out/ocr/)`},
		{"gone", nil, `API key "gone" that created the operation no longer exists`},
	} {
		err := s.Check(tc.owner, tc.accesses)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("Check(%s, %v) = %v", tc.owner, tc.accesses, err)
		case tc.want != "" && (err == nil || err.Error() != tc.want):
			t.Errorf("Check(%s, %v) = %v, want %q", tc.owner, tc.accesses, err, tc.want)
		}
	}
}
