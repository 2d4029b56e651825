package api

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"

	"github.com/folio-ocr/folio/lang"
	"github.com/folio-ocr/folio/rpcerr"
)

// validRequest returns a request that passes validateRequest, with two
// files so rules can be broken on requests[1].
func validRequest() *visionpb.AsyncBatchAnnotateFilesRequest {
	file := func(in, out string) *visionpb.AsyncAnnotateFileRequest {
		return &visionpb.AsyncAnnotateFileRequest{
			InputConfig: &visionpb.InputConfig{
				GcsSource: &visionpb.GcsSource{Uri: in},
				MimeType:  "application/pdf",
			},
			Features: []*visionpb.Feature{{Type: visionpb.Feature_DOCUMENT_TEXT_DETECTION}},
			OutputConfig: &visionpb.OutputConfig{
				GcsDestination: &visionpb.GcsDestination{Uri: out},
				BatchSize:      2,
			},
		}
	}
	return &visionpb.AsyncBatchAnnotateFilesRequest{
		Requests: []*visionpb.AsyncAnnotateFileRequest{
			file("gs://bucket/a.pdf", "gs://bucket/out/a/"),
			file("gs://bucket/dir/b.pdf", "gs://bucket/out/b-"),
		},
	}
}

func TestValidateRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(r *visionpb.AsyncBatchAnnotateFilesRequest)
		// wantFields are the fields of the violations, in order; nil means valid.
		wantFields []string
		// wantMsg must appear in the error message.
		wantMsg string
	}{
		{name: "valid", mutate: func(*visionpb.AsyncBatchAnnotateFilesRequest) {}},
		{
			name:   "batchSize 0 means the default",
			mutate: func(r *visionpb.AsyncBatchAnnotateFilesRequest) { r.Requests[1].OutputConfig.BatchSize = 0 },
		},
		{name: "batchSize 1", mutate: func(r *visionpb.AsyncBatchAnnotateFilesRequest) { r.Requests[0].OutputConfig.BatchSize = 1 }},
		{name: "batchSize 100", mutate: func(r *visionpb.AsyncBatchAnnotateFilesRequest) { r.Requests[0].OutputConfig.BatchSize = 100 }},
		{name: "tiff", mutate: func(r *visionpb.AsyncBatchAnnotateFilesRequest) { r.Requests[0].InputConfig.MimeType = "image/tiff" }},
		{name: "gif", mutate: func(r *visionpb.AsyncBatchAnnotateFilesRequest) { r.Requests[0].InputConfig.MimeType = "image/gif" }},
		{name: "one-letter bucket", mutate: func(r *visionpb.AsyncBatchAnnotateFilesRequest) {
			r.Requests[0].InputConfig.GcsSource.Uri = "gs://b/a.pdf"
			r.Requests[0].OutputConfig.GcsDestination.Uri = "gs://b/out/"
		}},
		{name: "destination bucket root", mutate: func(r *visionpb.AsyncBatchAnnotateFilesRequest) {
			r.Requests[0].OutputConfig.GcsDestination.Uri = "gs://bucket/"
		}},
		{name: "parent project", mutate: func(r *visionpb.AsyncBatchAnnotateFilesRequest) { r.Parent = "projects/p" }},
		{name: "parent location", mutate: func(r *visionpb.AsyncBatchAnnotateFilesRequest) { r.Parent = "projects/p/locations/eu" }},
		{name: "labels", mutate: func(r *visionpb.AsyncBatchAnnotateFilesRequest) {
			r.Labels = map[string]string{"env": "prod", "team-a_1": "", "ключ": "значение"}
		}},
		{name: "language hints", mutate: func(r *visionpb.AsyncBatchAnnotateFilesRequest) {
			r.Requests[0].ImageContext = &visionpb.ImageContext{LanguageHints: []string{"en", "de-DE", "zh_Hant", "en-t-i0-handwrit", "JA"}}
		}},
		{name: "language hints with a feature that ignores them", mutate: func(r *visionpb.AsyncBatchAnnotateFilesRequest) {
			r.Requests[0].Features = []*visionpb.Feature{{Type: visionpb.Feature_LABEL_DETECTION}}
			r.Requests[0].ImageContext = &visionpb.ImageContext{LanguageHints: []string{"fr"}}
		}},
		{name: "empty imageContext", mutate: func(r *visionpb.AsyncBatchAnnotateFilesRequest) {
			r.Requests[0].ImageContext = &visionpb.ImageContext{}
		}},
		{name: "every feature type", mutate: func(r *visionpb.AsyncBatchAnnotateFilesRequest) {
			r.Requests[0].Features = nil
			for n := range visionpb.Feature_Type_name {
				if n != 0 {
					r.Requests[0].Features = append(r.Requests[0].Features, &visionpb.Feature{Type: visionpb.Feature_Type(n)})
				}
			}
		}},

		{
			name:       "no requests",
			mutate:     func(r *visionpb.AsyncBatchAnnotateFilesRequest) { r.Requests = nil },
			wantFields: []string{"requests"},
			wantMsg:    "requests must contain at least one file request",
		},
		{
			name:       "null request",
			mutate:     func(r *visionpb.AsyncBatchAnnotateFilesRequest) { r.Requests[1] = nil },
			wantFields: []string{"requests[1]"},
			wantMsg:    "requests[1] must not be null",
		},
		{
			name:       "no inputConfig",
			mutate:     func(r *visionpb.AsyncBatchAnnotateFilesRequest) { r.Requests[0].InputConfig = nil },
			wantFields: []string{"requests[0].inputConfig"},
			wantMsg:    "requests[0].inputConfig is required",
		},
		{
			name:       "no input uri",
			mutate:     func(r *visionpb.AsyncBatchAnnotateFilesRequest) { r.Requests[1].InputConfig.GcsSource = nil },
			wantFields: []string{"requests[1].inputConfig.gcsSource.uri"},
			wantMsg:    "requests[1].inputConfig.gcsSource.uri is required",
		},
		{
			name:       "http input uri",
			mutate:     func(r *visionpb.AsyncBatchAnnotateFilesRequest) { r.Requests[0].InputConfig.GcsSource.Uri = "http://x" },
			wantFields: []string{"requests[0].inputConfig.gcsSource.uri"},
			wantMsg:    `requests[0].inputConfig.gcsSource.uri must be a gs://bucket/object URI, got "http://x"`,
		},
		{
			name: "input uri without object",
			mutate: func(r *visionpb.AsyncBatchAnnotateFilesRequest) {
				r.Requests[0].InputConfig.GcsSource.Uri = "gs://bucket/"
			},
			wantFields: []string{"requests[0].inputConfig.gcsSource.uri"},
			wantMsg:    `got "gs://bucket/"`,
		},
		{
			name: "input uri without bucket",
			mutate: func(r *visionpb.AsyncBatchAnnotateFilesRequest) {
				r.Requests[0].InputConfig.GcsSource.Uri = "gs:///a.pdf"
			},
			wantFields: []string{"requests[0].inputConfig.gcsSource.uri"},
			wantMsg:    "must be a gs://bucket/object URI",
		},
		{
			name: "input uri bucket only",
			mutate: func(r *visionpb.AsyncBatchAnnotateFilesRequest) {
				r.Requests[0].InputConfig.GcsSource.Uri = "gs://bucket"
			},
			wantFields: []string{"requests[0].inputConfig.gcsSource.uri"},
			wantMsg:    "must be a gs://bucket/object URI",
		},
		{
			name: "input uri bad bucket",
			mutate: func(r *visionpb.AsyncBatchAnnotateFilesRequest) {
				r.Requests[0].InputConfig.GcsSource.Uri = "gs://my bucket/a.pdf"
			},
			wantFields: []string{"requests[0].inputConfig.gcsSource.uri"},
			wantMsg:    "must be a gs://bucket/object URI",
		},
		{
			name:       "content on async",
			mutate:     func(r *visionpb.AsyncBatchAnnotateFilesRequest) { r.Requests[0].InputConfig.Content = []byte("%PDF-") },
			wantFields: []string{"requests[0].inputConfig.content"},
			wantMsg:    "requests[0].inputConfig.content is not supported by files:asyncBatchAnnotate",
		},
		{
			name:       "no mimeType",
			mutate:     func(r *visionpb.AsyncBatchAnnotateFilesRequest) { r.Requests[1].InputConfig.MimeType = "" },
			wantFields: []string{"requests[1].inputConfig.mimeType"},
			wantMsg:    `requests[1].inputConfig.mimeType is required and must be one of "application/pdf", "image/tiff" or "image/gif"`,
		},
		{
			name:       "png mimeType",
			mutate:     func(r *visionpb.AsyncBatchAnnotateFilesRequest) { r.Requests[0].InputConfig.MimeType = "image/png" },
			wantFields: []string{"requests[0].inputConfig.mimeType"},
			wantMsg:    `got "image/png"`,
		},
		{
			name:       "wildcard mimeType",
			mutate:     func(r *visionpb.AsyncBatchAnnotateFilesRequest) { r.Requests[0].InputConfig.MimeType = "image/*" },
			wantFields: []string{"requests[0].inputConfig.mimeType"},
			wantMsg:    "requests[0].inputConfig.mimeType must be one of",
		},
		{
			name:       "no features",
			mutate:     func(r *visionpb.AsyncBatchAnnotateFilesRequest) { r.Requests[1].Features = nil },
			wantFields: []string{"requests[1].features"},
			wantMsg:    "requests[1].features must contain at least one feature",
		},
		{
			name: "feature type unspecified",
			mutate: func(r *visionpb.AsyncBatchAnnotateFilesRequest) {
				r.Requests[0].Features = append(r.Requests[0].Features, &visionpb.Feature{})
			},
			wantFields: []string{"requests[0].features[1].type"},
			wantMsg:    "requests[0].features[1].type is required",
		},
		{
			name:       "null feature",
			mutate:     func(r *visionpb.AsyncBatchAnnotateFilesRequest) { r.Requests[0].Features[0] = nil },
			wantFields: []string{"requests[0].features[0].type"},
			wantMsg:    "requests[0].features[0].type is required",
		},
		{
			name:       "unknown feature number",
			mutate:     func(r *visionpb.AsyncBatchAnnotateFilesRequest) { r.Requests[0].Features[0].Type = 99 },
			wantFields: []string{"requests[0].features[0].type"},
			wantMsg:    "requests[0].features[0].type has unknown value 99",
		},
		{
			name:       "negative maxResults",
			mutate:     func(r *visionpb.AsyncBatchAnnotateFilesRequest) { r.Requests[0].Features[0].MaxResults = -1 },
			wantFields: []string{"requests[0].features[0].maxResults"},
			wantMsg:    "requests[0].features[0].maxResults must not be negative, got -1",
		},
		{
			name:       "no outputConfig",
			mutate:     func(r *visionpb.AsyncBatchAnnotateFilesRequest) { r.Requests[1].OutputConfig = nil },
			wantFields: []string{"requests[1].outputConfig.gcsDestination.uri"},
			wantMsg:    "requests[1].outputConfig.gcsDestination.uri is required",
		},
		{
			name:       "empty destination uri",
			mutate:     func(r *visionpb.AsyncBatchAnnotateFilesRequest) { r.Requests[1].OutputConfig.GcsDestination.Uri = "" },
			wantFields: []string{"requests[1].outputConfig.gcsDestination.uri"},
			wantMsg:    "requests[1].outputConfig.gcsDestination.uri is required",
		},
		{
			name: "file destination uri",
			mutate: func(r *visionpb.AsyncBatchAnnotateFilesRequest) {
				r.Requests[0].OutputConfig.GcsDestination.Uri = "file:///tmp/out/"
			},
			wantFields: []string{"requests[0].outputConfig.gcsDestination.uri"},
			wantMsg:    `requests[0].outputConfig.gcsDestination.uri must be a gs://bucket/ or gs://bucket/prefix URI, got "file:///tmp/out/"`,
		},
		{
			name: "destination without slash after bucket",
			mutate: func(r *visionpb.AsyncBatchAnnotateFilesRequest) {
				r.Requests[0].OutputConfig.GcsDestination.Uri = "gs://bucket"
			},
			wantFields: []string{"requests[0].outputConfig.gcsDestination.uri"},
			wantMsg:    `got "gs://bucket"`,
		},
		{
			name:       "batchSize 101",
			mutate:     func(r *visionpb.AsyncBatchAnnotateFilesRequest) { r.Requests[1].OutputConfig.BatchSize = 101 },
			wantFields: []string{"requests[1].outputConfig.batchSize"},
			wantMsg:    "requests[1].outputConfig.batchSize must be in [1, 100], got 101",
		},
		{
			name:       "batchSize negative",
			mutate:     func(r *visionpb.AsyncBatchAnnotateFilesRequest) { r.Requests[0].OutputConfig.BatchSize = -5 },
			wantFields: []string{"requests[0].outputConfig.batchSize"},
			wantMsg:    "requests[0].outputConfig.batchSize must be in [1, 100], got -5",
		},
		{
			name:       "parent malformed",
			mutate:     func(r *visionpb.AsyncBatchAnnotateFilesRequest) { r.Parent = "projects/p/zones/z" },
			wantFields: []string{"parent"},
			wantMsg:    `parent must be projects/{project} or projects/{project}/locations/{location}, got "projects/p/zones/z"`,
		},
		{
			name:       "parent empty project",
			mutate:     func(r *visionpb.AsyncBatchAnnotateFilesRequest) { r.Parent = "projects/" },
			wantFields: []string{"parent"},
			wantMsg:    "parent must be",
		},
		{
			name:       "label key uppercase",
			mutate:     func(r *visionpb.AsyncBatchAnnotateFilesRequest) { r.Labels = map[string]string{"Env": "x"} },
			wantFields: []string{`labels["Env"]`},
			wantMsg:    `label key "Env" must start with a lowercase letter`,
		},
		{
			name:       "label key with dot",
			mutate:     func(r *visionpb.AsyncBatchAnnotateFilesRequest) { r.Labels = map[string]string{"a.b": "x"} },
			wantFields: []string{`labels["a.b"]`},
			wantMsg:    `label key "a.b" may contain only`,
		},
		{
			name: "label value too long",
			mutate: func(r *visionpb.AsyncBatchAnnotateFilesRequest) {
				r.Labels = map[string]string{"k": strings.Repeat("v", 64)}
			},
			wantFields: []string{`labels["k"]`},
			wantMsg:    `labels["k"] must be at most 63 characters long`,
		},
		{
			name: "unknown language hint",
			mutate: func(r *visionpb.AsyncBatchAnnotateFilesRequest) {
				r.Requests[1].ImageContext = &visionpb.ImageContext{LanguageHints: []string{"en", "tlh"}}
			},
			wantFields: []string{"requests[1].imageContext.languageHints[1]"},
			wantMsg:    `requests[1].imageContext.languageHints[1]: language hint "tlh" names no language and script that Tesseract has a model for`,
		},
		{
			name: "malformed language hint",
			mutate: func(r *visionpb.AsyncBatchAnnotateFilesRequest) {
				r.Requests[0].ImageContext = &visionpb.ImageContext{LanguageHints: []string{"en US"}}
			},
			wantFields: []string{"requests[0].imageContext.languageHints[0]"},
			wantMsg:    `language hint "en US" is not a well-formed BCP-47 language tag`,
		},
		{
			name: "every bad language hint of a feature that ignores them",
			mutate: func(r *visionpb.AsyncBatchAnnotateFilesRequest) {
				r.Requests[0].Features = []*visionpb.Feature{{Type: visionpb.Feature_FACE_DETECTION}}
				r.Requests[0].ImageContext = &visionpb.ImageContext{LanguageHints: []string{"", "en", "sr-Arab"}}
			},
			wantFields: []string{"requests[0].imageContext.languageHints[0]", "requests[0].imageContext.languageHints[2]"},
			wantMsg:    `language hint "sr-Arab" names no language`,
		},
		{
			name: "several violations in order",
			mutate: func(r *visionpb.AsyncBatchAnnotateFilesRequest) {
				r.Requests[0].InputConfig.MimeType = "text/plain"
				r.Requests[1].OutputConfig.BatchSize = 101
			},
			wantFields: []string{"requests[0].inputConfig.mimeType", "requests[1].outputConfig.batchSize"},
			wantMsg:    "; requests[1].outputConfig.batchSize must be in [1, 100], got 101",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := validRequest()
			tt.mutate(req)
			err := validateRequest(req, nil)
			if tt.wantFields == nil {
				if err != nil {
					t.Fatalf("validateRequest() = %v, want nil", err)
				}
				return
			}
			vs, ok := violations(err)
			if !ok {
				t.Fatalf("validateRequest() = %v (%T), want INVALID_ARGUMENT with field violations", err, err)
			}
			var fields []string
			for _, v := range vs {
				fields = append(fields, v.GetField())
				if !strings.Contains(v.GetDescription(), v.GetField()) && !strings.HasPrefix(v.GetField(), "labels[") {
					t.Errorf("violation %q does not name its field %q", v.GetDescription(), v.GetField())
				}
			}
			if diff := cmp.Diff(tt.wantFields, fields); diff != "" {
				t.Errorf("violation fields (-want +got):\n%s", diff)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("validateRequest() = %q, want it to contain %q", err, tt.wantMsg)
			}
		})
	}
}

func TestValidateLanguageHintsInstalled(t *testing.T) {
	t.Parallel()
	installed := lang.Models{"eng": true, "deu": true, "chi_tra": true, "osd": true}
	tests := []struct {
		name   string
		models lang.Models
		hints  [2][]string // of requests[0] and requests[1]
		// want are the descriptions of the violations, in order.
		want []string
	}{
		{name: "no hints", models: installed},
		{name: "installed", models: installed, hints: [2][]string{{"en", "de-CH"}, {"zh-TW", "zh-Hant-t-i0-handwrit"}}},
		{
			name: "not installed", models: installed, hints: [2][]string{{"en"}, {"en", "ja"}},
			want: []string{`requests[1].imageContext.languageHints[1]: language hint "ja" needs the Tesseract model jpn, which is not installed (Debian package tesseract-ocr-jpn)`},
		},
		{
			name: "unknown and missing, in order", models: installed, hints: [2][]string{{"zh", "xx", "en"}, {"fr"}},
			want: []string{
				`requests[0].imageContext.languageHints[0]: language hint "zh" needs the Tesseract model chi_sim, which is not installed (Debian package tesseract-ocr-chi-sim)`,
				`requests[0].imageContext.languageHints[1]: language hint "xx" names no language and script that Tesseract has a model for`,
				`requests[1].imageContext.languageHints[0]: language hint "fr" needs the Tesseract model fra, which is not installed (Debian package tesseract-ocr-fra)`,
			},
		},
		{name: "models unknown: only tags are checked", hints: [2][]string{{"ja"}, {"ko", "th"}}},
		{
			name: "models unknown, bad tag", hints: [2][]string{{"ja"}, {"ko", "k-o"}},
			want: []string{`requests[1].imageContext.languageHints[1]: language hint "k-o" is not a well-formed BCP-47 language tag such as "en", "pt-BR" or "zh-Hant"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := validRequest()
			for i, h := range tt.hints {
				if h != nil {
					req.Requests[i].ImageContext = &visionpb.ImageContext{LanguageHints: h}
				}
			}
			err := validateRequest(req, tt.models)
			var got []string
			if vs, ok := violations(err); ok {
				for _, v := range vs {
					if !strings.HasPrefix(v.GetDescription(), v.GetField()+": ") {
						t.Errorf("violation %q does not start with its field %q", v.GetDescription(), v.GetField())
					}
					got = append(got, v.GetDescription())
				}
			} else if err != nil {
				t.Fatalf("validateRequest() = %v (%T), want INVALID_ARGUMENT with field violations or nil", err, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("violations (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSubmitRejectsMissingModel checks the HTTP answer to a hint whose model
// is not installed: 400 INVALID_ARGUMENT with a BadRequest naming the hint,
// and nothing stored or queued.
func TestSubmitRejectsMissingModel(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.cfg.Models = lang.Models{"eng": true}
	body := strings.Replace(camelBody, `"features"`, `"imageContext": {"languageHints": ["en", "ja"]}, "features"`, 1)
	rec := b.serve(t, http.MethodPost, "/v1/files:asyncBatchAnnotate", body)
	e := parseError(t, rec, http.StatusBadRequest, "INVALID_ARGUMENT")
	const want = `requests[0].imageContext.languageHints[1]: language hint "ja" needs the Tesseract model jpn, which is not installed (Debian package tesseract-ocr-jpn)`
	if e.Error.Message != want {
		t.Errorf("message = %q, want %q", e.Error.Message, want)
	}
	if len(e.Error.Details) != 1 {
		t.Fatalf("details = %s, want one BadRequest", e.Error.Details)
	}
	br := &errdetails.BadRequest{}
	if err := unmarshalAnyJSON(e.Error.Details[0], br); err != nil {
		t.Fatal(err)
	}
	if fv := br.GetFieldViolations(); len(fv) != 1 || fv[0].GetField() != "requests[0].imageContext.languageHints[1]" {
		t.Errorf("field violations = %v, want one for requests[0].imageContext.languageHints[1]", fv)
	}
	if n := b.ops.count(); n != 0 {
		t.Errorf("%d operations stored, want 0", n)
	}
	if q := b.queue.enqueued(); len(q) != 0 {
		t.Errorf("enqueued %v, want nothing", q)
	}

	// The same request with installed hints goes through.
	body = strings.Replace(camelBody, `"features"`, `"image_context": {"language_hints": ["en-US"]}, "features"`, 1)
	if rec := b.serve(t, http.MethodPost, "/v1/files:asyncBatchAnnotate", body); rec.Code != http.StatusOK {
		t.Errorf("status = %d, want 200; body %s", rec.Code, rec.Body)
	}
}

func TestValidateRequestNil(t *testing.T) {
	t.Parallel()
	if err := validateRequest(nil, nil); err == nil || !strings.Contains(err.Error(), "requests") {
		t.Errorf("validateRequest(nil, nil) = %v, want an error naming requests", err)
	}
}

func TestValidateRequestDoesNotChangeRequest(t *testing.T) {
	t.Parallel()
	req := validRequest()
	req.Requests[0].OutputConfig.BatchSize = 0
	if err := validateRequest(req, nil); err != nil {
		t.Fatal(err)
	}
	if got := req.Requests[0].OutputConfig.BatchSize; got != 0 {
		t.Errorf("batchSize = %d after validation, want 0 (kept as sent)", got)
	}
}

// violations returns the field violations of an INVALID_ARGUMENT error
// with a google.rpc.BadRequest detail, and whether err is one.
func violations(err error) ([]*errdetails.BadRequest_FieldViolation, bool) {
	var e *rpcerr.Error
	if !errors.As(err, &e) || e.Code != codes.InvalidArgument || len(e.Details) != 1 {
		return nil, false
	}
	br, ok := e.Details[0].(*errdetails.BadRequest)
	if !ok {
		return nil, false
	}
	return br.GetFieldViolations(), true
}

func TestSplitVerb(t *testing.T) {
	t.Parallel()
	tests := []struct {
		path       string
		name, verb string
		ok         bool
	}{
		{"operations/abc", "operations/abc", "", true},
		{"operations/abc:cancel", "operations/abc", "cancel", true},
		{"locations/eu/operations/abc", "locations/eu/operations/abc", "", true},
		{"projects/p/operations/abc:cancel", "projects/p/operations/abc", "cancel", true},
		{"projects/p/locations/us/operations/abc", "projects/p/locations/us/operations/abc", "", true},
		{"projects/example.com:p/operations/abc", "projects/example.com:p/operations/abc", "", true},
		{"operations", "", "", false},
		{"operations/", "", "", false},
		{"operations/a/b", "", "", false},
		{"operations/a:b:cancel", "", "", false},
		{"projects/p/files:asyncBatchAnnotate", "", "", false},
		{"files:asyncBatchAnnotate", "", "", false},
		{"projects//operations/abc", "", "", false},
		{"projects/p/zones/z/operations/abc", "", "", false},
		{"operations/{x}", "", "", false},
		{"operations/..", "", "", false},
		{"", "", "", false},
	}
	for _, tt := range tests {
		name, verb, ok := splitVerb(tt.path)
		got := []any{name, verb, ok}
		want := []any{tt.name, tt.verb, tt.ok}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("splitVerb(%q) (-want +got):\n%s", tt.path, diff)
		}
	}
}

func TestOperationID(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]string{
		"operations/abc": "abc", "locations/eu/operations/abc": "abc",
		"projects/p/operations/abc": "abc", "projects/p/locations/l/operations/abc": "abc",
	} {
		if got, err := operationID(name); got != want || err != nil {
			t.Errorf("operationID(%q) = %q, %v; want %q", name, got, err, want)
		}
	}
	for _, name := range []string{"", "operations", "abc", "operations/a/b", "projects/p/abc", "operations/{x}"} {
		if _, err := operationID(name); rpcerr.Code(err) != codes.NotFound {
			t.Errorf("operationID(%q) = %v, want NOT_FOUND", name, err)
		}
	}
}
