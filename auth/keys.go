// Package auth identifies Folio's callers by API key and holds each key's
// policy: the Cloud Storage buckets and prefixes it may read and write, and
// its quotas. It knows nothing of transports or storage: the api takes the
// credential from a request ([FromHTTP], [FromMetadata]), looks it up in a
// [Keyring] and applies the [Key]'s policy; the workers check the same
// policy again by key name.
//
// Keys are configured as JSON (see [Parse]) in a file (API_KEYS_FILE, which
// [Source] reloads when it changes) or in the environment (API_KEYS, which
// also takes the short form name:secret,...). Setting either turns
// authentication on.
package auth

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// MinSecretLength is the shortest secret a key may have: long enough that
// guessing is hopeless. Google's API keys have 39 characters.
const MinSecretLength = 16

// AnyURI, as the only entry of a key's inputs or outputs, allows every
// bucket. It is also what a key without an inputs or outputs list gets.
const AnyURI = "*"

// Key is one API key: its name (which operations record as their owner), a
// digest of its secret, and its policy.
type Key struct {
	// Name identifies the key in operations, logs and error messages; the
	// secret itself is never shown.
	Name string
	// Inputs and Outputs are the gs:// prefixes the key may read from and
	// write to, each "gs://bucket/" or "gs://bucket/some/prefix"; nil allows
	// every bucket.
	Inputs, Outputs []string
	// RequestsPerMinute bounds the calls the key makes per minute, all
	// methods together; 0 means no bound.
	RequestsPerMinute int64
	// PagesInFlight bounds the pages of the key's unfinished operations: a
	// submission is refused while they reach it. 0 means no bound.
	PagesInFlight int64

	digest [sha256.Size]byte
}

// MayRead reports whether k may read the object at uri.
func (k *Key) MayRead(uri string) bool { return allowed(k.Inputs, uri) }

// MayWrite reports whether k may write under the gs:// destination uri (an
// object name or a prefix that output names are appended to).
func (k *Key) MayWrite(uri string) bool { return allowed(k.Outputs, uri) }

// allowed reports whether uri starts with one of prefixes; nil allows all.
func allowed(prefixes []string, uri string) bool {
	if prefixes == nil {
		return true
	}
	if !strings.HasPrefix(uri, "gs://") {
		return false
	}
	for _, p := range prefixes {
		if p == AnyURI || strings.HasPrefix(uri, p) {
			return true
		}
	}
	return false
}

// Describe lists prefixes for an error message: "any bucket" or the list.
func Describe(prefixes []string) string {
	if prefixes == nil || (len(prefixes) == 1 && prefixes[0] == AnyURI) {
		return "any bucket"
	}
	return strings.Join(prefixes, ", ")
}

// Keyring is an immutable set of keys, safe for concurrent use.
type Keyring struct {
	keys   []*Key
	byName map[string]*Key
}

// Len returns the number of keys.
func (kr *Keyring) Len() int { return len(kr.keys) }

// Lookup returns the key whose secret is secret. Every key's digest is
// compared, in constant time, whichever matches: how long Lookup takes says
// nothing about which key, or how much of one, a guess got right.
func (kr *Keyring) Lookup(secret string) (*Key, bool) {
	d := sha256.Sum256([]byte(secret))
	var found *Key
	for _, k := range kr.keys {
		if subtle.ConstantTimeCompare(d[:], k.digest[:]) == 1 {
			found = k
		}
	}
	return found, found != nil
}

// Named returns the key called name.
func (kr *Keyring) Named(name string) (*Key, bool) {
	k, ok := kr.byName[name]
	return k, ok
}

// keyJSON is one key of the configuration.
type keyJSON struct {
	Name              string          `json:"name"`
	Key               string          `json:"key"`
	SHA256            string          `json:"sha256"`
	Inputs            json.RawMessage `json:"inputs"`  // absent: any bucket; null is an error
	Outputs           json.RawMessage `json:"outputs"` // (a generator's "none" must not grant all)
	RequestsPerMinute int64           `json:"requestsPerMinute"`
	PagesInFlight     int64           `json:"pagesInFlight"`
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Parse reads a keyring from its JSON form:
//
//	{"keys": [{
//	  "name": "billing",                    // required, unique: [A-Za-z0-9._-], up to 64
//	  "key": "at least 16 characters",      // the secret, or instead:
//	  "sha256": "hex digest of the secret", //   so the file holds no secret
//	  "inputs": ["gs://invoices/scans/"],   // readable prefixes; absent: any bucket
//	  "outputs": ["gs://invoices/ocr/"],    // writable prefixes; absent: any bucket
//	  "requestsPerMinute": 600,             // optional, 0 or absent: no bound
//	  "pagesInFlight": 20000                // optional, 0 or absent: no bound
//	}]}
//
// A prefix "gs://bucket" (no slash after the bucket) means the whole
// bucket, "gs://bucket/"; any other prefix is a plain string prefix of the
// URI, as Cloud Storage prefixes are: "gs://b/scans" also matches
// "gs://b/scans-old/x", so end a folder with "/". An explicit null for
// inputs or outputs is an error. A key's name is its operations' owner:
// give a name to one holder only, ever. Unknown fields are errors, so that a misspelt
// limit is not silently ignored. Every problem is reported with the key's
// position and name; the secret is never part of an error.
func Parse(data []byte) (*Keyring, error) {
	kr, err := parse(data)
	if err == nil && kr.Len() == 0 {
		return nil, errors.New("auth: no keys: an empty key list would refuse every call")
	}
	return kr, err
}

// parse is Parse allowing an empty key list, which refuses every call: what
// a reload makes of a file whose last key was removed.
func parse(data []byte) (*Keyring, error) {
	var doc struct {
		Keys []keyJSON `json:"keys"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("auth: keys are not valid JSON of the form {\"keys\": [...]}: %w", err)
	}
	if dec.More() {
		return nil, errors.New("auth: keys: unexpected data after the JSON document")
	}
	var keys []*Key
	var errs []error
	for i, kj := range doc.Keys {
		k, err := kj.key()
		if err != nil {
			errs = append(errs, fmt.Errorf("keys[%d] (%q): %w", i, kj.Name, err))
			continue
		}
		keys = append(keys, k)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	return newKeyring(keys)
}

// Empty is the keyring without keys: every call is refused.
func Empty() *Keyring { return &Keyring{byName: map[string]*Key{}} }

// ParseEnv reads a keyring from the API_KEYS form: the JSON of [Parse], or
// name:secret pairs separated by commas, each key allowed every bucket
// without quotas.
func ParseEnv(s string) (*Keyring, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "{") {
		return Parse([]byte(s))
	}
	var keys []*Key
	var errs []error
	for i, pair := range strings.Split(s, ",") {
		name, secret, ok := strings.Cut(strings.TrimSpace(pair), ":")
		if !ok {
			errs = append(errs, fmt.Errorf("entry %d is not name:secret", i+1))
			continue
		}
		k, err := keyJSON{Name: name, Key: secret}.key()
		if err != nil {
			errs = append(errs, fmt.Errorf("entry %d (%q): %w", i+1, name, err))
			continue
		}
		keys = append(keys, k)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("auth: API_KEYS: %w", err)
	}
	if len(keys) == 0 {
		return nil, errors.New("auth: API_KEYS: no keys")
	}
	return newKeyring(keys)
}

// newKeyring indexes keys, refusing repeated names and repeated secrets.
func newKeyring(keys []*Key) (*Keyring, error) {
	kr := &Keyring{keys: keys, byName: map[string]*Key{}}
	digests := map[[sha256.Size]byte]string{}
	for _, k := range keys {
		if _, dup := kr.byName[k.Name]; dup {
			return nil, fmt.Errorf("auth: key name %q is used twice", k.Name)
		}
		if other, dup := digests[k.digest]; dup {
			return nil, fmt.Errorf("auth: keys %q and %q have the same secret", other, k.Name)
		}
		kr.byName[k.Name] = k
		digests[k.digest] = k.Name
	}
	return kr, nil
}

// key validates one configured key.
func (kj keyJSON) key() (*Key, error) {
	k := &Key{Name: kj.Name, RequestsPerMinute: kj.RequestsPerMinute, PagesInFlight: kj.PagesInFlight}
	var errs []error
	if !nameRE.MatchString(kj.Name) {
		errs = append(errs, errors.New("name must be 1 to 64 letters, digits, '.', '_' or '-'"))
	}
	switch {
	case kj.Key != "" && kj.SHA256 != "":
		errs = append(errs, errors.New("set key or sha256, not both"))
	case kj.Key != "":
		if len(kj.Key) < MinSecretLength {
			errs = append(errs, fmt.Errorf("key must have at least %d characters", MinSecretLength))
		}
		if strings.ContainsAny(kj.Key, " \t\r\n,") {
			errs = append(errs, errors.New("key must not contain spaces or commas"))
		}
		k.digest = sha256.Sum256([]byte(kj.Key))
	case kj.SHA256 != "":
		b, err := hex.DecodeString(kj.SHA256)
		if err != nil || len(b) != sha256.Size {
			errs = append(errs, errors.New("sha256 must be 64 hexadecimal digits (sha256sum of the secret)"))
		}
		copy(k.digest[:], b)
	default:
		errs = append(errs, errors.New("key (the secret) or sha256 (its digest) is required"))
	}
	if kj.RequestsPerMinute < 0 || kj.PagesInFlight < 0 {
		errs = append(errs, errors.New("requestsPerMinute and pagesInFlight must not be negative"))
	}
	var err error
	if k.Inputs, err = prefixes("inputs", kj.Inputs); err != nil {
		errs = append(errs, err)
	}
	if k.Outputs, err = prefixes("outputs", kj.Outputs); err != nil {
		errs = append(errs, err)
	}
	return k, errors.Join(errs...)
}

// bucketRE is Cloud Storage's bucket name rule, loosely: what could name a
// bucket, so that a typo like "gs:/b" or "gs://B" is caught.
var bucketRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$`)

// prefixes validates and normalizes a list of gs:// prefixes.
func prefixes(field string, raw json.RawMessage) ([]string, error) {
	if raw == nil {
		return nil, nil
	}
	var in []string
	if err := json.Unmarshal(raw, &in); err != nil || in == nil {
		return nil, fmt.Errorf("%s must be a list of gs:// prefixes (omit it to allow every bucket)", field)
	}
	if len(in) == 0 {
		return nil, fmt.Errorf("%s is empty: omit it to allow every bucket, or list gs:// prefixes", field)
	}
	out := make([]string, 0, len(in))
	for _, p := range in {
		if p == AnyURI {
			if len(in) > 1 {
				return nil, fmt.Errorf("%s: %q must be the only entry", field, AnyURI)
			}
			return []string{AnyURI}, nil
		}
		rest, ok := strings.CutPrefix(p, "gs://")
		bucket, _, _ := strings.Cut(rest, "/")
		if !ok || !bucketRE.MatchString(bucket) {
			return nil, fmt.Errorf("%s: %q is not gs://bucket/ or gs://bucket/prefix", field, p)
		}
		if !strings.Contains(rest, "/") {
			p += "/"
		}
		out = append(out, p)
	}
	return out, nil
}
