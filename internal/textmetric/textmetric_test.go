package textmetric

import (
	"math"
	"testing"
)

func TestCER(t *testing.T) {
	tests := []struct {
		name      string
		want, got string
		cer       float64
	}{
		{"equal", "hello", "hello", 0},
		{"empty both", "", "", 0},
		{"empty want", "", "x", 1},
		{"substitution", "abcd", "abxd", 0.25},
		{"insertion", "abcd", "abcde", 0.25},
		{"deletion", "abcd", "abc", 0.25},
		{"runes not bytes", "שלום", "שלוס", 0.25},
		{"all wrong", "ab", "", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CER(tt.want, tt.got); math.Abs(got-tt.cer) > 1e-9 {
				t.Errorf("CER(%q, %q) = %v, want %v", tt.want, tt.got, got, tt.cer)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	if got, want := Normalize("  a\n\tb   c\r\n"), "a b c"; got != want {
		t.Errorf("Normalize = %q, want %q", got, want)
	}
}

// naiveDistance is the textbook Levenshtein distance over a full table, the
// reference for Distance's shortcuts.
func naiveDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
		}
	}
	return d[len(ra)][len(rb)]
}

func TestDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"abc", "", 3},
		{"", "abc", 3},
		{"kitten", "sitting", 3},
		{"the same text", "the same text", 0},
		{"prefix then a change here and the same suffix", "prefix then an edit here and the same suffix", 7},
		{"aaaa", "aa", 2},
		{"abab", "baba", 2},
		{"𝑎😀 wide", "𝑎 wide", 1},
	}
	for _, tt := range tests {
		if got := Distance(tt.a, tt.b); got != tt.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := naiveDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("naiveDistance(%q, %q) = %d, want %d (the test's own reference)", tt.a, tt.b, got, tt.want)
		}
	}
}

// FuzzDistance: trimming the common prefix and suffix never changes the
// distance.
func FuzzDistance(f *testing.F) {
	f.Add("kitten", "sitting")
	f.Add("aaab", "aab")
	f.Add("abcabc", "abc")
	f.Fuzz(func(t *testing.T, a, b string) {
		if len(a) > 64 || len(b) > 64 {
			return
		}
		if got, want := Distance(a, b), naiveDistance(a, b); got != want {
			t.Fatalf("Distance(%q, %q) = %d, want %d", a, b, got, want)
		}
	})
}
