// Package lang maps Cloud Vision language hints, BCP-47 tags such as "en",
// "pt-BR", "zh-Hant" or "en-t-i0-handwrit", to the Tesseract models that
// read them (eng, por, chi_tra, eng) and finds the models installed on a
// host.
//
// # Tags
//
// Tags are matched case-insensitively, with '_' accepted as '-'. The primary
// language subtag and the script subtag select the model: "sr" and "sr-Cyrl"
// read Serbian with srp, "sr-Latn" with srp_latn; "zh" and "zh-Hans" with
// chi_sim, "zh-Hant" with chi_tra. Without a script, a few regions imply one
// ("zh-TW", "zh-HK" and "zh-MO" read Traditional Chinese). Other regions,
// variants and extensions — Vision's handwriting hint "-t-i0-handwrit"
// among them — are checked for form and otherwise ignored. Vision's
// deprecated codes "iw", "in" and "ji" are accepted for Hebrew, Indonesian
// and Yiddish.
//
// # Models
//
// A Tesseract model is a <name>.traineddata file in a tessdata directory
// ([FindDir]); Debian ships each in the package tesseract-ocr-<name>, with
// '-' for '_' ([Package]). [Resolve] turns the hints of one request into the
// language string Tesseract takes ("deu+eng").
//
// # Errors
//
// [Model] and [Resolve] report each unusable hint as a *[HintError] that
// wraps [ErrMalformed], [ErrUnknown] or [ErrNotInstalled].
package lang

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	grpccodes "google.golang.org/grpc/codes"

	"github.com/folio-ocr/folio/rpcerr"
)

var (
	// ErrMalformed means a hint is not a well-formed BCP-47 language tag.
	ErrMalformed = rpcerr.Sentinel(grpccodes.InvalidArgument, "lang: malformed language tag")
	// ErrUnknown means a hint is a well-formed tag, but no Tesseract model
	// reads its language in its script.
	ErrUnknown = rpcerr.Sentinel(grpccodes.InvalidArgument, "lang: no Tesseract model for language")
	// ErrNotInstalled means the model a hint needs is not installed.
	ErrNotInstalled = rpcerr.Sentinel(grpccodes.InvalidArgument, "lang: Tesseract model not installed")
)

// HintError reports a language hint that cannot be used and why. Its
// message names the hint and is meant for the client that sent it.
type HintError struct {
	// Index is the hint's position in the list given to [Resolve]; 0 when
	// the error comes from [Model].
	Index int
	// Hint is the hint as given.
	Hint string
	// Model is the Tesseract model the hint maps to, when it maps to one
	// (Err is [ErrNotInstalled]); otherwise empty.
	Model string
	// Err is [ErrMalformed], [ErrUnknown] or [ErrNotInstalled].
	Err error
}

// Error returns a sentence naming the hint and what is wrong with it.
func (e *HintError) Error() string {
	h := quote(e.Hint)
	switch {
	case errors.Is(e.Err, ErrMalformed):
		return fmt.Sprintf(`language hint %s is not a well-formed BCP-47 language tag such as "en", "pt-BR" or "zh-Hant"`, h)
	case errors.Is(e.Err, ErrUnknown):
		return fmt.Sprintf("language hint %s names no language and script that Tesseract has a model for", h)
	case errors.Is(e.Err, ErrNotInstalled):
		return fmt.Sprintf("language hint %s needs the Tesseract model %s, which is not installed (Debian package %s)", h, e.Model, Package(e.Model))
	default:
		return fmt.Sprintf("language hint %s: %v", h, e.Err)
	}
}

// Unwrap returns Err.
func (e *HintError) Unwrap() error { return e.Err }

// ResolveError lists every hint [Resolve] could not use.
type ResolveError struct {
	// Hints has one error per unusable hint, in hint order.
	Hints []*HintError
}

// Error joins the messages of Hints with "; ".
func (e *ResolveError) Error() string {
	msgs := make([]string, len(e.Hints))
	for i, h := range e.Hints {
		msgs[i] = h.Error()
	}
	return strings.Join(msgs, "; ")
}

// Unwrap returns Hints, so that errors.Is(err, [ErrNotInstalled]) and
// errors.As(err, &hintErr) look at each of them.
func (e *ResolveError) Unwrap() []error {
	errs := make([]error, len(e.Hints))
	for i, h := range e.Hints {
		errs[i] = h
	}
	return errs
}

// Model returns the Tesseract model for the language hint tag ("en-US" →
// "eng", "zh-Hant" → "chi_tra", "en-t-i0-handwrit" → "eng"). For a malformed
// or unknown tag it returns a *[HintError] wrapping [ErrMalformed] or
// [ErrUnknown]. Whether the model is installed is not checked.
func Model(tag string) (string, error) {
	m, err := lookup(tag)
	if err != nil {
		return "", &HintError{Hint: tag, Err: err}
	}
	return m, nil
}

// Resolve returns the Tesseract language string for the language hints of
// one request: the hints' models in hint order without repeats, joined with
// '+' ("de", "en-GB", "en" → "deu+eng"). No hints give "", which means the
// engine's default. If installed is not nil, every model must be in it; a
// nil installed checks only that the hints are known. If any hint cannot be
// used, Resolve returns "" and a *[ResolveError] listing each of them.
func Resolve(hints []string, installed Models) (string, error) {
	var (
		names []string
		errs  []*HintError
	)
	for i, h := range hints {
		m, err := lookup(h)
		switch {
		case err != nil:
			errs = append(errs, &HintError{Index: i, Hint: h, Err: err})
		case installed != nil && !installed[m]:
			errs = append(errs, &HintError{Index: i, Hint: h, Model: m, Err: ErrNotInstalled})
		case !slices.Contains(names, m):
			names = append(names, m)
		}
	}
	if len(errs) > 0 {
		return "", &ResolveError{Hints: errs}
	}
	return strings.Join(names, "+"), nil
}

// Package returns the Debian package that installs the Tesseract model
// name: "tesseract-ocr-" followed by name with '-' for '_'
// ("chi_sim" → "tesseract-ocr-chi-sim").
func Package(name string) string {
	return "tesseract-ocr-" + strings.ReplaceAll(name, "_", "-")
}

// lookup returns the name of the model for tag, or ErrMalformed or
// ErrUnknown.
func lookup(s string) (string, error) {
	t, ok := parseTag(s)
	if !ok {
		return "", ErrMalformed
	}
	cands := byLang[t.lang]
	if len(cands) == 0 || t.extlang != "" {
		// An extlang names another language ("zh-yue" is Cantonese); none
		// has a model of its own.
		return "", ErrUnknown
	}
	if t.script != "" {
		for _, m := range cands {
			if slices.Contains(m.scripts, t.script) {
				return m.name, nil
			}
		}
		return "", ErrUnknown
	}
	if t.region != "" {
		for _, m := range cands {
			if slices.Contains(m.regions, t.region) {
				return m.name, nil
			}
		}
	}
	return cands[0].name, nil
}

// quote returns s quoted as by %q, cut to its first 64 bytes: hints are
// client input and end up in responses.
func quote(s string) string {
	const maxQuoted = 64
	if len(s) <= maxQuoted {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%q...", s[:maxQuoted])
}
