package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"github.com/google/go-cmp/cmp"
	"github.com/googleapis/gax-go/v2/apierror"
	"google.golang.org/api/googleapi"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/folio-ocr/folio/store"
)

// camelBody is a one-file request as curl users write it.
const camelBody = `{
  "requests": [{
    "inputConfig": {"gcsSource": {"uri": "gs://bucket/in.pdf"}, "mimeType": "application/pdf"},
    "features": [{"type": "DOCUMENT_TEXT_DETECTION"}],
    "outputConfig": {"gcsDestination": {"uri": "gs://bucket/out/"}, "batchSize": 2}
  }]
}`

// snakeIntBody is a request with snake_case names and enums as numbers,
// the way other client libraries write it.
const snakeIntBody = `{
  "requests": [{
    "input_config": {"gcs_source": {"uri": "gs://bucket/in.pdf"}, "mime_type": "application/pdf"},
    "features": [{"type": 11}, {"type": "TEXT_DETECTION"}],
    "output_config": {"gcs_destination": {"uri": "gs://bucket/out/"}, "batch_size": 2}
  }]
}`

// goClientQuery is the query Google's Go REST client sends.
const goClientQuery = "?%24alt=json%3Benum-encoding%3Dint"

// serve sends one request through b.handler(t) and returns the recorder.
func (b *testBundle) serve(t *testing.T, method, target, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	b.handler(t).ServeHTTP(rec, req)
	return rec
}

// parseOperation parses an operation as Google's Go client does.
func parseOperation(t *testing.T, rec *httptest.ResponseRecorder) *longrunningpb.Operation {
	t.Helper()
	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d, want 200; body %s", rec.Code, rec.Body)
	}
	op := &longrunningpb.Operation{}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(rec.Body.Bytes(), op); err != nil {
		t.Fatalf("parse operation %s: %v", rec.Body, err)
	}
	return op
}

// googleError is the error envelope as a test decodes it, strictly.
type googleError struct {
	Error struct {
		Code    int               `json:"code"`
		Message string            `json:"message"`
		Status  string            `json:"status"`
		Details []json.RawMessage `json:"details"`
	} `json:"error"`
}

// parseError checks that rec is a Google-shaped error with the given HTTP
// status and google.rpc code name, and returns it.
func parseError(t *testing.T, rec *httptest.ResponseRecorder, status int, code string) googleError {
	t.Helper()
	if rec.Code != status {
		t.Errorf("status = %d, want %d; body %s", rec.Code, status, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var e googleError
	dec := json.NewDecoder(strings.NewReader(rec.Body.String()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("decode error body %s: %v", rec.Body, err)
	}
	if e.Error.Code != status || e.Error.Status != code || e.Error.Message == "" {
		t.Errorf("error = {code %d, status %q, message %q}, want {%d, %q, non-empty}",
			e.Error.Code, e.Error.Status, e.Error.Message, status, code)
	}
	return e
}

func TestSubmit(t *testing.T) {
	t.Parallel()
	const (
		v1Meta   = "type.googleapis.com/google.cloud.vision.v1.OperationMetadata"
		betaMeta = "type.googleapis.com/google.cloud.vision.v1p4beta1.OperationMetadata"
	)
	tests := []struct {
		name        string
		path        string
		body        string
		wantName    string
		wantType    string
		wantVersion string
		// wantIntEnums: the answer carries "state":1, not "CREATED".
		wantIntEnums bool
	}{
		{"bare v1", "/v1/files:asyncBatchAnnotate", camelBody, "operations/0000000000000001", v1Meta, "v1", false},
		{"Go client query and int enums", "/v1/files:asyncBatchAnnotate" + goClientQuery, snakeIntBody, "operations/0000000000000001", v1Meta, "v1", true},
		{"raw semicolon query", "/v1/files:asyncBatchAnnotate?$alt=json;enum-encoding=int&key=abc&prettyPrint=false", camelBody, "operations/0000000000000001", v1Meta, "v1", true},
		{"system params ignored", "/v1/files:asyncBatchAnnotate?alt=json&key=k&fields=name&%24.xgafv=2&quotaUser=u&prettyPrint=true", camelBody, "operations/0000000000000001", v1Meta, "v1", false},
		{"project path", "/v1/projects/p1/files:asyncBatchAnnotate", camelBody, "projects/p1/operations/0000000000000001", v1Meta, "v1", false},
		{"location path", "/v1/projects/p1/locations/eu/files:asyncBatchAnnotate", camelBody, "projects/p1/locations/eu/operations/0000000000000001", v1Meta, "v1", false},
		{
			"body parent project", "/v1/files:asyncBatchAnnotate",
			strings.Replace(camelBody, `"requests"`, `"parent": "projects/p2", "requests"`, 1),
			"projects/p2/operations/0000000000000001", v1Meta, "v1", false,
		},
		{
			"body parent location", "/v1/files:asyncBatchAnnotate",
			strings.Replace(camelBody, `"requests"`, `"parent": "projects/p2/locations/us", "labels": {"env": "test"}, "requests"`, 1),
			"projects/p2/locations/us/operations/0000000000000001", v1Meta, "v1", false,
		},
		{
			"path and body parent agree", "/v1/projects/p3/files:asyncBatchAnnotate",
			strings.Replace(camelBody, `"requests"`, `"parent": "projects/p3", "requests"`, 1),
			"projects/p3/operations/0000000000000001", v1Meta, "v1", false,
		},
		{"v1p4beta1 bare", "/v1p4beta1/files:asyncBatchAnnotate", camelBody, "operations/0000000000000001", betaMeta, "v1p4beta1", false},
		{"v1p4beta1 project", "/v1p4beta1/projects/p/files:asyncBatchAnnotate", snakeIntBody, "projects/p/operations/0000000000000001", betaMeta, "v1p4beta1", false},
		{"v1p4beta1 location", "/v1p4beta1/projects/p/locations/asia/files:asyncBatchAnnotate", camelBody, "projects/p/locations/asia/operations/0000000000000001", betaMeta, "v1p4beta1", false},
		{
			"v1p4beta1 face recognition params", "/v1p4beta1/files:asyncBatchAnnotate",
			strings.Replace(camelBody, `"features"`, `"imageContext": {"faceRecognitionParams": {"celebritySet": ["x"]}}, "features"`, 1),
			"operations/0000000000000001", betaMeta, "v1p4beta1", false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			rec := b.serve(t, http.MethodPost, tt.path, tt.body)
			op := parseOperation(t, rec)

			if op.GetName() != tt.wantName {
				t.Errorf("name = %q, want %q", op.GetName(), tt.wantName)
			}
			if op.GetDone() || op.GetResult() != nil {
				t.Errorf("new operation has done %v, result %v; want neither", op.GetDone(), op.GetResult())
			}
			if strings.Contains(rec.Body.String(), `"done"`) {
				t.Errorf("body %s has a done key; false must be omitted", rec.Body)
			}
			if got := op.GetMetadata().GetTypeUrl(); got != tt.wantType {
				t.Errorf("metadata @type = %q, want %q", got, tt.wantType)
			}
			wantState := `"state":"CREATED"`
			if tt.wantIntEnums {
				wantState = `"state":1`
			}
			if !strings.Contains(rec.Body.String(), wantState) {
				t.Errorf("body %s does not contain %s", rec.Body, wantState)
			}
			if tt.wantType == v1Meta {
				md := &visionpb.OperationMetadata{}
				if err := op.GetMetadata().UnmarshalTo(md); err != nil {
					t.Fatalf("metadata: %v", err)
				}
				want := &visionpb.OperationMetadata{State: visionpb.OperationMetadata_CREATED}
				if diff := cmp.Diff(want, md, protocmp.Transform(),
					protocmp.IgnoreFields(md, "create_time", "update_time")); diff != "" {
					t.Errorf("metadata (-want +got):\n%s", diff)
				}
				if !md.GetCreateTime().AsTime().Equal(testNow) || !md.GetUpdateTime().AsTime().Equal(testNow) {
					t.Errorf("times = %v, %v; want %v", md.GetCreateTime().AsTime(), md.GetUpdateTime().AsTime(), testNow)
				}
			}

			stored := b.ops.get("0000000000000001")
			if stored == nil {
				t.Fatal("operation not stored")
			}
			if stored.Name != tt.wantName || stored.APIVersion != tt.wantVersion ||
				stored.State != visionpb.OperationMetadata_CREATED || !stored.CreateTime.Equal(testNow) {
				t.Errorf("stored = {%q %q %v %v}, want {%q %q CREATED %v}",
					stored.Name, stored.APIVersion, stored.State, stored.CreateTime, tt.wantName, tt.wantVersion, testNow)
			}
			in := stored.Request.GetRequests()[0]
			if in.GetInputConfig().GetGcsSource().GetUri() != "gs://bucket/in.pdf" ||
				in.GetFeatures()[0].GetType() != visionpb.Feature_DOCUMENT_TEXT_DETECTION ||
				in.GetOutputConfig().GetBatchSize() != 2 {
				t.Errorf("stored request = %v", stored.Request)
			}
			if diff := cmp.Diff([]string{"0000000000000001"}, b.queue.enqueued()); diff != "" {
				t.Errorf("enqueued (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSubmitKeepsRequestAsSent(t *testing.T) {
	t.Parallel()
	b := setup(t)
	body := strings.Replace(camelBody, `, "batchSize": 2`, "", 1)
	parseOperation(t, b.serve(t, http.MethodPost, "/v1/files:asyncBatchAnnotate", body))
	if got := b.ops.get("0000000000000001").Request.GetRequests()[0].GetOutputConfig().GetBatchSize(); got != 0 {
		t.Errorf("stored batchSize = %d, want 0 (absent, as sent)", got)
	}
}

func TestSubmitRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		path    string
		body    string
		wantMsg string
		// wantField, if set, must be the first BadRequest field violation.
		wantField string
	}{
		{"empty body", "/v1/files:asyncBatchAnnotate", "", "requests must contain at least one file request", "requests"},
		{"empty requests", "/v1/files:asyncBatchAnnotate", `{"requests": []}`, "requests must contain at least one file request", "requests"},
		{"not JSON", "/v1/files:asyncBatchAnnotate", `requests=1`, "invalid JSON payload received", ""},
		{"unknown field", "/v1/files:asyncBatchAnnotate", `{"requests": [], "colour": 1}`, `unknown field "colour"`, ""},
		{"unknown nested field", "/v1/files:asyncBatchAnnotate", strings.Replace(camelBody, `"mimeType"`, `"mime": 1, "mimeType"`, 1), `unknown field "mime"`, ""},
		{"unknown enum name", "/v1/files:asyncBatchAnnotate", strings.Replace(camelBody, `"DOCUMENT_TEXT_DETECTION"`, `"OCR"`, 1), "OCR", ""},
		{"parent on v1p4beta1", "/v1p4beta1/files:asyncBatchAnnotate", strings.Replace(camelBody, `"requests"`, `"parent": "projects/p", "requests"`, 1), `unknown field "parent"`, ""},
		{
			"parents differ", "/v1/projects/a/files:asyncBatchAnnotate",
			strings.Replace(camelBody, `"requests"`, `"parent": "projects/b", "requests"`, 1),
			`parent "projects/b" does not match the URL's parent "projects/a"`, "parent",
		},
		{
			"malformed body parent", "/v1/files:asyncBatchAnnotate",
			strings.Replace(camelBody, `"requests"`, `"parent": "folders/1", "requests"`, 1),
			`parent must be projects/{project} or projects/{project}/locations/{location}, got "folders/1"`, "parent",
		},
		{"http input", "/v1/files:asyncBatchAnnotate", strings.Replace(camelBody, "gs://bucket/in.pdf", "http://x", 1),
			`requests[0].inputConfig.gcsSource.uri must be a gs://bucket/object URI, got "http://x"`, "requests[0].inputConfig.gcsSource.uri"},
		{"batch size", "/v1/files:asyncBatchAnnotate", strings.Replace(camelBody, `"batchSize": 2`, `"batchSize": 101`, 1),
			"requests[0].outputConfig.batchSize must be in [1, 100], got 101", "requests[0].outputConfig.batchSize"},
		{"content", "/v1/files:asyncBatchAnnotate", strings.Replace(camelBody, `"mimeType"`, `"content": "JVBERi0=", "mimeType"`, 1),
			"requests[0].inputConfig.content is not supported", "requests[0].inputConfig.content"},
		{"oversized body", "/v1/files:asyncBatchAnnotate", `{"requests": [` + strings.Repeat(" ", 5000) + `]}`,
			"request payload size exceeds the limit: 4096 bytes", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			rec := b.serve(t, http.MethodPost, tt.path, tt.body)
			e := parseError(t, rec, http.StatusBadRequest, "INVALID_ARGUMENT")
			if !strings.Contains(e.Error.Message, tt.wantMsg) {
				t.Errorf("message = %q, want it to contain %q", e.Error.Message, tt.wantMsg)
			}
			if tt.wantField != "" {
				if len(e.Error.Details) != 1 {
					t.Fatalf("details = %s, want one BadRequest", e.Error.Details)
				}
				br := &errdetails.BadRequest{}
				if err := unmarshalAnyJSON(e.Error.Details[0], br); err != nil {
					t.Fatal(err)
				}
				if got := br.GetFieldViolations()[0].GetField(); got != tt.wantField {
					t.Errorf("field violation = %q, want %q", got, tt.wantField)
				}
			}
			if n := b.ops.count(); n != 0 {
				t.Errorf("%d operations stored, want 0", n)
			}
			if q := b.queue.enqueued(); len(q) != 0 {
				t.Errorf("enqueued %v, want nothing", q)
			}
		})
	}
}

// unmarshalAnyJSON parses the protojson form of an Any into m.
func unmarshalAnyJSON(raw []byte, m proto.Message) error {
	a := &anypb.Any{}
	if err := protojson.Unmarshal(raw, a); err != nil {
		return fmt.Errorf("parse detail %s: %w", raw, err)
	}
	return a.UnmarshalTo(m)
}

func TestSubmitEnqueueFailure(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.queue.err = errors.New("redis: connection refused")
	rec := b.serve(t, http.MethodPost, "/v1/files:asyncBatchAnnotate", camelBody)
	e := parseError(t, rec, http.StatusServiceUnavailable, "UNAVAILABLE")
	if strings.Contains(e.Error.Message, "connection refused") {
		t.Errorf("message %q leaks the internal error", e.Error.Message)
	}
	op := b.ops.get("0000000000000001")
	if op == nil || !op.Done || op.ErrorCode != 14 {
		t.Errorf("stored operation = %+v, want done with error code 14", op)
	}
}

func TestSubmitStoreFailure(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		err    error
		status int
		code   string
	}{
		{"unavailable", fmt.Errorf("fake: %w", store.ErrUnavailable), http.StatusServiceUnavailable, "UNAVAILABLE"},
		{"unclassified", errors.New("disk on fire"), http.StatusInternalServerError, "INTERNAL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.ops.err = tt.err
			e := parseError(t, b.serve(t, http.MethodPost, "/v1/files:asyncBatchAnnotate", camelBody), tt.status, tt.code)
			if strings.Contains(e.Error.Message, "fire") {
				t.Errorf("message %q leaks the internal error", e.Error.Message)
			}
			if q := b.queue.enqueued(); len(q) != 0 {
				t.Errorf("enqueued %v, want nothing", q)
			}
		})
	}
}

func TestSubmitRetriesIDClash(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.ops.put(&store.Operation{ID: "0000000000000001", Name: "operations/0000000000000001", Request: validRequest()})
	op := parseOperation(t, b.serve(t, http.MethodPost, "/v1/files:asyncBatchAnnotate", camelBody))
	if op.GetName() != "operations/0000000000000002" {
		t.Errorf("name = %q, want the second id", op.GetName())
	}
}

// putOperation stores a finished or running operation for the read tests.
func putOperation(b *testBundle, id, name, version string, state visionpb.OperationMetadata_State) {
	b.ops.put(&store.Operation{
		ID: id, Name: name, APIVersion: version, State: state,
		CreateTime: testNow, UpdateTime: testNow.Add(time.Minute),
		Request: validRequest(),
		Done:    state == visionpb.OperationMetadata_DONE,
	})
}

func TestGetOperation(t *testing.T) {
	t.Parallel()
	const stored = "projects/p/locations/eu/operations/00000000000000aa"
	tests := []struct {
		name   string
		target string
	}{
		{"operations", "/v1/operations/00000000000000aa"},
		{"projects", "/v1/projects/p/operations/00000000000000aa"},
		{"projects locations", "/v1/projects/p/locations/eu/operations/00000000000000aa"},
		{"locations", "/v1/locations/eu/operations/00000000000000aa"},
		{"Go client poll", "/v1/" + stored + goClientQuery},
		{"v1p4beta1 prefix", "/v1p4beta1/operations/00000000000000aa"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			putOperation(b, "00000000000000aa", stored, "v1", visionpb.OperationMetadata_RUNNING)
			op := parseOperation(t, b.serve(t, http.MethodGet, tt.target, ""))
			if op.GetName() != stored {
				t.Errorf("name = %q, want the stored %q", op.GetName(), stored)
			}
			md := &visionpb.OperationMetadata{}
			if err := op.GetMetadata().UnmarshalTo(md); err != nil {
				t.Fatal(err)
			}
			if md.GetState() != visionpb.OperationMetadata_RUNNING {
				t.Errorf("state = %v, want RUNNING", md.GetState())
			}
		})
	}
}

func TestGetOperationDoneV1p4beta1(t *testing.T) {
	t.Parallel()
	b := setup(t)
	putOperation(b, "00000000000000bb", "operations/00000000000000bb", "v1p4beta1", visionpb.OperationMetadata_DONE)
	rec := b.serve(t, http.MethodGet, "/v1/operations/00000000000000bb", "")
	op := parseOperation(t, rec)
	if !op.GetDone() {
		t.Fatalf("done = false; body %s", rec.Body)
	}
	for _, want := range []string{
		`"@type":"type.googleapis.com/google.cloud.vision.v1p4beta1.OperationMetadata"`,
		`"@type":"type.googleapis.com/google.cloud.vision.v1p4beta1.AsyncBatchAnnotateFilesResponse"`,
		`"state":"DONE"`,
		`"outputConfig":{"gcsDestination":{"uri":"gs://bucket/out/b-"},"batchSize":2}`,
	} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("body %s does not contain %s", rec.Body, want)
		}
	}
}

func TestGetOperationNotFound(t *testing.T) {
	t.Parallel()
	tests := []struct {
		target  string
		wantMsg string
	}{
		{"/v1/operations/xyz", "operation operations/xyz not found"},
		{"/v1/projects/p/operations/xyz", "operation projects/p/operations/xyz not found"},
	}
	for _, tt := range tests {
		b := setup(t)
		e := parseError(t, b.serve(t, http.MethodGet, tt.target, ""), http.StatusNotFound, "NOT_FOUND")
		if e.Error.Message != tt.wantMsg {
			t.Errorf("GET %s message = %q, want %q", tt.target, e.Error.Message, tt.wantMsg)
		}
	}
}

func TestCancelOperation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		target string
		body   string
	}{
		{"empty body", "/v1/operations/00000000000000aa:cancel", ""},
		{"empty object", "/v1/operations/00000000000000aa:cancel", "{}"},
		{"body with name", "/v1/projects/p/operations/00000000000000aa:cancel", `{"name": "projects/p/operations/00000000000000aa"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			putOperation(b, "00000000000000aa", "projects/p/operations/00000000000000aa", "v1", visionpb.OperationMetadata_RUNNING)
			rec := b.serve(t, http.MethodPost, tt.target, tt.body)
			if rec.Code != http.StatusOK || strings.TrimSpace(rec.Body.String()) != "{}" {
				t.Fatalf("cancel = %d %s, want 200 {}", rec.Code, rec.Body)
			}
			op := parseOperation(t, b.serve(t, http.MethodGet, "/v1/operations/00000000000000aa", ""))
			if !op.GetDone() || op.GetError().GetCode() != 1 {
				t.Errorf("after cancel: done %v, error %v; want done with code 1", op.GetDone(), op.GetError())
			}
			md := &visionpb.OperationMetadata{}
			if err := op.GetMetadata().UnmarshalTo(md); err != nil {
				t.Fatal(err)
			}
			if md.GetState() != visionpb.OperationMetadata_CANCELLED {
				t.Errorf("state = %v, want CANCELLED", md.GetState())
			}

			// Cancelling again, or cancelling a finished operation, is a no-op.
			if rec := b.serve(t, http.MethodPost, tt.target, tt.body); rec.Code != http.StatusOK {
				t.Errorf("second cancel = %d %s, want 200", rec.Code, rec.Body)
			}
		})
	}
}

func TestCancelFinishedOperation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	putOperation(b, "00000000000000aa", "operations/00000000000000aa", "v1", visionpb.OperationMetadata_DONE)
	if rec := b.serve(t, http.MethodPost, "/v1/operations/00000000000000aa:cancel", "{}"); rec.Code != http.StatusOK {
		t.Fatalf("cancel = %d %s, want 200", rec.Code, rec.Body)
	}
	op := parseOperation(t, b.serve(t, http.MethodGet, "/v1/operations/00000000000000aa", ""))
	if op.GetResponse() == nil {
		t.Errorf("finished operation lost its response after cancel: %v", op)
	}
}

func TestCancelRejects(t *testing.T) {
	t.Parallel()
	b := setup(t)
	putOperation(b, "00000000000000aa", "operations/00000000000000aa", "v1", visionpb.OperationMetadata_RUNNING)
	parseError(t, b.serve(t, http.MethodPost, "/v1/operations/xyz:cancel", ""), http.StatusNotFound, "NOT_FOUND")
	parseError(t, b.serve(t, http.MethodPost, "/v1/operations/00000000000000aa:cancel", `{"name": "operations/other"}`), http.StatusBadRequest, "INVALID_ARGUMENT")
	parseError(t, b.serve(t, http.MethodPost, "/v1/operations/00000000000000aa:cancel", `{"force": true}`), http.StatusBadRequest, "INVALID_ARGUMENT")
	parseError(t, b.serve(t, http.MethodPost, "/v1/operations/00000000000000aa:pause", ""), http.StatusNotFound, "NOT_FOUND")
	if op := b.ops.get("00000000000000aa"); op.Done {
		t.Errorf("rejected cancels ended the operation: %+v", op)
	}
}

func TestDeleteOperation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	putOperation(b, "00000000000000aa", "projects/p/operations/00000000000000aa", "v1", visionpb.OperationMetadata_RUNNING)
	rec := b.serve(t, http.MethodDelete, "/v1/projects/p/operations/00000000000000aa", "")
	if rec.Code != http.StatusOK || strings.TrimSpace(rec.Body.String()) != "{}" {
		t.Fatalf("delete = %d %s, want 200 {}", rec.Code, rec.Body)
	}
	parseError(t, b.serve(t, http.MethodGet, "/v1/operations/00000000000000aa", ""), http.StatusNotFound, "NOT_FOUND")
	parseError(t, b.serve(t, http.MethodDelete, "/v1/operations/00000000000000aa", ""), http.StatusNotFound, "NOT_FOUND")
}

func TestListOperations(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// Five operations, newest last; 2 and 4 are done.
	for i := 1; i <= 5; i++ {
		state := visionpb.OperationMetadata_RUNNING
		if i%2 == 0 {
			state = visionpb.OperationMetadata_DONE
		}
		id := fmt.Sprintf("%016x", i)
		putOperation(b, id, "operations/"+id, "v1", state)
	}
	list := func(query string) *longrunningpb.ListOperationsResponse {
		t.Helper()
		rec := b.serve(t, http.MethodGet, "/v1/operations"+query, "")
		if rec.Code != http.StatusOK {
			t.Fatalf("list%s = %d %s", query, rec.Code, rec.Body)
		}
		resp := &longrunningpb.ListOperationsResponse{}
		if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(rec.Body.Bytes(), resp); err != nil {
			t.Fatal(err)
		}
		return resp
	}
	names := func(resp *longrunningpb.ListOperationsResponse) []string {
		var out []string
		for _, op := range resp.GetOperations() {
			out = append(out, op.GetName()[len("operations/")+14:])
		}
		return out
	}

	if diff := cmp.Diff([]string{"05", "04", "03", "02", "01"}, names(list(""))); diff != "" {
		t.Errorf("list all (-want +got):\n%s", diff)
	}

	var pages [][]string
	token := ""
	for range 5 {
		resp := list("?pageSize=2&pageToken=" + token)
		pages = append(pages, names(resp))
		token = resp.GetNextPageToken()
		if token == "" {
			break
		}
	}
	if diff := cmp.Diff([][]string{{"05", "04"}, {"03", "02"}, {"01"}}, pages); diff != "" {
		t.Errorf("pages (-want +got):\n%s", diff)
	}

	if diff := cmp.Diff([]string{"04", "02"}, names(list("?filter=done%3Dtrue"))); diff != "" {
		t.Errorf("done=true (-want +got):\n%s", diff)
	}
	resp := list("?filter=done+%3D+false&pageSize=2")
	if diff := cmp.Diff([]string{"05", "03"}, names(resp)); diff != "" {
		t.Errorf("done = false, page 1 (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"01"}, names(list("?filter=done%3Dfalse&pageSize=2&pageToken="+resp.GetNextPageToken()))); diff != "" {
		t.Errorf("done = false, page 2 (-want +got):\n%s", diff)
	}

	for _, q := range []string{"?pageSize=x", "?pageSize=-1", "?filter=name%3Dx"} {
		parseError(t, b.serve(t, http.MethodGet, "/v1/operations"+q, ""), http.StatusBadRequest, "INVALID_ARGUMENT")
	}
}

func TestListOperationsBigPageSize(t *testing.T) {
	t.Parallel()
	b := setup(t)
	putOperation(b, "00000000000000aa", "operations/00000000000000aa", "v1", visionpb.OperationMetadata_RUNNING)
	rec := b.serve(t, http.MethodGet, "/v1/operations?pageSize=100000", "")
	if rec.Code != http.StatusOK {
		t.Fatalf("list = %d %s", rec.Code, rec.Body)
	}
}

func TestUnknownRoutes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		method, target string
		status         int
		code           string
	}{
		{http.MethodGet, "/", http.StatusNotFound, "NOT_FOUND"},
		{http.MethodGet, "/v2/operations/x", http.StatusNotFound, "NOT_FOUND"},
		{http.MethodGet, "/v1/files:asyncBatchAnnotate", http.StatusNotFound, "NOT_FOUND"},
		{http.MethodPut, "/v1/operations/x", http.StatusNotFound, "NOT_FOUND"},
		{http.MethodPost, "/v1/operations", http.StatusNotFound, "NOT_FOUND"},
		{http.MethodGet, "/v1/operations/x:cancel", http.StatusNotFound, "NOT_FOUND"},
		{http.MethodPost, "/v1/projects/p/zones/z/files:asyncBatchAnnotate", http.StatusNotFound, "NOT_FOUND"},
		// Without a SyncAnnotator (the tests' default), the synchronous calls
		// are UNIMPLEMENTED.
		{http.MethodPost, "/v1/files:annotate", http.StatusNotImplemented, "UNIMPLEMENTED"},
		{http.MethodPost, "/v1/projects/p/images:annotate", http.StatusNotImplemented, "UNIMPLEMENTED"},
		{http.MethodPost, "/v1p4beta1/images:asyncBatchAnnotate", http.StatusBadRequest, "INVALID_ARGUMENT"},
	}
	for _, tt := range tests {
		b := setup(t)
		parseError(t, b.serve(t, tt.method, tt.target, ""), tt.status, tt.code)
	}
}

func TestHealth(t *testing.T) {
	t.Parallel()
	b := setup(t)
	if rec := b.serve(t, http.MethodGet, "/healthz", ""); rec.Code != http.StatusOK {
		t.Errorf("/healthz = %d", rec.Code)
	}
	if rec := b.serve(t, http.MethodGet, "/readyz", ""); rec.Code != http.StatusOK {
		t.Errorf("/readyz = %d while ready", rec.Code)
	}
	b.readyErr = errors.New("dial tcp: connection refused")
	if rec := b.serve(t, http.MethodGet, "/readyz", ""); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("/readyz = %d while Redis is down, want 503", rec.Code)
	}
	if rec := b.serve(t, http.MethodGet, "/healthz", ""); rec.Code != http.StatusOK {
		t.Errorf("/healthz = %d while Redis is down, want 200", rec.Code)
	}
}

// TestErrorParsesInGoogleClient checks that Google's Go client libraries
// read Folio's errors: googleapi.CheckResponse, then apierror.FromError as
// the REST transport does, giving the gRPC code and the BadRequest detail.
func TestErrorParsesInGoogleClient(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		method    string
		target    string
		body      string
		wantCode  codes.Code
		wantField string
	}{
		{"validation", http.MethodPost, "/v1/files:asyncBatchAnnotate", strings.Replace(camelBody, `"batchSize": 2`, `"batchSize": 101`, 1),
			codes.InvalidArgument, "requests[0].outputConfig.batchSize"},
		{"not found", http.MethodGet, "/v1/operations/nope", "", codes.NotFound, ""},
		{"unimplemented", http.MethodPost, "/v1/files:annotate", "{}", codes.Unimplemented, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			rec := b.serve(t, tt.method, tt.target, tt.body)
			err := googleapi.CheckResponse(rec.Result())
			if err == nil {
				t.Fatalf("CheckResponse = nil for %d %s", rec.Code, rec.Body)
			}
			ae, ok := apierror.FromError(err)
			if !ok {
				t.Fatalf("apierror.FromError(%v) failed", err)
			}
			if got := ae.GRPCStatus().Code(); got != tt.wantCode {
				t.Errorf("code = %v, want %v", got, tt.wantCode)
			}
			if tt.wantField != "" {
				br := ae.Details().BadRequest
				if br == nil || len(br.GetFieldViolations()) == 0 || br.GetFieldViolations()[0].GetField() != tt.wantField {
					t.Errorf("BadRequest = %v, want a violation of %s", br, tt.wantField)
				}
			}
		})
	}
}

func TestPanicIsInternal(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.cfg.Ops = panicOps{} // Any operation call now panics.
	parseError(t, b.serve(t, http.MethodGet, "/v1/operations/x", ""), http.StatusInternalServerError, "INTERNAL")
}

// panicOps panics on every call: its embedded interface is nil.
type panicOps struct{ store.Operations }
