package jobs

import "expvar"

// Pages counts the pages workers have annotated in this process, by how:
// "text" (a PDF's text layer), "ocr" (Tesseract) and "failed" (a page whose
// output entry carries an error). cmd/worker serves it, with Go's other
// expvars, at METRICS_ADDR/debug/vars.
var Pages = expvar.NewMap("folio_pages")
