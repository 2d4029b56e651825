// Package textmetric measures how close extracted or recognised text is to a
// reference, for tests and benchmarks.
package textmetric

import (
	"strings"
	"unicode/utf8"
)

// Normalize collapses every run of whitespace in s to one space and trims
// both ends, so that texts laid out differently compare by content.
func Normalize(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// CER returns the character error rate of got against want: the Levenshtein
// distance between them, counted in runes, divided by the rune length of
// want. Both are compared as given; call Normalize first to ignore layout.
// An empty want gives 0 when got is empty too and 1 otherwise.
func CER(want, got string) float64 {
	n := utf8.RuneCountInString(want)
	if n == 0 {
		if got == "" {
			return 0
		}
		return 1
	}
	return float64(Distance(want, got)) / float64(n)
}

// Distance returns the Levenshtein distance between a and b in runes
// (insertions, deletions and substitutions each cost 1). It uses memory
// linear in the shorter input, and time quadratic only in what lies
// between the longest common prefix and suffix, which do not change the
// distance: texts that nearly match cost little more than reading them.
func Distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	for len(ra) > 0 && len(rb) > 0 && ra[0] == rb[0] {
		ra, rb = ra[1:], rb[1:]
	}
	for len(ra) > 0 && len(rb) > 0 && ra[len(ra)-1] == rb[len(rb)-1] {
		ra, rb = ra[:len(ra)-1], rb[:len(rb)-1]
	}
	if len(ra) < len(rb) {
		ra, rb = rb, ra
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
