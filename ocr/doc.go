// Package ocr has one job: Tesseract OCR of a page image into Vision's
// TextAnnotation hierarchy (page → block → paragraph → word → symbol, with
// normalized boxes, confidences in [0,1], detectedLanguages, detectedBreak
// and text equal to what the symbols and breaks spell, the same conventions
// as pipeline.BuildTextAnnotation).
//
// It is a thin cgo wrapper over libtesseract's C API (tesseract/capi.h) and
// Leptonica (Debian's libtesseract-dev and libleptonica-dev, found with
// pkg-config; models from tesseract-ocr-eng, -osd, …). Each page costs one
// Recognize and one result-iterator pass.
//
// # Images
//
// An [Image] is a page held in Leptonica memory: made with [FromGray],
// [Decode] (JPEG, PNG, PNM, BMP, GIF, WebP, first TIFF page) or
// [ReadTIFFPage] (any page of a TIFF file as a viewer shows it: every
// codec and layout libtiff reads, the Orientation tag applied; libtiff is
// called directly for what Leptonica does not read). Sizes are checked
// against a pixel limit from the header, before decoding. Leptonica's own messages are switched off and failures come
// back as errors wrapping [ErrFormat] or [ErrTooLarge]; the codecs under
// it (libpng, libjpeg) may still print a line on stderr for corrupt input.
// Callers must Close images.
//
// # Recognition
//
// [Engine] wraps one TessBaseAPI with a model loaded; [Pool] shares
// Size engines among goroutines, by language. [Options] give the
// resolution (else the file's, else 300 dpi), orientation detection and,
// for a Pool, the languages.
//
// Pages are recognized at their own resolution. Enlarging low-resolution
// pages 2× before recognition was measured (TestMeasureUpscale, text
// rendered as a noisy scan, CER by internal/textmetric) and not adopted:
//
//	10 pt, gray     100 dpi 0.16% → 1.59%   150 dpi 0.00% → 0.00%   200 dpi 0.00% → 0.00%
//	10 pt, bilevel  100 dpi 0.88% → 1.26%   150 dpi 0.33% → 0.33%   200 dpi 0.05% → 0.11%
//	 8 pt, gray     100 dpi 1.54% → 3.24%   150 dpi 0.05% → 0.00%   200 dpi 0.00% → 0.00%
//	 8 pt, bilevel  100 dpi 8.13% → 6.81%   150 dpi 0.44% → 0.77%   200 dpi 0.05% → 0.05%
//
// # Orientation and script
//
// With [Options.DetectOrientation], Tesseract's orientation and script
// detection (osd.traineddata, legacy engine, in its own TessBaseAPI) runs
// first. A page found turned by 90, 180 or 270 degrees is turned upright
// with pixRotateOrth and recognized, and every box is mapped back onto the
// image as given: the page's width and height are the image's, and a
// box's vertices start at the word's top-left as it reads, as Vision
// orders the vertices of rotated text. Detection costs about 0.3–0.8 s a
// page (BenchmarkDetectOrientation), a quarter to a half of recognition.
// A page is turned only when OSD's orientation confidence is at least 4
// (measured: 5.4–15.7 on text pages in every orientation, at most 2.9 on
// pages of noise); a blank page or one with too little text stays as it is.
// Skewed pages (not a multiple of 90°) are left to Tesseract's deskew.
//
// With empty [Options.Languages], a [Pool] uses English, or the model of a
// non-Latin script that OSD found with confidence (Han → chi_sim, Cyrillic
// → rus, Arabic → ara, …) if that model is installed. OSD runs for the
// script only when such a model is installed, so deployments with Latin
// models only pay nothing for it.
//
// # Concurrency
//
// An Engine is not safe for concurrent use. Use one per goroutine, or a
// Pool of as many engines as cores; parallelise across pages, not inside
// one.
//
// # OMP_THREAD_LIMIT=1
//
// Debian's libtesseract is built with OpenMP, and its default threading
// makes OCR 4.5–6× slower on a 2-core machine. Only the OMP_THREAD_LIMIT
// environment variable caps it (omp_set_num_threads from cgo does not), and
// libgomp reads it in its load-time constructor, before Go's main runs, so
// it must be in the environment before the process starts: set it in the
// Dockerfile, compose file, service unit, Makefile and .ci/run. os.Setenv
// has no effect (measured 0.81 s instead of 0.12 s per benchmark page on 2
// cores); a process that finds it missing must re-execute itself with it
// set, as this package's TestMain does.
package ocr
