package lang

import "strings"

// maxTagLen bounds the length of a tag the parser looks at. The longest
// useful hint ("zh-Hant-TW-t-i0-handwrit") is far shorter; anything longer is
// rejected as malformed before it is split.
const maxTagLen = 64

// tag holds the subtags of a BCP-47 language tag that select a Tesseract
// model, normalised: lang and extlang lower case, script title case
// ("Hant"), region upper case ("TW"). Variants, extensions such as Vision's
// "-t-i0-handwrit" and private-use subtags are checked for form and dropped.
type tag struct {
	lang    string // primary language subtag: "en", "zh", "fil"
	extlang string // extended language subtags joined with '-': "yue"; usually empty
	script  string // ISO 15924 script: "Hans", "Latn"; empty if absent
	region  string // ISO 3166 region or UN M.49 area: "TW", "419"; empty if absent
}

// parseTag parses s as a well-formed BCP-47 language tag (RFC 5646 section
// 2.1, langtag production), case-insensitively and with '_' accepted as
// '-'. It reports false for anything else, including the grandfathered
// irregular tags ("i-klingon") and tags made only of private-use subtags
// ("x-foo"), which name no language Tesseract has a model for.
func parseTag(s string) (tag, bool) {
	if s == "" || len(s) > maxTagLen {
		return tag{}, false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlpha(c) && !isDigit(c) && c != '-' && c != '_' {
			return tag{}, false
		}
	}
	parts := strings.Split(strings.ToLower(strings.ReplaceAll(s, "_", "-")), "-")
	for _, p := range parts {
		if p == "" || len(p) > 8 {
			return tag{}, false
		}
	}

	var t tag
	// language = 2*3ALPHA ["-" extlang] / 4ALPHA / 5*8ALPHA
	if p := parts[0]; len(p) < 2 || !allAlpha(p) {
		return tag{}, false
	}
	t.lang, parts = parts[0], parts[1:]
	// extlang = 3ALPHA *2("-" 3ALPHA), only after a 2- or 3-letter language.
	if len(t.lang) <= 3 {
		var ext []string
		for len(parts) > 0 && len(ext) < 3 && len(parts[0]) == 3 && allAlpha(parts[0]) {
			ext, parts = append(ext, parts[0]), parts[1:]
		}
		t.extlang = strings.Join(ext, "-")
	}
	// script = 4ALPHA
	if len(parts) > 0 && len(parts[0]) == 4 && allAlpha(parts[0]) {
		t.script, parts = strings.ToUpper(parts[0][:1])+parts[0][1:], parts[1:]
	}
	// region = 2ALPHA / 3DIGIT
	if len(parts) > 0 && (len(parts[0]) == 2 && allAlpha(parts[0]) || len(parts[0]) == 3 && allDigit(parts[0])) {
		t.region, parts = strings.ToUpper(parts[0]), parts[1:]
	}
	// variant = 5*8alphanum / (DIGIT 3alphanum)
	for len(parts) > 0 && (len(parts[0]) >= 5 || len(parts[0]) == 4 && isDigit(parts[0][0])) {
		parts = parts[1:]
	}
	// extension = singleton 1*("-" (2*8alphanum)); singleton is not "x".
	for len(parts) > 0 && len(parts[0]) == 1 && parts[0] != "x" {
		n := 1
		for n < len(parts) && len(parts[n]) >= 2 {
			n++
		}
		if n == 1 {
			return tag{}, false
		}
		parts = parts[n:]
	}
	// privateuse = "x" 1*("-" (1*8alphanum)), last.
	if len(parts) > 0 && parts[0] == "x" {
		if len(parts) == 1 {
			return tag{}, false
		}
		parts = nil
	}
	if len(parts) > 0 {
		return tag{}, false
	}
	return t, true
}

// isAlpha reports whether c is an ASCII letter.
func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// isDigit reports whether c is an ASCII digit.
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// allAlpha reports whether s is made of ASCII letters only.
func allAlpha(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isAlpha(s[i]) {
			return false
		}
	}
	return true
}

// allDigit reports whether s is made of ASCII digits only.
func allDigit(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}
