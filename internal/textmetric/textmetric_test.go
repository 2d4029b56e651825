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
