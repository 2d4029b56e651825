package pdfgen

import (
	"bytes"
	"compress/zlib"
	"io"
	"testing"
)

// flateRepeat's stream inflates, checksum included, to the pattern
// repeated, whatever the pattern's length and the remainder.
func TestFlateRepeat(t *testing.T) {
	for _, tc := range []struct {
		pattern string
		n       int64
	}{
		{"\x00", 1}, {"\x00", 100_000}, {"ab", 1001}, {"(x) Tj ", 7 * 5000}, {"\xff\x90\x00", 3 * 777},
		{string(bytes.Repeat([]byte("0123456789"), 300)), 3000 * 40},
	} {
		zr, err := zlib.NewReader(bytes.NewReader(flateRepeat([]byte(tc.pattern), tc.n)))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(zr)
		if err != nil {
			t.Errorf("%q×%d: inflate: %v", tc.pattern[:min(len(tc.pattern), 8)], tc.n, err)
			continue
		}
		n := tc.n - tc.n%int64(len(tc.pattern))
		if want := bytes.Repeat([]byte(tc.pattern), int(n)/len(tc.pattern)); !bytes.Equal(got, want) {
			t.Errorf("%q×%d: inflates to %d bytes, not the pattern repeated to %d", tc.pattern[:min(len(tc.pattern), 8)], tc.n, len(got), n)
		}
	}
}

func TestFlateBombSize(t *testing.T) {
	if s := FlateBomb([]byte{0}, 4<<30, ""); len(s) > 64<<10 {
		t.Errorf("a 4 GB bomb takes %d bytes, want under 64 KB", len(s))
	}
}
