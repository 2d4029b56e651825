package api

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/folio-ocr/folio/lang"
	"github.com/folio-ocr/folio/pipeline"
	"github.com/folio-ocr/folio/rpcerr"
)

const (
	// maxLabels, maxLabelLen are Google's limits on the labels of a request.
	maxLabels   = 64
	maxLabelLen = 63
)

// validateRequest checks req against every rule of DESIGN.md §2 and returns
// an INVALID_ARGUMENT error naming each broken rule's field (see
// [invalidFields]), or nil. Language hints
// must name a language with a Tesseract model and, unless models is nil
// (the installed models are unknown), one in models. It does not change
// req: a batchSize of 0 stays 0 and means [pipeline.DefaultBatchSize].
func validateRequest(req *visionpb.AsyncBatchAnnotateFilesRequest, models lang.Models) error {
	v := validator{models: models}
	if req == nil || len(req.GetRequests()) == 0 {
		v.add("requests", "requests must contain at least one file request")
		return v.err()
	}
	v.parent(req.GetParent())
	v.labels(req.GetLabels())
	for i, fr := range req.GetRequests() {
		v.fileRequest(fmt.Sprintf("requests[%d]", i), fr)
	}
	return v.err()
}

// validator collects field violations.
type validator struct {
	// models are the installed Tesseract models language hints are checked
	// against; nil checks only that hints are known.
	models     lang.Models
	violations []*errdetails.BadRequest_FieldViolation
}

// add records that field breaks a rule; description names the field.
func (v *validator) add(field, description string) {
	v.violations = append(v.violations, &errdetails.BadRequest_FieldViolation{Field: field, Description: description})
}

// err returns the collected violations as an error, or nil.
func (v *validator) err() error {
	return invalidFields(v.violations...)
}

// invalidFields returns INVALID_ARGUMENT whose message joins the
// descriptions of vs with "; " and whose google.rpc.BadRequest detail
// lists them, or nil for none. Google's clients show the detail's field
// violations.
func invalidFields(vs ...*errdetails.BadRequest_FieldViolation) error {
	if len(vs) == 0 {
		return nil
	}
	msg := make([]string, len(vs))
	for i, v := range vs {
		msg[i] = v.GetDescription()
	}
	return &rpcerr.Error{
		Code:    codes.InvalidArgument,
		Message: strings.Join(msg, "; "),
		Details: []proto.Message{&errdetails.BadRequest{FieldViolations: vs}},
	}
}

// fileRequest validates one AsyncAnnotateFileRequest found at path.
func (v *validator) fileRequest(path string, fr *visionpb.AsyncAnnotateFileRequest) {
	if fr == nil {
		v.add(path, path+" must not be null")
		return
	}

	in := fr.GetInputConfig()
	switch {
	case in == nil:
		v.add(path+".inputConfig", path+".inputConfig is required")
	default:
		if len(in.GetContent()) > 0 {
			f := path + ".inputConfig.content"
			v.add(f, f+" is not supported by files:asyncBatchAnnotate; put the file in Cloud Storage and set inputConfig.gcsSource.uri")
		}
		f := path + ".inputConfig.gcsSource.uri"
		if uri := in.GetGcsSource().GetUri(); uri == "" {
			v.add(f, f+" is required")
		} else if _, _, ok := splitGCSURI(uri); !ok {
			v.add(f, fmt.Sprintf("%s must be a gs://bucket/object URI, got %q", f, uri))
		}
		v.mimeType(path+".inputConfig.mimeType", in.GetMimeType())
	}

	v.features(path+".features", fr.GetFeatures())
	v.languageHints(path+".imageContext.languageHints", fr.GetImageContext().GetLanguageHints())

	v.outputConfig(path+".outputConfig", fr.GetOutputConfig())
}

// outputConfig validates the outputConfig found at path: a gs:// prefix
// and a batchSize in [1, MaxBatchSize] or 0 (the default).
func (v *validator) outputConfig(path string, out *visionpb.OutputConfig) {
	f := path + ".gcsDestination.uri"
	if uri := out.GetGcsDestination().GetUri(); uri == "" {
		v.add(f, f+" is required")
	} else if _, _, ok := splitGCSPrefix(uri); !ok {
		v.add(f, fmt.Sprintf("%s must be a gs://bucket/ or gs://bucket/prefix URI, got %q", f, uri))
	}
	if bs := out.GetBatchSize(); bs != 0 && (bs < 1 || bs > pipeline.MaxBatchSize) {
		f := path + ".batchSize"
		v.add(f, fmt.Sprintf("%s must be in [1, %d], got %d", f, pipeline.MaxBatchSize, bs))
	}
}

// features validates the features found at path: at least one, each of a
// known type.
func (v *validator) features(path string, fs []*visionpb.Feature) {
	if len(fs) == 0 {
		v.add(path, path+" must contain at least one feature")
	}
	for j, ft := range fs {
		f := fmt.Sprintf("%s[%d].type", path, j)
		switch t := ft.GetType(); {
		case ft == nil, t == visionpb.Feature_TYPE_UNSPECIFIED:
			v.add(f, f+" is required (for example DOCUMENT_TEXT_DETECTION)")
		case t.Descriptor().Values().ByNumber(t.Number()) == nil:
			v.add(f, fmt.Sprintf("%s has unknown value %d", f, t))
		}
		if ft.GetMaxResults() < 0 {
			f := fmt.Sprintf("%s[%d].maxResults", path, j)
			v.add(f, fmt.Sprintf("%s must not be negative, got %d", f, ft.GetMaxResults()))
		}
	}
}

// languageHints validates the imageContext.languageHints found at path:
// each must be a BCP-47 tag of a language Tesseract has a model for, and the
// model must be installed if v.models is known. Hints are checked whatever
// the features, as Google does, though only text detection uses them.
func (v *validator) languageHints(path string, hints []string) {
	_, err := lang.Resolve(hints, v.models)
	var re *lang.ResolveError
	if !errors.As(err, &re) {
		return
	}
	for _, he := range re.Hints {
		f := fmt.Sprintf("%s[%d]", path, he.Index)
		v.add(f, f+": "+he.Error())
	}
}

// labels validates request labels against Google's label rules: at most
// 64, keys 1 to 63 characters starting with a lowercase letter, keys and
// values made of lowercase letters, digits, '_' and '-', values at most 63
// characters.
func (v *validator) labels(labels map[string]string) {
	if len(labels) > maxLabels {
		v.add("labels", fmt.Sprintf("labels must have at most %d entries, got %d", maxLabels, len(labels)))
	}
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		val := labels[k]
		f := fmt.Sprintf("labels[%q]", k)
		first, _ := utf8.DecodeRuneInString(k)
		switch {
		case k == "" || utf8.RuneCountInString(k) > maxLabelLen:
			v.add(f, fmt.Sprintf("label key %q must be 1 to %d characters long", k, maxLabelLen))
		case !unicode.IsLower(first):
			v.add(f, fmt.Sprintf("label key %q must start with a lowercase letter", k))
		case !isLabelText(k):
			v.add(f, fmt.Sprintf("label key %q may contain only lowercase letters, digits, '_' and '-'", k))
		}
		switch {
		case utf8.RuneCountInString(val) > maxLabelLen:
			v.add(f, fmt.Sprintf("%s must be at most %d characters long", f, maxLabelLen))
		case !isLabelText(val):
			v.add(f, fmt.Sprintf("%s may contain only lowercase letters, digits, '_' and '-', got %q", f, val))
		}
	}
}

// isLabelText reports whether s has only lowercase letters, digits, '_' and
// '-'.
func isLabelText(s string) bool {
	for _, r := range s {
		if !unicode.IsLower(r) && !unicode.IsDigit(r) && r != '_' && r != '-' {
			return false
		}
	}
	return true
}

// isSupportedMIMEType reports whether mt is one of [pipeline.MIMETypes].
func isSupportedMIMEType(mt string) bool {
	return slices.Contains(pipeline.MIMETypes(), mt)
}

// mimeList returns the supported MIME types as `"a", "b" or "c"`.
func mimeList() string {
	types := pipeline.MIMETypes()
	q := make([]string, len(types))
	for i, s := range types {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

// splitGCSURI splits a gs://bucket/object URI. Both parts must be non-empty
// and the bucket may not contain characters that bucket names never have.
func splitGCSURI(uri string) (bucket, object string, ok bool) {
	bucket, object, ok = splitGCSPrefix(uri)
	return bucket, object, ok && object != ""
}

// splitGCSPrefix splits a gs://bucket/prefix URI; prefix may be empty
// ("gs://bucket/"), but the slash after the bucket is required because
// output names are the prefix concatenated with "output-1-to-20.json".
func splitGCSPrefix(uri string) (bucket, prefix string, ok bool) {
	rest, found := strings.CutPrefix(uri, "gs://")
	if !found {
		return "", "", false
	}
	bucket, prefix, found = strings.Cut(rest, "/")
	if !found || !validBucket(bucket) {
		return "", "", false
	}
	return bucket, prefix, true
}

// validBucket reports whether b could be a bucket name: 1 to 222 letters,
// digits, '-', '_' and '.', starting and ending with a letter or digit.
// Cloud Storage itself is stricter (3 to 63 lowercase characters per dot
// separated part); emulators are not, so neither is Folio.
func validBucket(b string) bool {
	if len(b) == 0 || len(b) > 222 {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && c != '-' && c != '_' && c != '.' {
			return false
		}
		if (i == 0 || i == len(b)-1) && !alnum {
			return false
		}
	}
	return true
}

// parseParent splits "projects/{p}" or "projects/{p}/locations/{l}"; l is
// empty for the first form. Segments must be non-empty.
func parseParent(parent string) (project, location string, ok bool) {
	seg := strings.Split(parent, "/")
	switch {
	case len(seg) == 2 && seg[0] == "projects" && validSegment(seg[1]):
		return seg[1], "", true
	case len(seg) == 4 && seg[0] == "projects" && validSegment(seg[1]) &&
		seg[2] == "locations" && validSegment(seg[3]):
		return seg[1], seg[3], true
	default:
		return "", "", false
	}
}

// validSegment reports whether s can be one segment of a resource name:
// non-empty, at most 256 bytes of printable ASCII without '/', '{' or '}',
// and not "." or "..". ':' is allowed: domain-scoped project ids have one.
func validSegment(s string) bool {
	if s == "" || s == "." || s == ".." || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || c == '/' || c == '{' || c == '}' {
			return false
		}
	}
	return true
}
