package auth

import (
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// FuzzParse reads keys files: no panic; an accepted file's keys have valid
// names and normalized prefixes; an error never shows a secret.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"keys":[{"name":"a","key":"` + secret + `","inputs":["gs://bkt"],"outputs":["gs://bkt/out/"],"requestsPerMinute":5}]}`))
	f.Add([]byte(`{"keys":[{"name":"a","sha256":"` + strings.Repeat("ab", 32) + `","inputs":["*"]}]}`))
	f.Add([]byte(`{"keys":[{"name":"a b","key":"short","inputs":null}]}`))
	f.Add([]byte(`{"keys":[]}`))
	f.Add([]byte(`a:` + secret + `,b:x`))
	f.Fuzz(func(t *testing.T, data []byte) {
		kr, err := ParseEnv(string(data))
		if err != nil {
			var doc struct {
				Keys []struct{ Key string } `json:"keys"`
			}
			_ = json.Unmarshal(data, &doc)
			for _, k := range doc.Keys {
				// json names an unknown field, which may be spelt like
				// a secret; values are never shown.
				if len(k.Key) >= 8 && strings.Contains(err.Error(), k.Key) && !strings.Contains(err.Error(), "unknown field") {
					t.Fatalf("error shows a secret: %v", err)
				}
			}
			return
		}
		for _, k := range kr.keys {
			if !nameRE.MatchString(k.Name) {
				t.Fatalf("accepted name %q", k.Name)
			}
			if got, ok := kr.Named(k.Name); !ok || got != k {
				t.Fatalf("Named(%q) = %v", k.Name, got)
			}
			for _, p := range append(append([]string{}, k.Inputs...), k.Outputs...) {
				if p != AnyURI && (!strings.HasPrefix(p, "gs://") || !strings.Contains(p[len("gs://"):], "/")) {
					t.Fatalf("prefix %q is not normalized", p)
				}
			}
		}
	})
}

// FuzzPolicy checks a one-prefix allowlist against URIs: allowed exactly
// when the URI starts with the normalized prefix, never in another bucket.
func FuzzPolicy(f *testing.F) {
	f.Add("gs://bkt", "gs://bkt/x.pdf")
	f.Add("gs://bkt", "gs://bkt2/x.pdf")
	f.Add("gs://bkt/in/", "gs://bkt/in/../x")
	f.Add("gs://bkt/in", "gs://bkt/inside/x")
	f.Add("*", "https://x/y")
	f.Fuzz(func(t *testing.T, prefix, uri string) {
		raw, _ := json.Marshal([]string{prefix})
		ps, err := prefixes("inputs", raw)
		if err != nil {
			return
		}
		k := &Key{Name: "k", Inputs: ps}
		got := k.MayRead(uri)
		if ps[0] == AnyURI {
			if got != strings.HasPrefix(uri, "gs://") {
				t.Fatalf("%q allows %q: %v", prefix, uri, got)
			}
			return
		}
		want := strings.HasPrefix(uri, ps[0])
		if got != want {
			t.Fatalf("%q (as %q) allows %q: %v, want %v", prefix, ps[0], uri, got, want)
		}
		pb, _, _ := strings.Cut(strings.TrimPrefix(ps[0], "gs://"), "/")
		ub, _, _ := strings.Cut(strings.TrimPrefix(uri, "gs://"), "/")
		if got && pb != ub {
			t.Fatalf("%q allows %q, in bucket %q", prefix, uri, ub)
		}
	})
}

// FuzzCredential reads credentials from a query and headers: a credential
// found is never empty nor padded with spaces.
func FuzzCredential(f *testing.F) {
	f.Add("key=abc", "", "Bearer tok")
	f.Add("", "k", "")
	f.Add("key=%20", "", "bearer   ")
	f.Add("", "", "Basic dTpw")
	f.Fuzz(func(t *testing.T, query, apiKey, authz string) {
		r := httptest.NewRequest("GET", "/v1/operations", nil)
		r.URL.RawQuery = query
		if apiKey != "" {
			r.Header["X-Goog-Api-Key"] = []string{apiKey}
		}
		if authz != "" {
			r.Header["Authorization"] = []string{authz}
		}
		c := FromHTTP(r)
		switch c.Kind {
		case None:
			if c.Secret != "" {
				t.Fatalf("no credential with a secret: %+v", c)
			}
		case Bearer:
			if c.Secret == "" || strings.TrimSpace(c.Secret) != c.Secret {
				t.Fatalf("bearer %q from %q", c.Secret, authz)
			}
		case APIKey:
			q, _ := url.ParseQuery(query)
			if c.Secret == "" || (c.Secret != q.Get("key") && c.Secret != apiKey) {
				t.Fatalf("API key %q from query %q, header %q", c.Secret, query, apiKey)
			}
		}
	})
}
