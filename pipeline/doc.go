// Package pipeline turns input files into Vision annotations: it opens
// documents, counts and splits their pages, extracts each page's text layer,
// assembles Vision's page → block → paragraph → word → symbol hierarchy and
// encodes output files.
//
// Pages are 1-based and inclusive everywhere. An output file for pages a..b
// of a request is named <gcsDestination.uri>output-a-to-b.json
// ([OutputName]); [SplitPages] cuts a file into such ranges.
//
// # Stages
//
//	PDF.Open (Opener)          a Document over an io.ReadSeeker: PDFium compiled to
//	                           WebAssembly (go-pdfium on wazero, no cgo); one fresh
//	                           instance per open document, discarded on Close
//	IsolatedPDF.Open (Opener)  the same in a child process (this binary re-executed,
//	                           pdfchild.go) with PDFium's interrupt off; a call past
//	                           its context's deadline kills the child (pdfproc.go,
//	                           the wire in pdfwire.go)
//	Document.Page              one page's characters with boxes in PDF points
//	BuildTextAnnotation        layout after poppler's TextOutputDev: blocks, lines,
//	                           words, reading order; breaks and normalizedVertices
//	AnnotatePage               features → AnnotateImageResponse, with per-page errors
//	                           (no text layer, unimplemented features) and context
//	EncodeFileResponse         compact JSON in Google's field order, enums as names
//
// # Errors
//
// Open and Page return errors wrapping [ErrInvalidInput] (not a PDF, corrupt,
// over a limit), [ErrEncrypted] or [ErrUnsupported] when the file is at
// fault; any other error (a failing reader, a context that ended) is the
// caller's to retry. If a Page call's context ends while PDFium works, the
// call is interrupted (unless PDFConfig.DisableInterrupt; in IsolatedPDF,
// by killing the child) and the Document becomes unusable.
//
// pipeline knows nothing of Redis, asynq or Cloud Storage; package jobs wires
// it to them.
package pipeline
