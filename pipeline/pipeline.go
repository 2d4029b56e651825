package pipeline

import (
	"context"
	"io"

	"google.golang.org/grpc/codes"

	"github.com/folio-ocr/folio/rpcerr"
)

// Sentinel errors of input files, with their google.rpc codes; messages
// built on them name the file.
var (
	// ErrInvalidInput marks a file that is not what its MIME type says, is
	// corrupt or truncated, or exceeds a limit.
	ErrInvalidInput = rpcerr.Sentinel(codes.InvalidArgument, "invalid input")
	// ErrEncrypted marks a password-protected document.
	ErrEncrypted = rpcerr.Sentinel(codes.InvalidArgument, "document is encrypted")
	// ErrUnsupported marks an input type or feature Folio does not handle.
	ErrUnsupported = rpcerr.Sentinel(codes.Unimplemented, "unsupported")
)

// Input MIME types, the inputConfig.mimeType values Folio reads.
const (
	MIMEPDF  = "application/pdf"
	MIMETIFF = "image/tiff"
	MIMEGIF  = "image/gif"
)

// MIMETypes returns the input MIME types Folio reads, in the order messages
// list them.
func MIMETypes() []string { return []string{MIMEPDF, MIMETIFF, MIMEGIF} }

// Output batch sizes: the pages per output file that
// outputConfig.batchSize asks for.
const (
	// DefaultBatchSize is used when batchSize is 0 or absent.
	DefaultBatchSize = 20
	// MaxBatchSize is the largest batchSize Google accepts.
	MaxBatchSize = 100
)

// BatchSize returns the pages per output file for a requested batchSize
// n: n itself, or DefaultBatchSize when n is 0.
func BatchSize(n int32) int {
	if n == 0 {
		return DefaultBatchSize
	}
	return int(n)
}

// PageRange is a span of pages, 1-based and inclusive.
type PageRange struct {
	First, Last int
}

// Rect is a box in PDF user space: points, origin at the bottom left of the
// page, so Top > Bottom.
type Rect struct {
	Left, Bottom, Right, Top float64
}

// Char is one character of a page's text layer.
type Char struct {
	Rune  rune
	Box   Rect
	Angle float64 // rotation of the glyph in radians, 0 for upright text
}

// Page is one page of a document with its text layer.
type Page struct {
	Number        int     // 1-based
	Width, Height float64 // points (PDF) or pixels (images)
	Chars         []Char  // in content-stream order, as the engine reports them

	// Image marks a page of an image file (TIFF, GIF): it has no text
	// layer and its size is known only once it is decoded.
	Image bool
	// ImageCover is the share of the page's area, 0 to 1, covered by its
	// largest image: near 1 for a scanned page.
	ImageCover float64
	// InvisibleText is the share of the page's text objects drawn
	// invisibly (text render mode 3 or 7), the mark of an OCR layer.
	InvisibleText float64
	// Unmapped counts the text layer's characters that have no Unicode
	// meaning (control codes, U+FFFD, private use): what a font without a
	// Unicode mapping gives, whose text cannot be extracted.
	Unmapped int
	// Fonts is what the document's engine tells of its fonts, shared by
	// its pages; nil when unknown. Layout then sizes text by glyph
	// heights alone.
	Fonts *Fonts
}

// Fonts is what a document's text layer tells of its fonts, sampled from a
// few of its pages (see [FontSampler]). Layout estimates each piece of
// text's font size from its glyphs' heights; the sizes the document is
// set in make those estimates exact, as pdftotext's, which reads them from
// the fonts.
type Fonts struct {
	// Sizes are the font sizes, in points and ascending, of at least 1%
	// of the sampled characters: an estimate within 7% of one of them is
	// taken to be it, where no Style fits it better.
	Sizes []float64 `json:"sizes,omitempty"`
	// XHeight is the height of the sampled x-height letters (a, c, e,
	// ...) as a fraction of their font size, when it is far enough from
	// the 0.45 that layout assumes to matter (a Times-like or sans-serif
	// face, not Computer Modern); 0 otherwise.
	XHeight float64 `json:"x_height,omitempty"`
	// Ascent and Descent are how far the sampled fonts' boxes reach above
	// and below the baseline, as fractions of the font size, from the
	// ascent and descent the fonts declare (a TrueType face's 0.9 and
	// 0.21, Computer Modern's 0.69 and 0.19): pdftotext draws its word
	// boxes with them, and they decide its lines and blocks. 0 when not
	// measured (no embedded font, too few letters), implausible, or within
	// 10% of Computer Modern's, which layout assumes.
	Ascent  float64 `json:"ascent,omitempty"`
	Descent float64 `json:"descent,omitempty"`
	// Styles are the sampled sizes with the x-height ratio of the face
	// set in each, when the sample shows faces of clearly different
	// x-heights (a sans-serif or typewriter face, near 0.55, beside a
	// roman one, near 0.48): one ratio for the whole document would size
	// one of them some 13% wrong. nil when the sampled faces agree.
	Styles []Style `json:"styles,omitempty"`
}

// Style is a font size of a document with the x-height ratio of a face
// set in it.
type Style struct {
	Size    float64 `json:"size"`
	XHeight float64 `json:"x_height"`
}

// Document is an opened input file whose pages are read one at a time. A
// Document is not safe for concurrent use.
type Document interface {
	// PageCount returns the number of pages.
	PageCount() int
	// Page returns page n (1-based) with its text layer.
	Page(ctx context.Context, n int) (*Page, error)
	// Raster returns page n (1-based) as an image for OCR.
	Raster(ctx context.Context, n int, opts RasterOptions) (*Raster, error)
	// Close releases the document.
	Close() error
}

// Opener opens documents of one MIME type. Errors wrap ErrInvalidInput,
// ErrEncrypted or ErrUnsupported when the file is at fault.
type Opener interface {
	Open(ctx context.Context, r io.ReadSeeker, size int64) (Document, error)
}
