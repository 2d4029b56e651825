package pipeline

import (
	"context"
	"fmt"
	"image"
	"strings"
	"unicode"
	"unicode/utf8"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
)

// Raster is one page's pixels for OCR, in one of three forms: decoded gray
// pixels (a rendered PDF page, a GIF frame), an encoded image that the OCR
// engine decodes natively (the JPEG of a scanned PDF page), or a page of a
// TIFF file on disk. Exactly one of Gray, Data and Path is set.
type Raster struct {
	Gray *image.Gray
	Data []byte // an encoded image (JPEG, PNG, ...)
	// Path and Index name page Index (0-based) of the TIFF file at Path.
	Path  string
	Index int
	// DPI is the image's resolution; 0 when the file does not say.
	DPI float64
	// Turn is the quarter turns clockwise, 0 to 3, that show the image as
	// its page is displayed: a scan stored sideways or upside down under
	// a PDF page's /Rotate. The recognizer turns the image before OCR, so
	// that boxes are on the page as displayed.
	Turn int
}

// Kind names the raster's form for logs: "pixels", "encoded" or "tiff".
func (r *Raster) Kind() string {
	switch {
	case r.Gray != nil:
		return "pixels"
	case r.Data != nil:
		return "encoded"
	case r.Path != "":
		return "tiff"
	}
	return "none"
}

// RasterOptions sets how a page becomes pixels.
type RasterOptions struct {
	// DPI is the resolution at which vector pages are rendered. Zero means
	// DefaultDPI.
	DPI int
	// MaxPixels bounds width×height of a page image; a rendered page that
	// would be larger is rendered at a lower resolution, and an embedded
	// image that is larger is rendered instead of extracted. Zero means
	// DefaultMaxPixels.
	MaxPixels int
}

// Defaults of RasterOptions.
const (
	DefaultDPI       = 300
	DefaultMaxPixels = 100_000_000 // a 300 DPI page of 33×33 inches
)

func (o RasterOptions) dpi() int {
	if o.DPI > 0 {
		return o.DPI
	}
	return DefaultDPI
}

func (o RasterOptions) maxPixels() int {
	if o.MaxPixels > 0 {
		return o.MaxPixels
	}
	return DefaultMaxPixels
}

// Route is how a page's text is obtained.
type Route int

// Routes.
const (
	RouteText Route = iota // the PDF's text layer
	RouteOCR               // OCR of the page image
)

func (r Route) String() string {
	if r == RouteOCR {
		return "ocr"
	}
	return "text"
}

// TextLayerPolicy decides when a PDF's text layer is trusted.
type TextLayerPolicy int

// Policies.
const (
	// TextLayerAuto uses the text layer when the page has at least
	// MinTextChars visible characters, unless the page is a scan: an image
	// covers most of it and its text is invisible (an OCR layer of unknown
	// quality, which is OCR'd again) or sparse (a stamp or header over a
	// scanned page, which would hide the page's text).
	TextLayerAuto TextLayerPolicy = iota
	// TextLayerAlways uses any text layer with at least MinTextChars
	// characters, invisible OCR layers included; only pages without text
	// are OCR'd.
	TextLayerAlways
	// TextLayerNever OCRs every page.
	TextLayerNever
)

// ParseTextLayerPolicy parses "auto", "always" or "never".
func ParseTextLayerPolicy(s string) (TextLayerPolicy, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "auto", "":
		return TextLayerAuto, nil
	case "always":
		return TextLayerAlways, nil
	case "never":
		return TextLayerNever, nil
	}
	return 0, fmt.Errorf("text layer policy %q: want auto, always or never", s)
}

func (p TextLayerPolicy) String() string {
	switch p {
	case TextLayerAlways:
		return "always"
	case TextLayerNever:
		return "never"
	}
	return "auto"
}

// Router chooses a page's route.
type Router struct {
	Policy TextLayerPolicy
	// MinTextChars is the fewest visible characters a text layer needs to
	// be used. Zero means DefaultMinTextChars.
	MinTextChars int
}

// Routing thresholds.
const (
	// DefaultMinTextChars: a page with fewer text-layer characters is OCR'd.
	DefaultMinTextChars = 16
	// scanCover is the share of a page an image must cover for the page
	// to count as a scan.
	scanCover = 0.5
	// stampFactor: over a scan, a visible text layer needs this many times
	// MinTextChars to be taken for the page's text.
	stampFactor = 8
	// unmappedShare: a text layer with more than this share of characters
	// without Unicode meaning is not the page's text.
	unmappedShare = 0.1
)

// Route returns the route of p and the reason, for logs.
func (r Router) Route(p *Page) (Route, string) {
	if p.Image {
		return RouteOCR, "image file"
	}
	if r.Policy == TextLayerNever {
		return RouteOCR, "policy never"
	}
	min := r.MinTextChars
	if min <= 0 {
		min = DefaultMinTextChars
	}
	n := visibleChars(p)
	if n < min {
		return RouteOCR, fmt.Sprintf("%d text-layer characters", n)
	}
	if r.Policy == TextLayerAlways {
		return RouteText, "text layer"
	}
	if float64(p.Unmapped) > unmappedShare*float64(n) {
		return RouteOCR, fmt.Sprintf("%d of %d text-layer characters have no Unicode mapping", p.Unmapped, n)
	}
	if p.ImageCover < scanCover {
		return RouteText, "text layer"
	}
	if p.InvisibleText > 0.5 {
		return RouteOCR, "invisible text over a scanned image"
	}
	if n < min*stampFactor {
		return RouteOCR, fmt.Sprintf("%d characters over a scanned image", n)
	}
	return RouteText, "text layer over an image"
}

// unmapped reports whether a text-layer character has no Unicode meaning:
// a control code (PDFium passes on the font's own code when it has no
// mapping; U+0002 also marks a line-end hyphen, rare enough not to
// matter), U+FFFD or a private-use code point.
func unmapped(r rune) bool {
	switch {
	case r == '\t' || r == '\n' || r == '\r':
		return false
	case unicode.IsControl(r), r == utf8.RuneError, unicode.Is(unicode.Co, r):
		return true
	}
	return false
}

// visibleChars counts the characters of p's text layer that a reader sees
// (shown).
func visibleChars(p *Page) int {
	n := 0
	for _, c := range p.Chars {
		if shown(p, c) {
			n++
		}
	}
	return n
}

// shown reports whether c is a character a reader of p sees: not
// whitespace, and not parked off the page (offPage), which the layout
// drops as pdftotext does.
func shown(p *Page, c Char) bool {
	return !isBreakRune(c.Rune) && !offPage(p, c.Box)
}

// Recognizer OCRs page images. Implementations must be safe for concurrent
// use; errors wrap ErrInvalidInput when the image itself is at fault (it
// cannot be decoded, or exceeds a limit).
type Recognizer interface {
	// Recognize returns the text of r as a one-page text annotation with
	// the page's size in pixels and boxes as normalizedVertices.
	Recognize(ctx context.Context, r *Raster, opts OCROptions) (*visionpb.TextAnnotation, error)
}

// OCROptions are the per-request settings of OCR.
type OCROptions struct {
	// Languages is a Tesseract language string such as "eng" or "deu+eng";
	// empty means English plus script detection.
	Languages string
	// DetectOrientation detects pages scanned sideways or upside down and
	// OCRs them upright.
	DetectOrientation bool
}
