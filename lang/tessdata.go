package lang

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// suffix ends the name of every Tesseract model file.
const suffix = ".traineddata"

// searchDirs are the tessdata directories [FindDir] tries, in order, when
// TESSDATA_PREFIX is not set: Debian's and Ubuntu's for Tesseract 5 and 4,
// then those of a build from source and of other distributions.
var searchDirs = []string{
	"/usr/share/tesseract-ocr/5/tessdata",
	"/usr/share/tesseract-ocr/4.00/tessdata",
	"/usr/local/share/tessdata",
	"/usr/share/tessdata",
}

// Models is a set of Tesseract model names ("eng", "chi_sim"), such as the
// models installed in a tessdata directory. A nil Models means that the
// installed models are not known: [Resolve] then checks only that hints are
// known.
type Models map[string]bool

// Installed returns the models in the tessdata directory dir: the base names
// of its *.traineddata files. It does not look into subdirectories (such as
// script/) and does not check that the files are valid models.
func Installed(dir string) (Models, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("lang: list Tesseract models: %w", err)
	}
	m := make(Models)
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), suffix)
		if ok && name != "" && !e.IsDir() {
			m[name] = true
		}
	}
	return m, nil
}

// FindDir returns the tessdata directory, the one that holds the
// *.traineddata files, for prefix, the value of TESSDATA_PREFIX:
//
//   - prefix itself when it holds models (Tesseract 4 and 5's convention);
//   - else prefix/tessdata when it holds models (Tesseract 3's convention,
//     where the prefix is the tessdata directory's parent);
//   - else, when neither holds models, prefix/tessdata if it is a
//     directory, else prefix if it is one;
//   - if prefix is empty, the first directory of
//     /usr/share/tesseract-ocr/5/tessdata, /usr/share/tesseract-ocr/4.00/tessdata,
//     /usr/local/share/tessdata and /usr/share/tessdata.
//
// It returns "" when there is no such directory. A prefix that is set is
// never replaced by one of the standard directories.
func FindDir(prefix string) string {
	return findDir(prefix, searchDirs)
}

// findDir is [FindDir] with the standard directories search.
func findDir(prefix string, search []string) string {
	if prefix == "" {
		for _, d := range search {
			if isDir(d) {
				return d
			}
		}
		return ""
	}
	prefix = filepath.Clean(prefix)
	cands := []string{prefix}
	if filepath.Base(prefix) != "tessdata" {
		cands = append(cands, filepath.Join(prefix, "tessdata"))
	}
	for _, d := range cands {
		if m, err := Installed(d); err == nil && len(m) > 0 {
			return d
		}
	}
	for _, d := range slices.Backward(cands) { // prefix/tessdata first
		if isDir(d) {
			return d
		}
	}
	return ""
}

// DefaultDir returns [FindDir] of the environment variable TESSDATA_PREFIX:
// the tessdata directory Tesseract itself would use on this host, or "".
func DefaultDir() string {
	return FindDir(os.Getenv("TESSDATA_PREFIX"))
}

// isDir reports whether path is a directory (following symbolic links).
func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}
