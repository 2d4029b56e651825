// Package config loads the folio command's settings: defaults, then an
// optional file of KEY=value lines, then the environment; command-line
// flags, applied by the caller, win over all three.
//
// # Settings
//
//	FOLIO_ENDPOINT   http://host:port (REST) or host:port (gRPC); default http://localhost:8080
//	FOLIO_TRANSPORT  rest or grpc; default: rest for an http(s):// endpoint, grpc otherwise
//	FOLIO_BUCKET     bucket local files are uploaded to and results written to
//	FOLIO_PREFIX     object name prefix in that bucket; default folio/
//	FOLIO_API_KEY    sent as x-goog-api-key (header or gRPC metadata) when set
//
// The file is $FOLIO_CONFIG, else $XDG_CONFIG_HOME/folio/config, else
// ~/.config/folio/config; a missing file is no error. It holds the same
// keys, one KEY=value a line; blank lines and lines starting with # are
// ignored, and a value may be quoted with ' or ".
package config

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Config holds the settings.
type Config struct {
	Endpoint  string
	Transport string
	Bucket    string
	Prefix    string
	APIKey    string
	// File is the config file that was read, "" for none.
	File string
}

// DefaultEndpoint is the endpoint when none is set: `make run`'s REST
// port.
const DefaultEndpoint = "http://localhost:8080"

// DefaultPrefix is the object name prefix when none is set.
const DefaultPrefix = "folio/"

// keys are the settings a file or the environment may set.
var keys = []string{"FOLIO_ENDPOINT", "FOLIO_TRANSPORT", "FOLIO_BUCKET", "FOLIO_PREFIX", "FOLIO_API_KEY"}

// Path returns the config file path for getenv's environment, "" if none
// can be found.
func Path(getenv func(string) string) string {
	if p := getenv("FOLIO_CONFIG"); p != "" {
		return p
	}
	if x := getenv("XDG_CONFIG_HOME"); x != "" {
		return filepath.Join(x, "folio", "config")
	}
	if h := getenv("HOME"); h != "" {
		return filepath.Join(h, ".config", "folio", "config")
	}
	return ""
}

// Load returns the settings of the config file and getenv's environment
// over the defaults.
func Load(getenv func(string) string) (Config, error) {
	vals := map[string]string{"FOLIO_ENDPOINT": DefaultEndpoint, "FOLIO_PREFIX": DefaultPrefix}
	var c Config
	if p := Path(getenv); p != "" {
		data, err := os.ReadFile(p)
		switch {
		case errors.Is(err, fs.ErrNotExist) && getenv("FOLIO_CONFIG") == "":
		case err != nil:
			return Config{}, fmt.Errorf("read config file: %w", err)
		default:
			file, err := Parse(data)
			if err != nil {
				return Config{}, fmt.Errorf("config file %s: %w", p, err)
			}
			for k, v := range file {
				vals[k] = v
			}
			c.File = p
		}
	}
	for _, k := range keys {
		if v := getenv(k); v != "" {
			vals[k] = v
		}
	}
	c.Endpoint, c.Transport, c.Bucket = vals["FOLIO_ENDPOINT"], vals["FOLIO_TRANSPORT"], vals["FOLIO_BUCKET"]
	c.Prefix, c.APIKey = vals["FOLIO_PREFIX"], vals["FOLIO_API_KEY"]
	return c, nil
}

// Parse reads KEY=value lines; every problem is reported, one sentence per
// line.
func Parse(data []byte) (map[string]string, error) {
	vals := map[string]string{}
	var errs []error
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("line %d is not KEY=value", n))
			continue
		case !slices.Contains(keys, k):
			errs = append(errs, fmt.Errorf("line %d sets %s, which is not one of %s", n, k, strings.Join(keys, ", ")))
			continue
		}
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		vals[k] = v
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, err)
	}
	return vals, errors.Join(errs...)
}
