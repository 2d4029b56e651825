// Package ocr has one job: Tesseract OCR of a gray page image into Vision's
// TextAnnotation hierarchy (page → block → paragraph → word → symbol, with
// normalized boxes, confidences in [0,1], detectedBreak and text equal to
// what the symbols and breaks spell, the same conventions as
// pipeline.BuildTextAnnotation).
//
// It is a thin cgo wrapper over libtesseract's C API (tesseract/capi.h,
// Debian's libtesseract-dev and libleptonica-dev, found with pkg-config; the
// eng model comes from tesseract-ocr-eng). Each page costs one Recognize and
// one result-iterator pass.
//
// Concurrency: an [Engine] wraps one TessBaseAPI and is not safe for
// concurrent use. Run one Engine per worker goroutine and as many workers as
// cores; parallelise across pages, not inside one.
//
// OMP_THREAD_LIMIT=1: Debian's libtesseract is built with OpenMP, and its
// default threading makes OCR 4.5–6× slower on a 2-core machine. Only the
// OMP_THREAD_LIMIT environment variable caps it (omp_set_num_threads from
// cgo does not), and libgomp reads it in its load-time constructor, before
// Go's main runs, so it must be in the environment before the process
// starts: set it in the Dockerfile, compose file, service unit, Makefile and
// .ci/run. os.Setenv has no effect (measured 0.81 s instead of 0.12 s per
// benchmark page on 2 cores); a process that finds it missing must
// re-execute itself with it set, as this package's TestMain does.
package ocr
