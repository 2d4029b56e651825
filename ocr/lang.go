package ocr

import (
	"cmp"
	"slices"
	"strings"
	"unicode"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
)

// models holds, per Tesseract model name, the language code Vision reports
// for it (BCP-47, with Vision's own choices: "iw" for Hebrew, "zh" for
// Simplified Chinese) and the OSD script that selects it when no language
// is requested. This is the one table of language names in the package.
var models = map[string]struct{ code, script string }{
	"eng":     {"en", ""},
	"deu":     {"de", ""},
	"fra":     {"fr", ""},
	"spa":     {"es", ""},
	"ita":     {"it", ""},
	"por":     {"pt", ""},
	"nld":     {"nl", ""},
	"pol":     {"pl", ""},
	"swe":     {"sv", ""},
	"dan":     {"da", ""},
	"nor":     {"no", ""},
	"fin":     {"fi", ""},
	"ces":     {"cs", ""},
	"hun":     {"hu", ""},
	"ron":     {"ro", ""},
	"tur":     {"tr", ""},
	"vie":     {"vi", ""},
	"ind":     {"id", ""},
	"rus":     {"ru", "Cyrillic"},
	"ukr":     {"uk", ""},
	"ell":     {"el", "Greek"},
	"ara":     {"ar", "Arabic"},
	"heb":     {"iw", "Hebrew"},
	"hin":     {"hi", "Devanagari"},
	"tha":     {"th", "Thai"},
	"chi_sim": {"zh", "Han"},
	"chi_tra": {"zh-Hant", ""},
	"jpn":     {"ja", "Japanese"},
	"kor":     {"ko", "Hangul"},
}

// languageCode returns the code Vision reports for Tesseract model name m
// ("" if unknown). Vertical-text models ("jpn_vert") count as their
// language.
func languageCode(m string) string {
	return models[strings.TrimSuffix(m, "_vert")].code
}

// scriptModel returns the model to use for text in an OSD script name, ""
// if English should be used.
func scriptModel(script string) string {
	if script == "" || script == "Latin" {
		return ""
	}
	if script == "Katakana" || script == "Hiragana" {
		script = "Japanese"
	}
	for m, v := range models {
		if v.script == script {
			return m
		}
	}
	return ""
}

// setLanguages gives each word with a letter its recognition language
// (langs maps words to Tesseract model names), as detectedLanguages with
// confidence 1, and the page its languages with the share of the page's
// symbols in each as confidence, largest share first. Words without letters
// (numbers, punctuation) get none and count only in the page's total, as in
// Vision's output.
func setLanguages(page *visionpb.Page, langs map[*visionpb.Word]string) {
	counts := map[string]int{}
	total := 0
	for _, b := range page.Blocks {
		for _, p := range b.Paragraphs {
			for _, w := range p.Words {
				total += len(w.Symbols)
				code := languageCode(langs[w])
				if code == "" || !hasLetter(w) {
					continue
				}
				w.Property = &visionpb.TextAnnotation_TextProperty{DetectedLanguages: []*visionpb.TextAnnotation_DetectedLanguage{
					{LanguageCode: code, Confidence: 1},
				}}
				counts[code] += len(w.Symbols)
			}
		}
	}
	if len(counts) == 0 {
		return
	}
	dl := make([]*visionpb.TextAnnotation_DetectedLanguage, 0, len(counts))
	for code, n := range counts {
		dl = append(dl, &visionpb.TextAnnotation_DetectedLanguage{LanguageCode: code, Confidence: float32(n) / float32(total)})
	}
	slices.SortFunc(dl, func(a, b *visionpb.TextAnnotation_DetectedLanguage) int {
		if c := cmp.Compare(b.Confidence, a.Confidence); c != 0 {
			return c
		}
		return strings.Compare(a.LanguageCode, b.LanguageCode)
	})
	page.Property = &visionpb.TextAnnotation_TextProperty{DetectedLanguages: dl}
}

func hasLetter(w *visionpb.Word) bool {
	for _, s := range w.Symbols {
		for _, r := range s.Text {
			if unicode.IsLetter(r) {
				return true
			}
		}
	}
	return false
}
