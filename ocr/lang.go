package ocr

import (
	"cmp"
	"slices"
	"strings"
	"unicode"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"

	"github.com/folio-ocr/folio/lang"
)

// scriptModels maps the non-Latin scripts Tesseract's orientation and
// script detection names to the model that reads them when no language is
// requested.
var scriptModels = map[string]string{
	"Cyrillic":   "rus",
	"Greek":      "ell",
	"Arabic":     "ara",
	"Hebrew":     "heb",
	"Devanagari": "hin",
	"Thai":       "tha",
	"Han":        "chi_sim",
	"Japanese":   "jpn",
	"Katakana":   "jpn",
	"Hiragana":   "jpn",
	"Hangul":     "kor",
}

// scriptModel returns the model to use for text in an OSD script name, ""
// if English should be used.
func scriptModel(script string) string {
	return scriptModels[script]
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
				code := lang.Code(langs[w])
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
