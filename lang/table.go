package lang

import "strings"

// row is one line of [table]: a Tesseract model and the language tags that
// select it, as space-separated lists.
type row struct {
	// name is the model's name: the traineddata file's base name, as passed
	// to Tesseract's -l.
	name string
	// langs are the BCP-47 primary language subtags, lower case, that select
	// the model, deprecated ones Vision still accepts ("iw", "in", "ji")
	// included. The first is the code Vision reports (see [Code]). Empty for models no tag selects (vertical text, historic
	// orthographies, osd): they are listed because they are installable.
	langs string
	// scripts are the ISO 15924 script subtags the model reads. A tag with a
	// script subtag selects the first model of its language that lists it;
	// a tag without one selects the language's first model in [table].
	scripts string
	// regions, if set, select this model over the language's first one for
	// tags without a script subtag ("zh-TW" reads Traditional Chinese).
	regions string
}

// table lists every model Tesseract 5 ships (tessdata, tessdata_fast,
// tessdata_best; the Debian packages tesseract-ocr-<name with '-' for '_'>),
// in the order of their names. Where one language has several models, the
// first one is its default.
var table = []row{
	{"afr", "af", "Latn", ""},                // Afrikaans
	{"amh", "am", "Ethi", ""},                // Amharic
	{"ara", "ar", "Arab", ""},                // Arabic
	{"asm", "as", "Beng", ""},                // Assamese
	{"aze", "az", "Latn", ""},                // Azerbaijani
	{"aze_cyrl", "az", "Cyrl", ""},           // Azerbaijani (Cyrillic)
	{"bel", "be", "Cyrl", ""},                // Belarusian
	{"ben", "bn", "Beng", ""},                // Bengali
	{"bod", "bo", "Tibt", ""},                // Tibetan
	{"bos", "bs", "Latn", ""},                // Bosnian
	{"bre", "br", "Latn", ""},                // Breton
	{"bul", "bg", "Cyrl", ""},                // Bulgarian
	{"cat", "ca", "Latn", ""},                // Catalan
	{"ceb", "ceb", "Latn", ""},               // Cebuano
	{"ces", "cs", "Latn", ""},                // Czech
	{"chi_sim", "zh", "Hans", ""},            // Chinese, Simplified
	{"chi_sim_vert", "", "", ""},             // Chinese, Simplified, vertical
	{"chi_tra", "zh", "Hant", "TW HK MO"},    // Chinese, Traditional
	{"chi_tra_vert", "", "", ""},             // Chinese, Traditional, vertical
	{"chr", "chr", "Cher", ""},               // Cherokee
	{"cos", "co", "Latn", ""},                // Corsican
	{"cym", "cy", "Latn", ""},                // Welsh
	{"dan", "da", "Latn", ""},                // Danish
	{"deu", "de", "Latn", ""},                // German
	{"div", "dv", "Thaa", ""},                // Divehi
	{"dzo", "dz", "Tibt", ""},                // Dzongkha
	{"ell", "el", "Grek", ""},                // Greek
	{"eng", "en", "Latn", ""},                // English
	{"enm", "enm", "Latn", ""},               // English, Middle (1100-1500)
	{"epo", "eo", "Latn", ""},                // Esperanto
	{"est", "et", "Latn", ""},                // Estonian
	{"eus", "eu", "Latn", ""},                // Basque
	{"fao", "fo", "Latn", ""},                // Faroese
	{"fas", "fa", "Arab", ""},                // Persian
	{"fil", "fil tl", "Latn", ""},            // Filipino (Tagalog)
	{"fin", "fi", "Latn", ""},                // Finnish
	{"fra", "fr", "Latn", ""},                // French
	{"frk", "de", "Latf", ""},                // German, Fraktur ("de-Latf")
	{"frm", "frm", "Latn", ""},               // French, Middle (ca. 1400-1600)
	{"fry", "fy", "Latn", ""},                // Western Frisian
	{"gla", "gd", "Latn", ""},                // Scottish Gaelic
	{"gle", "ga", "Latn", ""},                // Irish
	{"glg", "gl", "Latn", ""},                // Galician
	{"grc", "grc", "Grek", ""},               // Greek, Ancient (to 1453)
	{"guj", "gu", "Gujr", ""},                // Gujarati
	{"hat", "ht", "Latn", ""},                // Haitian
	{"heb", "iw he", "Hebr", ""},             // Hebrew ("iw" first: Vision reports it)
	{"hin", "hi", "Deva", ""},                // Hindi
	{"hrv", "hr", "Latn", ""},                // Croatian
	{"hun", "hu", "Latn", ""},                // Hungarian
	{"hye", "hy", "Armn", ""},                // Armenian
	{"iku", "iu", "Cans", ""},                // Inuktitut
	{"ind", "id in", "Latn", ""},             // Indonesian
	{"isl", "is", "Latn", ""},                // Icelandic
	{"ita", "it", "Latn", ""},                // Italian
	{"ita_old", "", "", ""},                  // Italian, Old
	{"jav", "jv", "Latn", ""},                // Javanese
	{"jpn", "ja", "Jpan Hrkt Hira Kana", ""}, // Japanese
	{"jpn_vert", "", "", ""},                 // Japanese, vertical
	{"kan", "kn", "Knda", ""},                // Kannada
	{"kat", "ka", "Geor", ""},                // Georgian
	{"kat_old", "", "", ""},                  // Georgian, Old
	{"kaz", "kk", "Cyrl", ""},                // Kazakh
	{"khm", "km", "Khmr", ""},                // Khmer
	{"kir", "ky", "Cyrl", ""},                // Kyrgyz
	{"kmr", "kmr ku", "Latn", ""},            // Kurmanji (Latin)
	{"kor", "ko", "Kore Hang", ""},           // Korean
	{"kor_vert", "", "", ""},                 // Korean, vertical
	{"lao", "lo", "Laoo", ""},                // Lao
	{"lat", "la", "Latn", ""},                // Latin
	{"lav", "lv", "Latn", ""},                // Latvian
	{"lit", "lt", "Latn", ""},                // Lithuanian
	{"ltz", "lb", "Latn", ""},                // Luxembourgish
	{"mal", "ml", "Mlym", ""},                // Malayalam
	{"mar", "mr", "Deva", ""},                // Marathi
	{"mkd", "mk", "Cyrl", ""},                // Macedonian
	{"mlt", "mt", "Latn", ""},                // Maltese
	{"mon", "mn", "Cyrl", ""},                // Mongolian
	{"mri", "mi", "Latn", ""},                // Maori
	{"msa", "ms", "Latn", ""},                // Malay
	{"mya", "my", "Mymr", ""},                // Burmese
	{"nep", "ne", "Deva", ""},                // Nepali
	{"nld", "nl", "Latn", ""},                // Dutch
	{"nor", "no nb nn", "Latn", ""},          // Norwegian
	{"oci", "oc", "Latn", ""},                // Occitan (post 1500)
	{"ori", "or", "Orya", ""},                // Odia
	{"osd", "", "", ""},                      // orientation and script detection
	{"pan", "pa", "Guru", ""},                // Punjabi (Gurmukhi)
	{"pol", "pl", "Latn", ""},                // Polish
	{"por", "pt", "Latn", ""},                // Portuguese
	{"pus", "ps", "Arab", ""},                // Pashto
	{"que", "qu", "Latn", ""},                // Quechua
	{"ron", "ro mo", "Latn", ""},             // Romanian
	{"rus", "ru", "Cyrl", ""},                // Russian
	{"san", "sa", "Deva", ""},                // Sanskrit
	{"sin", "si", "Sinh", ""},                // Sinhala
	{"slk", "sk", "Latn", ""},                // Slovak
	{"slv", "sl", "Latn", ""},                // Slovenian
	{"snd", "sd", "Arab", ""},                // Sindhi
	{"spa", "es", "Latn", ""},                // Spanish
	{"spa_old", "", "", ""},                  // Spanish, Old
	{"sqi", "sq", "Latn", ""},                // Albanian
	{"srp", "sr", "Cyrl", ""},                // Serbian (Cyrillic)
	{"srp_latn", "sr", "Latn", ""},           // Serbian (Latin)
	{"sun", "su", "Latn", ""},                // Sundanese
	{"swa", "sw", "Latn", ""},                // Swahili
	{"swe", "sv", "Latn", ""},                // Swedish
	{"syr", "syr", "Syrc", ""},               // Syriac
	{"tam", "ta", "Taml", ""},                // Tamil
	{"tat", "tt", "Cyrl", ""},                // Tatar
	{"tel", "te", "Telu", ""},                // Telugu
	{"tgk", "tg", "Cyrl", ""},                // Tajik
	{"tha", "th", "Thai", ""},                // Thai
	{"tir", "ti", "Ethi", ""},                // Tigrinya
	{"ton", "to", "Latn", ""},                // Tongan
	{"tur", "tr", "Latn", ""},                // Turkish
	{"uig", "ug", "Arab", ""},                // Uyghur
	{"ukr", "uk", "Cyrl", ""},                // Ukrainian
	{"urd", "ur", "Arab", ""},                // Urdu
	{"uzb", "uz", "Latn", ""},                // Uzbek (Latin)
	{"uzb_cyrl", "uz", "Cyrl", ""},           // Uzbek (Cyrillic)
	{"vie", "vi", "Latn", ""},                // Vietnamese
	{"yid", "yi ji", "Hebr", ""},             // Yiddish
	{"yor", "yo", "Latn", ""},                // Yoruba
}

// model is a [row] with its lists split.
type model struct {
	name    string
	scripts []string
	regions []string
}

// byLang indexes [table] by primary language subtag, in table order.
var byLang = func() map[string][]model {
	idx := make(map[string][]model)
	for _, r := range table {
		m := model{name: r.name, scripts: strings.Fields(r.scripts), regions: strings.Fields(r.regions)}
		for _, l := range strings.Fields(r.langs) {
			idx[l] = append(idx[l], m)
		}
	}
	return idx
}()

// codes maps model names to the language codes [Code] returns.
var codes = func() map[string]string {
	m := make(map[string]string)
	for _, r := range table {
		langs := strings.Fields(r.langs)
		if len(langs) == 0 {
			continue
		}
		code := langs[0]
		// A model other than its language's default reads another script
		// of it: the code says which ("zh-Hant", "sr-Latn").
		if def := byLang[langs[0]]; len(def) > 0 && def[0].name != r.name && r.scripts != "" {
			code += "-" + strings.Fields(r.scripts)[0]
		}
		m[r.name] = code
	}
	return m
}()

// Code returns the language code Vision reports for text that the
// Tesseract model named model read: the model's first tag ("deu" → "de",
// "heb" → "iw"), with the script for a language's second written form
// ("chi_tra" → "zh-Hant", "srp_latn" → "sr-Latn"). A vertical-text model
// counts as its language ("jpn_vert" → "ja"). It returns "" for models no
// tag selects (osd, historic orthographies) and for unknown names.
func Code(model string) string {
	return codes[strings.TrimSuffix(model, "_vert")]
}
