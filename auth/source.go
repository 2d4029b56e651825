package auth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// ReloadInterval is how often [Source.Watch] reads the keys file.
const ReloadInterval = 2 * time.Second

// Source holds the current keyring, from the environment or from a file it
// reloads when the file changes: editing the file adds, removes or changes
// keys without a restart. A file whose last key was removed, or that was
// deleted, refuses every call; one that no longer parses keeps the last
// good keyring (and is logged).
type Source struct {
	cur  atomic.Pointer[Keyring]
	path string
	mu   sync.Mutex  // serializes reloads
	raw  []byte      // the file's contents behind cur
	stat os.FileInfo // the file's when it was last read
}

// Load returns the keys configured by API_KEYS (inline, the forms of
// [ParseEnv]) or API_KEYS_FILE (a path, the form of [Parse]), or nil when
// both are empty: authentication is off. Setting both is an error.
func Load(inline, path string) (*Source, error) {
	switch {
	case inline != "" && path != "":
		return nil, errors.New("auth: set API_KEYS or API_KEYS_FILE, not both")
	case inline != "":
		kr, err := ParseEnv(inline)
		if err != nil {
			return nil, err
		}
		s := &Source{}
		s.cur.Store(kr)
		return s, nil
	case path != "":
		s := &Source{path: path}
		if _, err := s.reload(); err != nil {
			return nil, err
		}
		return s, nil
	}
	return nil, nil
}

// Static returns a Source that always holds kr (for tests and embedding).
func Static(kr *Keyring) *Source {
	s := &Source{}
	s.cur.Store(kr)
	return s
}

// Keyring returns the current keys.
func (s *Source) Keyring() *Keyring { return s.cur.Load() }

// Refresh reads the keys file again if it changed (its modification time
// or size) since it was last read, so that a process about to refuse a key
// it does not know (or a URI its policy does not allow) first sees an edit
// that another process already acted on. It costs a stat when nothing
// changed (a stat, a few microseconds, is all that a caller with a wrong
// key costs). It returns the current keys; a file that does not parse
// keeps the last good ones.
func (s *Source) Refresh() *Keyring {
	if s.path == "" {
		return s.Keyring()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if fi, err := os.Stat(s.path); err == nil && (s.stat == nil || !fi.ModTime().Equal(s.stat.ModTime()) || fi.Size() != s.stat.Size()) {
		_, _ = s.reload() // Watch logs a broken file
	}
	return s.Keyring()
}

// reload reads the file and, if it changed and parses, makes it current;
// it reports whether the keyring changed.
func (s *Source) reload() (bool, error) {
	if fi, err := os.Stat(s.path); err == nil {
		s.stat = fi
	}
	started := s.cur.Load() != nil
	raw, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) && started {
		// Deleted: no key is valid any more (fail closed).
		s.raw = nil
		s.cur.Store(Empty())
		return true, fmt.Errorf("auth: API_KEYS_FILE %s was removed: every call is refused until it is back", s.path)
	}
	if err != nil {
		return false, fmt.Errorf("auth: read API_KEYS_FILE: %w", err)
	}
	if started && s.raw != nil && bytes.Equal(raw, s.raw) {
		return false, nil
	}
	parseFn := Parse
	if started {
		parseFn = parse // removing the last key revokes it
	}
	kr, err := parseFn(raw)
	if err != nil {
		return false, fmt.Errorf("API_KEYS_FILE %s: %w", s.path, err)
	}
	s.raw = raw
	s.cur.Store(kr)
	return true, nil
}

// Watch reloads the keys file every interval (0 means [ReloadInterval])
// until ctx ends, logging each change and each file that does not parse
// (once per distinct content). A Source from the environment has nothing to
// watch, and Watch returns at once.
func (s *Source) Watch(ctx context.Context, interval time.Duration, log *zap.Logger) {
	if s.path == "" {
		return
	}
	if interval <= 0 {
		interval = ReloadInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	var lastErr string
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		changed, err := s.reload()
		s.mu.Unlock()
		switch {
		case err != nil && err.Error() == lastErr:
		case err != nil && changed: // the file is gone
			lastErr = err.Error()
			log.Error("API keys revoked", zap.Error(err))
		case err != nil:
			lastErr = err.Error()
			log.Error("API keys not reloaded: keeping the previous keys", zap.Error(err))
		case changed && s.Keyring().Len() == 0:
			lastErr = ""
			log.Warn("API keys reloaded: the file has no keys, every call is refused")
		case changed:
			lastErr = ""
			log.Info("API keys reloaded", zap.Int("keys", s.Keyring().Len()))
		}
	}
}
