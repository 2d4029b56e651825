// Package pipeline turns input files into Vision annotations: it opens
// documents, counts and splits their pages, extracts each page's text layer,
// assembles Vision's page → block → paragraph → word → symbol hierarchy and
// encodes output files.
//
// Pages are 1-based and inclusive everywhere. An output file for pages a..b
// of a request is named <gcsDestination.uri>output-a-to-b.json.
//
// pipeline knows nothing of Redis, asynq or Cloud Storage; package jobs wires
// it to them. Methods that take a context check it between pages.
package pipeline
