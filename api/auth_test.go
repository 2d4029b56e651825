package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	lroauto "cloud.google.com/go/longrunning/autogen"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	vision "cloud.google.com/go/vision/v2/apiv1"
	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"github.com/googleapis/gax-go/v2/apierror"
	"go.uber.org/zap/zaptest"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/folio-ocr/folio/auth"
	"github.com/folio-ocr/folio/store"
	"github.com/folio-ocr/folio/store/storetest"
)

// Secrets of the keys of the auth tests.
const (
	billingSecret = "billing-0123456789abcdef"
	legalSecret   = "legal-0123456789abcdef"
	limitedSecret = "limited-0123456789abcdef"
)

// authKeys is the keys file of the auth tests: billing may read
// gs://bucket/ and write gs://bucket/out/; legal only gs://legal/; limited
// has a quota of 6 requests per minute and 1 page in flight.
const authKeys = `{"keys": [
  {"name": "billing", "key": "` + billingSecret + `", "inputs": ["gs://bucket"], "outputs": ["gs://bucket/out/"]},
  {"name": "legal", "sha256": "%s", "inputs": ["gs://legal/"], "outputs": ["gs://legal/out/"]},
  {"name": "limited", "key": "` + limitedSecret + `", "requestsPerMinute": 6, "pagesInFlight": 1}
]}`

// authServer is a Service with authentication on over the real Redis
// store, served over REST and gRPC.
type authServer struct {
	keysFile string
	keys     *auth.Source
	ops      *store.RedisOperations
	restURL  string
	grpcAddr string
}

func newAuthServer(t *testing.T) *authServer {
	t.Helper()
	if testing.Short() {
		t.Skip("needs Redis")
	}
	rdb, prefix := storetest.Redis(t)
	as := &authServer{ops: store.NewRedisOperations(rdb, &store.RedisOptions{Prefix: prefix})}
	as.keysFile = filepath.Join(t.TempDir(), "keys.json")
	writeKeys(t, as.keysFile, fmt.Sprintf(authKeys, sha256Hex(legalSecret)))
	var err error
	if as.keys, err = auth.Load("", as.keysFile); err != nil {
		t.Fatal(err)
	}
	b := setup(t)
	b.cfg.Ops, b.cfg.Keys, b.cfg.Quotas, b.cfg.Sync = as.ops, as.keys, as.ops, &fakeSync{}
	b.cfg.Now = time.Now // the quota's minutes are real
	svc := b.service(t)

	srv := httptest.NewServer(NewHandler(svc, nil))
	t.Cleanup(srv.Close)
	as.restURL = srv.URL
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := NewGRPCServer(svc, nil)
	go func() { _ = gs.Serve(ln) }()
	t.Cleanup(func() { gs.Shutdown(context.Background()) })
	as.grpcAddr = ln.Addr().String()
	return as
}

func writeKeys(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// clients returns Google's Vision and Operations clients over transport
// that send secret as Google's clients send an API key (option.WithAPIKey:
// x-goog-api-key); an empty secret sends none.
func (as *authServer) clients(t *testing.T, transport, secret string) (*vision.ImageAnnotatorClient, *lroauto.OperationsClient) {
	t.Helper()
	ctx := context.Background()
	var opts []option.ClientOption
	if secret == "" {
		opts = append(opts, option.WithoutAuthentication())
	} else {
		opts = append(opts, option.WithAPIKey(secret))
	}
	var (
		vc  *vision.ImageAnnotatorClient
		lc  *lroauto.OperationsClient
		err error
	)
	if transport == "rest" {
		opts = append(opts, option.WithEndpoint(as.restURL))
		if vc, err = vision.NewImageAnnotatorRESTClient(ctx, opts...); err == nil {
			lc, err = lroauto.NewOperationsRESTClient(ctx, opts...)
		}
	} else {
		opts = append(opts, option.WithEndpoint(as.grpcAddr),
			option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
		if secret != "" {
			// Google's gRPC transport sends an API key only over TLS; over
			// an insecure connection the key goes as the same metadata.
			opts = append(opts[1:], option.WithoutAuthentication(),
				option.WithGRPCDialOption(grpc.WithUnaryInterceptor(apiKeyInterceptor(secret))))
		}
		if vc, err = vision.NewImageAnnotatorClient(ctx, opts...); err == nil {
			lc, err = lroauto.NewOperationsClient(ctx, opts...)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = vc.Close(); _ = lc.Close() })
	return vc, lc
}

// apiKeyInterceptor adds x-goog-api-key metadata to every call.
func apiKeyInterceptor(secret string) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		return invoker(metadata.AppendToOutgoingContext(ctx, "x-goog-api-key", secret), method, req, reply, cc, opts...)
	}
}

// wantAPIError fails t unless err has code c and a message containing each
// of msgs.
func wantAPIError(t *testing.T, what string, err error, c codes.Code, msgs ...string) *apierror.APIError {
	t.Helper()
	var ae *apierror.APIError
	if !errors.As(err, &ae) || ae.GRPCStatus().Code() != c {
		t.Errorf("%s = %v, want %v", what, err, c)
		return nil
	}
	for _, m := range msgs {
		if !strings.Contains(ae.GRPCStatus().Message(), m) {
			t.Errorf("%s: message %q does not contain %q", what, ae.GRPCStatus().Message(), m)
		}
	}
	return ae
}

// TestAuth checks API keys and their policy through Google's clients, on
// both transports: no key, a wrong key, bucket allowlists, operations
// visible only to their key, and reloading the keys file.
func TestAuth(t *testing.T) {
	as := newAuthServer(t)
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) { testAuth(t, as, tr) })
	}
}

func testAuth(t *testing.T, as *authServer, transport string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	anon, _ := as.clients(t, transport, "")
	_, err := anon.AsyncBatchAnnotateFiles(ctx, validRequest())
	wantAPIError(t, "submit without a key", err, codes.PermissionDenied, "missing a valid API key")

	wrong, _ := as.clients(t, transport, "not-a-key-0123456789")
	_, err = wrong.AsyncBatchAnnotateFiles(ctx, validRequest())
	if ae := wantAPIError(t, "submit with a wrong key", err, codes.InvalidArgument, "API key not valid"); ae != nil {
		if ae.Reason() != "API_KEY_INVALID" {
			t.Errorf("reason = %q, want API_KEY_INVALID", ae.Reason())
		}
	}

	billing, billingLRO := as.clients(t, transport, billingSecret)
	op, err := billing.AsyncBatchAnnotateFiles(ctx, validRequest())
	if err != nil {
		t.Fatalf("billing submits in its buckets: %v", err)
	}

	// The second file reads outside billing's inputs: refused, naming it.
	req := validRequest()
	req.Requests[1].InputConfig.GcsSource.Uri = "gs://legal/contract.pdf"
	_, err = billing.AsyncBatchAnnotateFiles(ctx, req)
	wantAPIError(t, "billing reads gs://legal/", err, codes.PermissionDenied,
		"requests[1].inputConfig.gcsSource.uri", `"billing" may not read gs://legal/contract.pdf`, "gs://bucket/")
	req = validRequest()
	req.Requests[0].OutputConfig.GcsDestination.Uri = "gs://bucket/elsewhere/"
	_, err = billing.AsyncBatchAnnotateFiles(ctx, req)
	wantAPIError(t, "billing writes outside out/", err, codes.PermissionDenied,
		"requests[0].outputConfig.gcsDestination.uri", "may not write to gs://bucket/elsewhere/")
	// A prefix is not a bucket-name prefix: gs://bucket2 is another bucket.
	req = validRequest()
	req.Requests[0].InputConfig.GcsSource.Uri = "gs://bucket2/a.pdf"
	_, err = billing.AsyncBatchAnnotateFiles(ctx, req)
	wantAPIError(t, "billing reads gs://bucket2", err, codes.PermissionDenied, "gs://bucket2/a.pdf")
	_, err = billing.BatchAnnotateImages(ctx, &visionpb.BatchAnnotateImagesRequest{Requests: []*visionpb.AnnotateImageRequest{{
		Image:    &visionpb.Image{Source: &visionpb.ImageSource{GcsImageUri: "gs://legal/scan.png"}},
		Features: []*visionpb.Feature{{Type: visionpb.Feature_TEXT_DETECTION}},
	}}})
	wantAPIError(t, "billing images:annotate of gs://legal/", err, codes.PermissionDenied, "requests[0].image.source.gcsImageUri")

	// legal's key is configured by digest; it does not see billing's
	// operation, by name or in lists, and cannot cancel or delete it.
	_, legalLRO := as.clients(t, transport, legalSecret)
	_, err = legalLRO.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: op.Name()})
	wantAPIError(t, "legal gets billing's operation", err, codes.NotFound, op.Name())
	err = legalLRO.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: op.Name()})
	wantAPIError(t, "legal cancels billing's operation", err, codes.NotFound)
	err = legalLRO.DeleteOperation(ctx, &longrunningpb.DeleteOperationRequest{Name: op.Name()})
	wantAPIError(t, "legal deletes billing's operation", err, codes.NotFound)
	if names := listNames(t, legalLRO); len(names) != 0 {
		t.Errorf("legal lists %v, want nothing", names)
	}
	if names := listNames(t, billingLRO); !contains(names, op.Name()) {
		t.Errorf("billing lists %v, want %s among them", names, op.Name())
	}
	if _, err := billingLRO.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: op.Name()}); err != nil {
		t.Errorf("billing gets its operation: %v", err)
	}
	got, err := as.ops.Get(ctx, op.Name()[strings.LastIndex(op.Name(), "/")+1:])
	if err != nil || got.Owner != "billing" {
		t.Errorf("stored owner = %v, %v; want billing", got, err)
	}
}

func listNames(t *testing.T, lc *lroauto.OperationsClient) []string {
	t.Helper()
	var names []string
	it := lc.ListOperations(context.Background(), &longrunningpb.ListOperationsRequest{Name: "operations"})
	for {
		op, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return names
		}
		if err != nil {
			t.Fatalf("ListOperations: %v", err)
		}
		names = append(names, op.GetName())
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// TestAuthQuotas checks both quotas on both transports: over either, the
// answer is 429 RESOURCE_EXHAUSTED with a retry hint (RetryInfo, and
// Retry-After on REST).
func TestAuthQuotas(t *testing.T) {
	as := newAuthServer(t)
	ctx := context.Background()

	// One page in flight: the first submission (two files, unplanned)
	// holds two; the next is refused until it finishes.
	limited, limitedLRO := as.clients(t, "grpc", limitedSecret)
	idem := metadata.AppendToOutgoingContext(ctx, "idempotency-key", "batch-1")
	op, err := limited.AsyncBatchAnnotateFiles(idem, validRequest())
	if err != nil {
		t.Fatal(err)
	}
	// A retry of the accepted submission is answered with it, not refused
	// for the pages it holds itself.
	again, err := limited.AsyncBatchAnnotateFiles(idem, validRequest())
	if err != nil || again.Name() != op.Name() {
		t.Fatalf("retry with the idempotency key: %v, %v; want %s", again, err, op.Name())
	}
	_, err = limited.AsyncBatchAnnotateFiles(ctx, validRequest())
	if ae := wantAPIError(t, "second submission", err, codes.ResourceExhausted, `"limited" has 2 pages in flight, at its quota of 1`); ae != nil {
		if ri := ae.Details().RetryInfo; ri == nil || ri.GetRetryDelay().AsDuration() != pagesRetryDelay {
			t.Errorf("RetryInfo = %v, want %v", ri, pagesRetryDelay)
		}
	}
	if names := listNames(t, limitedLRO); len(names) != 1 {
		t.Errorf("operations after a refused submission: %v, want only %s", names, op.Name())
	}
	if err := limitedLRO.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: op.Name()}); err != nil {
		t.Fatal(err)
	}
	// Six calls a minute, counted in Redis across transports: five gRPC
	// calls so far, so the second REST call is over (unless the minute
	// turned; then the seventh of the new one is).
	var resp *http.Response
	for range 10 {
		r, err := http.Get(as.restURL + "/v1/operations?key=" + limitedSecret)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, r.Body)
		_ = r.Body.Close()
		if resp = r; r.StatusCode == http.StatusTooManyRequests {
			break
		}
	}
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("status = %d, want 429", resp.StatusCode)
	}
	if ra := resp.Header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("Retry-After = %q, want seconds to the next minute", ra)
	}
	_, err = limitedLRO.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: op.Name()})
	if ae := wantAPIError(t, "gRPC call over the rate", err, codes.ResourceExhausted, "requests per minute"); ae != nil {
		var qf *errdetails.QuotaFailure
		if qf = ae.Details().QuotaFailure; qf == nil || qf.GetViolations()[0].GetSubject() != "key:limited" {
			t.Errorf("QuotaFailure = %v", qf)
		}
	}
}

// TestAuthCredentialForms sends the key as each REST form (?key=,
// x-goog-api-key, Authorization: Bearer) and gRPC metadata form.
func TestAuthCredentialForms(t *testing.T) {
	as := newAuthServer(t)
	get := func(mut func(*http.Request)) int {
		r, _ := http.NewRequest(http.MethodGet, as.restURL+"/v1/operations", nil)
		mut(r)
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct {
		name string
		mut  func(*http.Request)
		want int
	}{
		{"query", func(r *http.Request) { r.URL.RawQuery = "key=" + billingSecret }, 200},
		{"header", func(r *http.Request) { r.Header.Set("x-goog-api-key", billingSecret) }, 200},
		{"bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+billingSecret) }, 200},
		{"bad bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer nope") }, 401},
		{"basic", func(r *http.Request) { r.SetBasicAuth("u", billingSecret) }, 403},
		{"none", func(*http.Request) {}, 403},
		{"bad key", func(r *http.Request) { r.URL.RawQuery = "key=nope" }, 400},
	} {
		if got := get(tc.mut); got != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, got, tc.want)
		}
	}
	// Probes need no key.
	if got := get(func(r *http.Request) { r.URL.Path = "/healthz" }); got != 200 {
		t.Errorf("/healthz: %d, want 200", got)
	}

	conn, err := grpc.NewClient(as.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	lc := longrunningpb.NewOperationsClient(conn)
	for _, tc := range []struct {
		name string
		md   []string
		want codes.Code
	}{
		{"x-goog-api-key", []string{"x-goog-api-key", billingSecret}, codes.OK},
		{"bearer", []string{"authorization", "Bearer " + billingSecret}, codes.OK},
		{"none", nil, codes.PermissionDenied},
	} {
		ctx := metadata.AppendToOutgoingContext(context.Background(), tc.md...)
		_, err := lc.ListOperations(ctx, &longrunningpb.ListOperationsRequest{Name: "operations"})
		if got := grpcCode(err); got != tc.want {
			t.Errorf("gRPC %s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

func grpcCode(err error) codes.Code { return status.Code(err) }

func sha256Hex(s string) string {
	d := sha256.Sum256([]byte(s))
	return hex.EncodeToString(d[:])
}

// TestAuthReload edits the keys file while the server runs: a new key
// works within a reload interval, a removed one stops, and a broken file
// keeps the keys in force.
func TestAuthReload(t *testing.T) {
	as := newAuthServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go as.keys.Watch(ctx, 50*time.Millisecond, zaptest.NewLogger(t))

	const newSecret = "newcomer-0123456789abcdef"
	status := func(secret string) int {
		resp, err := http.Get(as.restURL + "/v1/operations?key=" + secret)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	eventually := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !ok(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 5 s", what)
			}
		}
	}
	if status(newSecret) != 400 {
		t.Fatal("an unknown key is accepted")
	}
	writeKeys(t, as.keysFile, `{"keys": [{"name": "newcomer", "key": "`+newSecret+`"}]}`)
	eventually("the new key works", func() bool { return status(newSecret) == 200 })
	if got := status(billingSecret); got != 400 {
		t.Errorf("removed key: status %d, want 400", got)
	}
	writeKeys(t, as.keysFile, `{"keys": [{"name": "newcomer", "key": "short"}]}`)
	time.Sleep(300 * time.Millisecond)
	if got := status(newSecret); got != 200 {
		t.Errorf("after a broken file: status %d, want 200 (the last good keys)", got)
	}
}

// A policy widened in the keys file applies to the next call, before the
// file is reloaded on its schedule (nothing watches it here).
func TestAuthWidenedPolicy(t *testing.T) {
	as := newAuthServer(t)
	billing, _ := as.clients(t, "rest", billingSecret)
	req := validRequest()
	req.Requests[1].InputConfig.GcsSource.Uri = "gs://legal/contract.pdf"
	_, err := billing.AsyncBatchAnnotateFiles(context.Background(), req)
	wantAPIError(t, "before the edit", err, codes.PermissionDenied, "gs://legal/contract.pdf")
	writeKeys(t, as.keysFile, strings.Replace(fmt.Sprintf(authKeys, sha256Hex(legalSecret)),
		`"inputs": ["gs://bucket"]`, `"inputs": ["gs://bucket", "gs://legal/"]`, 1))
	if _, err := billing.AsyncBatchAnnotateFiles(context.Background(), req); err != nil {
		t.Errorf("after widening billing's inputs: %v", err)
	}
}
