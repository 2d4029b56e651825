package store

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

// FuzzParseToken decodes operations.list page tokens, which clients send
// back as they please. A token parses to a cursor whose own token parses
// to the same cursor, and every token List hands out parses back to its
// entry; anything else is an error wrapping ErrInvalidArgument that
// quotes the token, never a panic.
func FuzzParseToken(f *testing.F) {
	for _, e := range []indexEntry{
		{score: 1772366400123456, id: "0123456789abcdef"},
		{score: 0, id: "a"},
		{score: -1, id: "x:y"},
	} {
		f.Add(e.token(), e.score, e.id)
	}
	for _, s := range []string{
		"", "MTc3MjM2NjQwMDEyMzQ1NjowMTIz", "MTc3MjM2NjQwMDEyMzQ1Njo", "not base64!", "OjE", "eDph",
		"MTc3MjM2NjQwMDEyMzQ1NjowMTIz==", "OTIyMzM3MjAzNjg1NDc3NTgwODph", "MQ", "Kzc6YQ",
	} {
		f.Add(s, int64(1), "id")
	}
	f.Fuzz(func(t *testing.T, token string, score int64, id string) {
		if id != "" {
			e := indexEntry{score: score, id: id}
			got, err := parseToken(e.token())
			if err != nil || got == nil || *got != e {
				t.Fatalf("entry %+v: token %q parses to %+v, %v", e, e.token(), got, err)
			}
		}

		got, err := parseToken(token)
		switch {
		case err != nil:
			if !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("parseToken(%q): %v does not wrap ErrInvalidArgument", token, err)
			}
			if !strings.Contains(err.Error(), strconv.Quote(token)) {
				t.Fatalf("parseToken(%q): %v does not quote the token", token, err)
			}
		case token == "":
			if got != nil {
				t.Fatalf("parseToken(\"\") = %+v, want the start", got)
			}
		default:
			if got == nil || got.id == "" {
				t.Fatalf("parseToken(%q) = %+v", token, got)
			}
			again, err := parseToken(got.token())
			if err != nil || *again != *got {
				t.Fatalf("parseToken(%q) = %+v, whose token %q parses to %+v, %v", token, got, got.token(), again, err)
			}
		}
	})
}

// FuzzParseURI splits gs:// URIs as the workers do before reading or
// writing an object. A URI that splits is "gs://" + bucket + "/" + object
// again, both non-empty and the bucket without '/'; one that does not is
// an error quoting it.
func FuzzParseURI(f *testing.F) {
	for _, s := range []string{
		"gs://folio-demo/in/sample.pdf", "gs://b/out/output-1-to-20.json", "gs://b/", "gs://b", "gs:///o",
		"gs://b//o", "s3://b/o", "gs:/b/o", "", "gs://b/\u00e9 \x00.pdf",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		b, o, err := ParseURI(uri)
		if err != nil {
			if b != "" || o != "" || !strings.Contains(err.Error(), "store: ") {
				t.Fatalf("ParseURI(%q) = %q, %q, %v", uri, b, o, err)
			}
			return
		}
		if b == "" || o == "" || strings.Contains(b, "/") || "gs://"+b+"/"+o != uri {
			t.Fatalf("ParseURI(%q) = %q, %q", uri, b, o)
		}
	})
}
