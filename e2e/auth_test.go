package e2e

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	vision "cloud.google.com/go/vision/v2/apiv1"
	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"github.com/googleapis/gax-go/v2/apierror"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/folio-ocr/folio/internal/localrun"
	"github.com/folio-ocr/folio/internal/pdfgen"
)

const (
	teamSecret = "team-0123456789abcdef"
	lateSecret = "late-0123456789abcdef"
)

// teamKeys allows team gs://<bucket>/team/ in and gs://<bucket>/team-out/ out.
var teamKeys = `{"keys":[{"name":"team","key":"` + teamSecret + `",
  "inputs":["gs://` + bucket + `/team/"],"outputs":["gs://` + bucket + `/team-out/","gs://` + bucket + `/team/"]}]}`

// keyClient returns Google's Vision client over transport sending secret
// as an API key: option.WithAPIKey on REST; on plaintext gRPC, where
// Google's Go client sends an API key only over TLS, the same
// x-goog-api-key metadata added by an interceptor.
func (f *folio) keyClient(transport, secret string) *vision.ImageAnnotatorClient {
	f.t.Helper()
	ctx := testContext(f.t, time.Minute)
	var (
		c   *vision.ImageAnnotatorClient
		err error
	)
	if transport == "grpc" {
		withKey := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			return invoker(metadata.AppendToOutgoingContext(ctx, "x-goog-api-key", secret), method, req, reply, cc, opts...)
		}
		c, err = vision.NewImageAnnotatorClient(ctx, option.WithEndpoint(f.GRPC), option.WithoutAuthentication(),
			option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
			option.WithGRPCDialOption(grpc.WithUnaryInterceptor(withKey)))
	} else {
		c, err = vision.NewImageAnnotatorRESTClient(ctx, option.WithEndpoint(f.API), option.WithAPIKey(secret))
	}
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { _ = c.Close() })
	return c
}

// The api and the worker as processes with API_KEYS_FILE: Google's clients
// with a key run an operation in the key's buckets over both transports;
// outside them, or without a key, the call is refused; a key added to the
// file while both run works at once, in the api and in the worker.
func TestAPIKeys(t *testing.T) {
	keysFile := filepath.Join(t.TempDir(), "keys.json")
	if err := os.WriteFile(keysFile, []byte(teamKeys), 0o600); err != nil {
		t.Fatal(err)
	}
	f := start(t, 1, func(o *localrun.Options) { o.Env = append(o.Env, "API_KEYS_FILE="+keysFile) })
	ctx := testContext(t, 3*time.Minute)
	doc := f.Upload("team/doc.pdf", pdfgen.Document(3))
	out := "gs://" + bucket + "/team-out/"

	for _, tr := range []string{"rest", "grpc"} {
		c := f.keyClient(tr, teamSecret)
		op, err := c.AsyncBatchAnnotateFiles(ctx, &visionpb.AsyncBatchAnnotateFilesRequest{
			Requests: []*visionpb.AsyncAnnotateFileRequest{request(doc, out+tr+"/", 2)}})
		if err != nil {
			t.Fatalf("%s: submit with the team key: %v", tr, err)
		}
		if _, err := wait(ctx, t, op); err != nil {
			t.Fatalf("%s: operation: %v", tr, err)
		}
		if n := f.Count("team-out/" + tr + "/"); n != 2 {
			t.Errorf("%s: %d outputs, want 2", tr, n)
		}
		_, err = c.AsyncBatchAnnotateFiles(ctx, &visionpb.AsyncBatchAnnotateFilesRequest{
			Requests: []*visionpb.AsyncAnnotateFileRequest{request("gs://"+bucket+"/private/x.pdf", out, 2)}})
		wantStatus(t, tr+": outside the key's inputs", err, codes.PermissionDenied, "gs://"+bucket+"/private/x.pdf")
		_, err = f.clientOver(tr).AsyncBatchAnnotateFiles(ctx, &visionpb.AsyncBatchAnnotateFilesRequest{
			Requests: []*visionpb.AsyncAnnotateFileRequest{request(doc, out, 2)}})
		wantStatus(t, tr+": without a key", err, codes.PermissionDenied, "missing a valid API key")
	}

	// The folio command with FOLIO_API_KEY, over both transports: in the
	// key's prefix it runs; in another, the refusal names the object.
	in := t.TempDir()
	writeFiles(t, in, map[string][]byte{"cli.pdf": pdfgen.Document(2)})
	for _, ep := range []string{f.API, f.GRPC} {
		env := []string{"FOLIO_ENDPOINT=" + ep, "FOLIO_API_KEY=" + teamSecret, "FOLIO_PREFIX=team/"}
		if stdout, stderr, code := f.runFolio(env, "annotate", in, "--out", t.TempDir(), "--poll-interval", "100ms"); code != 0 {
			t.Errorf("folio annotate with the team key (%s): status %d\n%s%s", ep, code, stdout, stderr)
		}
		env[2] = "FOLIO_PREFIX=private/"
		stdout, stderr, code := f.runFolio(env, "annotate", in, "--out", t.TempDir(), "--poll-interval", "100ms")
		if code == 0 || !strings.Contains(stdout+stderr, "may not read gs://"+bucket+"/private/") {
			t.Errorf("folio annotate outside the key's prefix (%s): status %d\n%s%s", ep, code, stdout, stderr)
		}
	}

	// A key added while both processes run: the api knows it at once, and
	// so does the worker that plans its file.
	late := strings.TrimSuffix(teamKeys, "]}") + `,{"name":"late","key":"` + lateSecret + `"}]}`
	if err := os.WriteFile(keysFile+".new", []byte(late), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(keysFile+".new", keysFile); err != nil {
		t.Fatal(err)
	}
	op, err := f.keyClient("rest", lateSecret).AsyncBatchAnnotateFiles(ctx, &visionpb.AsyncBatchAnnotateFilesRequest{
		Requests: []*visionpb.AsyncAnnotateFileRequest{request(doc, "gs://"+bucket+"/late-out/", 3)}})
	if err != nil {
		t.Fatalf("submit with the key just added: %v", err)
	}
	if _, err := wait(ctx, t, op); err != nil {
		t.Fatalf("operation of the key just added: %v", err)
	}
}

func wantStatus(t *testing.T, what string, err error, c codes.Code, msg string) {
	t.Helper()
	var ae *apierror.APIError
	if !errors.As(err, &ae) || ae.GRPCStatus().Code() != c || !strings.Contains(ae.GRPCStatus().Message(), msg) {
		t.Errorf("%s: %v, want %v containing %q", what, err, c, msg)
	}
}
