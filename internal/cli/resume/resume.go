// Package resume decides what a `folio annotate` run does with each file so
// that running the same command again picks up where an interrupted run
// stopped: files whose results are complete are skipped, files whose
// operation is still known are followed again, and only the rest are
// submitted, each batch with an idempotency key the server uses to return
// the operation it already started for the same files and options.
//
// # State
//
// The state is the file .folio-state.json in the output directory: for
// each result name, the file key of the input it was made from, the
// operation that holds (or held) it and whether its results are written.
// It is rewritten atomically (a temporary file, then a rename) after every
// change, so a kill leaves the previous or the next state, never a torn one.
//
// # Keys
//
// A file key is a SHA-256 over the input's content hash and every option
// that changes the request (mimeType, features, language hints, batch
// size, output bucket and prefix); changing the file or an option gives a new key, so its results
// are made again. A batch's idempotency key is a SHA-256 over the sorted
// file keys of its files, so the same pending files give the same key.
package resume

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// StateFile is the name of the state file in the output directory.
const StateFile = ".folio-state.json"

// Options are the request options a file key covers.
type Options struct {
	MIMEType  string
	Features  []string // feature type names, in the order given
	Languages []string // language hints, in the order given
	BatchSize int32    // pages per output object; 0 is the server's default
	// Destination is where outputs go (gs://bucket/prefix), so that a
	// changed bucket or prefix makes a new request under a new key.
	Destination string
}

// FileKey returns the key of an input whose content hash is contentHash
// (any string that changes when the content does) read with opts: 64 hex
// digits.
func FileKey(contentHash string, opts Options) string {
	h := sha256.New()
	fmt.Fprintf(h, "folio-cli/v1\ncontent=%s\nmime=%s\nfeatures=%s\nlanguages=%s\nbatch=%d\ndestination=%s\n",
		contentHash, opts.MIMEType, strings.Join(opts.Features, ","), strings.Join(opts.Languages, ","), opts.BatchSize, opts.Destination)
	return hex.EncodeToString(h.Sum(nil))
}

// BatchKey returns the idempotency key of a submission of the files with
// the given file keys, in any order: "folio-" and 64 hex digits, within
// the server's 256 printable ASCII characters.
func BatchKey(fileKeys []string) string {
	keys := slices.Clone(fileKeys)
	slices.Sort(keys)
	h := sha256.Sum256([]byte(strings.Join(keys, "\n")))
	return "folio-" + hex.EncodeToString(h[:])
}

// PageError is a page that failed, as its output reports it.
type PageError struct {
	Page    int    `json:"page"`
	Code    int32  `json:"code"`
	Message string `json:"message"`
}

// Entry is what the state records for one result name.
type Entry struct {
	// Key is the file key of the input the entry is about.
	Key string `json:"key"`
	// Operation is the operation last submitted for it, if any.
	Operation string `json:"operation,omitempty"`
	// Done is set once NAME.txt and NAME.json are written.
	Done bool `json:"done,omitempty"`
	// Pages is the number of pages of the written results.
	Pages int `json:"pages,omitempty"`
	// FailedPages are the pages of the written results that failed.
	FailedPages []PageError `json:"failedPages,omitempty"`
}

// State is the resume state of one output directory.
type State struct {
	Files map[string]Entry `json:"files"`
}

// Load reads the state of output directory dir; a missing file is an empty
// state.
func Load(dir string) (*State, error) {
	s := &State{Files: map[string]Entry{}}
	data, err := os.ReadFile(filepath.Join(dir, StateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read resume state: %w", err)
	}
	if err := json.Unmarshal(data, s); err != nil {
		return nil, fmt.Errorf("read resume state %s: %w (delete it to start over)", filepath.Join(dir, StateFile), err)
	}
	if s.Files == nil {
		s.Files = map[string]Entry{}
	}
	return s, nil
}

// Save writes s to output directory dir atomically.
func (s *State) Save(dir string) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode resume state: %w", err)
	}
	if err := WriteFileAtomic(filepath.Join(dir, StateFile), data); err != nil {
		return fmt.Errorf("save resume state: %w", err)
	}
	return nil
}

// WriteFileAtomic writes data to path through a temporary file in the same
// directory and a rename, creating the directory if needed, so path holds
// the old or the new content, never part of it.
func WriteFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		_ = os.Remove(f.Name())
	}
	return err
}

// Action is what a run does with one file.
type Action int

const (
	// Submit: upload if needed and submit the file in a new batch.
	Submit Action = iota
	// Follow: follow the operation the state names; submit again only if
	// the server no longer knows it.
	Follow
	// Skip: its results are complete.
	Skip
)

// String returns the action's name.
func (a Action) String() string {
	return [...]string{"submit", "follow", "skip"}[a]
}

// Decide returns what to do with a file whose key is key, given its state
// entry (ok false when it has none) and whether both of its result files
// exist. An entry for another key (the file or the options changed) counts
// as none.
func Decide(e Entry, ok bool, key string, resultsExist bool) Action {
	switch {
	case !ok || e.Key != key:
		return Submit
	case e.Done && resultsExist:
		return Skip
	case e.Operation != "" && !e.Done:
		return Follow
	default: // done but a result file was deleted, or never submitted
		return Submit
	}
}
