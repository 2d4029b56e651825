// Package inputs finds the files a `folio annotate` run reads: local files,
// local folders walked recursively, gs:// objects and gs:// prefixes, each
// kept when its extension is one Folio reads (.pdf, .tif, .tiff, .gif,
// in any case), and gives each the name its results are written under.
//
// # Names
//
// A file named on the command line is named by its base name; a file found
// in a folder or under a gs:// prefix by its path relative to that folder or
// prefix, with forward slashes. The extension is then dropped (scan.pdf
// becomes scan), unless two inputs would share the name, in which case
// those inputs keep their extension (scan.pdf and scan.tif stay apart). Two
// different inputs that still share a name are an error. A name also keeps
// its extension when dropping it would leave nothing (.pdf) or the name of
// the run's own files (.folio-state.pdf); one that would still put results
// outside the output folder (an object "../x.pdf" under a prefix) is an
// error. Sources are
// returned sorted by name, so the same arguments give the same list.
package inputs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/folio-ocr/folio/internal/cli/results"
	"github.com/folio-ocr/folio/internal/cli/resume"
)

// mimeTypes maps the extensions Folio reads to the mimeType of their
// requests; it mirrors pipeline.MIMETypes on the server, which the client
// does not import (it would link pdfium into the client).
var mimeTypes = map[string]string{
	".pdf":  "application/pdf",
	".tif":  "image/tiff",
	".tiff": "image/tiff",
	".gif":  "image/gif",
}

// MIMEType returns the mimeType of a file named name by its extension, in
// any case, and whether Folio reads it.
func MIMEType(name string) (string, bool) {
	mt, ok := mimeTypes[strings.ToLower(path.Ext(name))]
	return mt, ok
}

// Source is one input file.
type Source struct {
	// Path is the local file's path, or "" for a gs:// object.
	Path string
	// URI is the gs://bucket/object of a Cloud Storage input, or "" for a
	// local file.
	URI string
	// Name is the name its results are written under, relative, with
	// forward slashes and without extension (see the package doc).
	Name string
	// MIMEType is the mimeType of its request.
	MIMEType string

	// full is Name before the extension was dropped.
	full string
}

// Lister lists the object names under a prefix of a Cloud Storage bucket.
type Lister interface {
	List(ctx context.Context, bucket, prefix string) ([]string, error)
}

// Discover returns the sources that args name, sorted by Name. An argument
// is a local file, a local folder (walked recursively), a gs://bucket/object
// URI with a supported extension or a gs://bucket/prefix (every object
// under prefix/). A named file with an unsupported extension, a missing
// path, or a folder or prefix holding no supported file is an error; so are
// two inputs with the same name. list may be nil when no argument is a
// gs:// prefix.
func Discover(ctx context.Context, args []string, list Lister) ([]Source, error) {
	if len(args) == 0 {
		return nil, errors.New("no input: name files, folders or gs:// URIs")
	}
	var all []Source
	for _, arg := range args {
		found, err := discoverOne(ctx, arg, list)
		if err != nil {
			return nil, err
		}
		all = append(all, found...)
	}
	return name(all)
}

// discoverOne returns the sources of one argument, with full set.
func discoverOne(ctx context.Context, arg string, list Lister) ([]Source, error) {
	if rest, ok := strings.CutPrefix(arg, "gs://"); ok {
		return discoverGCS(ctx, arg, rest, list)
	}
	info, err := os.Stat(arg)
	if err != nil {
		return nil, fmt.Errorf("input %s: %w", arg, err)
	}
	if !info.IsDir() {
		mt, ok := MIMEType(arg)
		if !ok {
			return nil, fmt.Errorf("input %s: not a .pdf, .tif, .tiff or .gif file", arg)
		}
		return []Source{{Path: arg, MIMEType: mt, full: filepath.Base(arg)}}, nil
	}
	var found []Source
	err = filepath.WalkDir(arg, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		mt, ok := MIMEType(p)
		if !ok || !d.Type().IsRegular() && d.Type()&fs.ModeSymlink == 0 {
			return nil
		}
		rel, err := filepath.Rel(arg, p)
		if err != nil {
			return err
		}
		found = append(found, Source{Path: p, MIMEType: mt, full: filepath.ToSlash(rel)})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("input folder %s: %w", arg, err)
	}
	if len(found) == 0 {
		return nil, fmt.Errorf("input folder %s holds no .pdf, .tif, .tiff or .gif file", arg)
	}
	return found, nil
}

// discoverGCS returns the sources of a gs:// argument; rest is arg without
// "gs://".
func discoverGCS(ctx context.Context, arg, rest string, list Lister) ([]Source, error) {
	bucket, object, _ := strings.Cut(rest, "/")
	if bucket == "" {
		return nil, fmt.Errorf("input %s: not a gs://bucket/object or gs://bucket/prefix URI", arg)
	}
	if mt, ok := MIMEType(object); ok && !strings.HasSuffix(object, "/") {
		return []Source{{URI: arg, MIMEType: mt, full: path.Base(object)}}, nil
	}
	if list == nil {
		return nil, fmt.Errorf("input %s: cannot list Cloud Storage", arg)
	}
	prefix := object
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	names, err := list.List(ctx, bucket, prefix)
	if err != nil {
		return nil, fmt.Errorf("input %s: list: %w", arg, err)
	}
	var found []Source
	for _, n := range names {
		mt, ok := MIMEType(n)
		if !ok || strings.HasSuffix(n, "/") {
			continue
		}
		found = append(found, Source{URI: "gs://" + bucket + "/" + n, MIMEType: mt, full: strings.TrimPrefix(n, prefix)})
	}
	if len(found) == 0 {
		return nil, fmt.Errorf("input %s: no .pdf, .tif, .tiff or .gif object under gs://%s/%s", arg, bucket, prefix)
	}
	return found, nil
}

// name drops duplicates (the same path or URI given twice), sets Name and
// sorts by it.
func name(all []Source) ([]Source, error) {
	seen := map[string]bool{}
	var srcs []Source
	for _, s := range all {
		id := s.URI
		if s.Path != "" {
			abs, err := filepath.Abs(s.Path)
			if err != nil {
				return nil, fmt.Errorf("input %s: %w", s.Path, err)
			}
			id = "file:" + abs
		}
		if !seen[id] {
			seen[id] = true
			srcs = append(srcs, s)
		}
	}
	short := map[string]int{}
	for _, s := range srcs {
		short[stripExt(s.full)]++
	}
	byName := map[string]Source{}
	for i, s := range srcs {
		n := stripExt(s.full)
		if short[n] > 1 || !writable(n) {
			n = s.full
		}
		if !writable(n) {
			return nil, fmt.Errorf("input %s would be written as %s, outside the output folder: name it on its own", s.Origin(), n)
		}
		if prev, dup := byName[n]; dup {
			return nil, fmt.Errorf("inputs %s and %s would both be written as %s: run them separately or with different --out",
				prev.Origin(), s.Origin(), n)
		}
		srcs[i].Name = n
		byName[n] = srcs[i]
	}
	slices.SortFunc(srcs, func(a, b Source) int { return strings.Compare(a.Name, b.Name) })
	return srcs, nil
}

// writable reports whether results named name stay inside the output
// folder, apart from the run's own files: a bucket listing may hold names
// such as "../x.pdf", ".pdf" (no name left) or ".folio-state.pdf".
func writable(name string) bool {
	p := filepath.FromSlash(name)
	return filepath.IsLocal(p) && filepath.Clean(p) != "." &&
		name+".json" != resume.StateFile && name+".txt" != results.ReportFile
}

// Origin returns the local path or gs:// URI of s, for messages.
func (s Source) Origin() string {
	if s.Path != "" {
		return s.Path
	}
	return s.URI
}

// stripExt returns name without its extension.
func stripExt(name string) string {
	return strings.TrimSuffix(name, path.Ext(name))
}
