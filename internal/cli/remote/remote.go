// Package remote is the folio command's client of a Folio (or Google Cloud
// Vision) endpoint: it submits files:asyncBatchAnnotate through Google's Go
// client over REST or gRPC, reads operations and Folio's progress
// extension, cancels and lists operations, and retries what a restarting
// server answers (UNAVAILABLE, HTTP 502-504, a refused or reset
// connection) with backoff.
package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	lroauto "cloud.google.com/go/longrunning/autogen"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	vision "cloud.google.com/go/vision/v2/apiv1"
	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"github.com/googleapis/gax-go/v2/callctx"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/folio-ocr/folio/progresspb"
)

// Transports the client speaks.
const (
	REST = "rest"
	GRPC = "grpc"
)

// Config says where and how to connect.
type Config struct {
	// Endpoint is http(s)://host:port for REST or host:port for gRPC.
	Endpoint string
	// Transport is REST or GRPC; "" picks REST for an http:// or https://
	// endpoint and gRPC otherwise.
	Transport string
	// APIKey, when set, is sent as x-goog-api-key with every call.
	APIKey string
	// RetryFor bounds how long one call is retried while the server is
	// unavailable; 0 means 5 minutes.
	RetryFor time.Duration
}

// Resolve returns the transport and the endpoint in the form that
// transport takes: a URL for REST (http:// added when there is no scheme),
// host:port for gRPC (a scheme removed).
func (c Config) Resolve() (transport, endpoint string, err error) {
	ep := strings.TrimRight(c.Endpoint, "/")
	hasScheme := strings.HasPrefix(ep, "http://") || strings.HasPrefix(ep, "https://")
	transport = c.Transport
	if transport == "" {
		transport = GRPC
		if hasScheme {
			transport = REST
		}
	}
	switch transport {
	case REST:
		if !hasScheme {
			ep = "http://" + ep
		}
		if _, err := url.Parse(ep); err != nil {
			return "", "", fmt.Errorf("endpoint %q: %w", c.Endpoint, err)
		}
	case GRPC:
		ep = strings.TrimPrefix(strings.TrimPrefix(ep, "http://"), "https://")
	default:
		return "", "", fmt.Errorf("transport %q: want %q or %q", transport, REST, GRPC)
	}
	if ep == "" || ep == "http://" {
		return "", "", errors.New("no endpoint: set FOLIO_ENDPOINT or --endpoint")
	}
	return transport, ep, nil
}

// Client is a connection to the endpoint.
type Client struct {
	vision *vision.ImageAnnotatorClient
	// lro is the operations client: the REST ImageAnnotatorClient leaves
	// its LROClient field nil (vision v2.17.1), so one is made here.
	lro       *lroauto.OperationsClient
	transport string
	endpoint  string
	http      *http.Client              // REST
	progress  progresspb.ProgressClient // gRPC
	conn      *grpc.ClientConn          // gRPC
	retryFor  time.Duration
}

// Dial connects to the endpoint of cfg (gRPC connects lazily).
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	transport, ep, err := cfg.Resolve()
	if err != nil {
		return nil, err
	}
	c := &Client{transport: transport, endpoint: ep, retryFor: cfg.RetryFor}
	if c.retryFor == 0 {
		c.retryFor = 5 * time.Minute
	}
	if transport == REST {
		c.http = &http.Client{Transport: apiKeyTransport{key: cfg.APIKey, next: http.DefaultTransport}}
		c.vision, err = vision.NewImageAnnotatorRESTClient(ctx,
			option.WithEndpoint(ep), option.WithoutAuthentication(), option.WithHTTPClient(c.http))
		if err == nil {
			c.lro, err = lroauto.NewOperationsRESTClient(ctx, option.WithEndpoint(ep), option.WithHTTPClient(c.http))
		}
	} else {
		dial := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
		if cfg.APIKey != "" {
			dial = append(dial, grpc.WithUnaryInterceptor(apiKeyInterceptor(cfg.APIKey)))
		}
		c.conn, err = grpc.NewClient(ep, dial...)
		if err != nil {
			return nil, fmt.Errorf("connect to %s: %w", ep, err)
		}
		c.progress = progresspb.NewProgressClient(c.conn)
		c.vision, err = vision.NewImageAnnotatorClient(ctx, option.WithGRPCConn(c.conn))
		if err == nil {
			c.lro, err = lroauto.NewOperationsClient(ctx, option.WithGRPCConn(c.conn))
		}
	}
	if err != nil {
		return nil, fmt.Errorf("connect to %s over %s: %w", ep, transport, err)
	}
	return c, nil
}

// Close closes the connection.
func (c *Client) Close() error {
	err := c.vision.Close()
	if c.lro != nil {
		err = errors.Join(err, c.lro.Close())
	}
	if c.conn != nil {
		err = errors.Join(err, c.conn.Close())
	}
	return err
}

// Transport returns REST or GRPC.
func (c *Client) Transport() string { return c.transport }

// Endpoint returns the endpoint as the transport uses it.
func (c *Client) Endpoint() string { return c.endpoint }

// apiKeyTransport adds x-goog-api-key to every request.
type apiKeyTransport struct {
	key  string
	next http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (t apiKeyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if t.key != "" {
		r = r.Clone(r.Context())
		r.Header.Set("x-goog-api-key", t.key)
	}
	return t.next.RoundTrip(r)
}

// apiKeyInterceptor adds x-goog-api-key metadata to every unary call.
func apiKeyInterceptor(key string) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		return invoker(metadata.AppendToOutgoingContext(ctx, "x-goog-api-key", key), method, req, reply, cc, opts...)
	}
}

// OperationName returns the operation name for an argument: "operations/"
// is added to a bare id.
func OperationName(arg string) string {
	if strings.Contains(arg, "/") {
		return arg
	}
	return "operations/" + arg
}

// Submit starts one files:asyncBatchAnnotate operation for reqs with
// idempotency key key ("" for none) and returns its name. With a key, a
// call that failed as unavailable is retried: the server returns the
// operation it may have started.
func (c *Client) Submit(ctx context.Context, key string, reqs []*visionpb.AsyncAnnotateFileRequest) (string, error) {
	if key != "" {
		ctx = callctx.SetHeaders(ctx, "idempotency-key", key)
	}
	var name string
	call := func(ctx context.Context) error {
		op, err := c.vision.AsyncBatchAnnotateFiles(ctx, &visionpb.AsyncBatchAnnotateFilesRequest{Requests: reqs})
		if err != nil {
			return err
		}
		name = op.Name()
		return nil
	}
	var err error
	if key == "" {
		err = call(ctx)
	} else {
		err = c.retry(ctx, call)
	}
	if err != nil {
		return "", fmt.Errorf("submit %d files: %w", len(reqs), err)
	}
	return name, nil
}

// Operation returns the named operation, retrying while the server is
// unavailable.
func (c *Client) Operation(ctx context.Context, name string) (*longrunningpb.Operation, error) {
	var op *longrunningpb.Operation
	err := c.retry(ctx, func(ctx context.Context) error {
		var err error
		op, err = c.lro.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: name})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", name, err)
	}
	return op, nil
}

// Metadata decodes the OperationMetadata of op; nil if it has none.
func Metadata(op *longrunningpb.Operation) *visionpb.OperationMetadata {
	m := &visionpb.OperationMetadata{}
	if op.GetMetadata() == nil || op.GetMetadata().UnmarshalTo(m) != nil {
		return nil
	}
	return m
}

// ErrNoProgress is returned by Progress when the endpoint does not serve
// Folio's progress extension (Google's does not).
var ErrNoProgress = errors.New("the endpoint does not serve folio.v1.Progress")

// Progress returns Folio's progress of the named operation, retrying while
// the server is unavailable. An endpoint without the extension gives
// ErrNoProgress.
func (c *Client) Progress(ctx context.Context, name string) (*progresspb.OperationProgress, error) {
	var p *progresspb.OperationProgress
	err := c.retry(ctx, func(ctx context.Context) error {
		var err error
		if c.transport == GRPC {
			p, err = c.progress.GetProgress(ctx, &progresspb.GetProgressRequest{Name: name})
		} else {
			p, err = c.restProgress(ctx, name)
		}
		return err
	})
	if code := status.Code(err); code == codes.Unimplemented || code == codes.NotFound && c.transport == REST {
		// REST answers an unknown path 404 too; the caller knows the
		// operation exists.
		return nil, ErrNoProgress
	}
	if err != nil {
		return nil, fmt.Errorf("progress of %s: %w", name, err)
	}
	return p, nil
}

// restProgress calls GET /v1/{name}:progress once.
func (c *Client) restProgress(ctx context.Context, name string) (*progresspb.OperationProgress, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.endpoint+"/v1/"+name+":progress", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, status.Error(httpCode(resp.StatusCode), fmt.Sprintf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(body))))
	}
	p := &progresspb.OperationProgress{}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(body, p); err != nil {
		return nil, fmt.Errorf("decode progress: %w", err)
	}
	return p, nil
}

// httpCode maps an HTTP status to the google.rpc code Google's APIs pair
// with it.
func httpCode(s int) codes.Code {
	switch s {
	case http.StatusBadRequest:
		return codes.InvalidArgument
	case http.StatusUnauthorized:
		return codes.Unauthenticated
	case http.StatusForbidden:
		return codes.PermissionDenied
	case http.StatusNotFound:
		return codes.NotFound
	case http.StatusTooManyRequests:
		return codes.ResourceExhausted
	case http.StatusNotImplemented:
		return codes.Unimplemented
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return codes.Unavailable
	default:
		return codes.Unknown
	}
}

// Cancel asks the server to cancel the named operation.
func (c *Client) Cancel(ctx context.Context, name string) error {
	err := c.retry(ctx, func(ctx context.Context) error {
		return c.lro.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: name})
	})
	if err != nil {
		return fmt.Errorf("cancel %s: %w", name, err)
	}
	return nil
}

// List returns up to limit operations (newest first on Folio) matching
// filter ("" for all; Folio takes done=true, state=RUNNING, ...).
func (c *Client) List(ctx context.Context, filter string, limit int) ([]*longrunningpb.Operation, error) {
	var ops []*longrunningpb.Operation
	err := c.retry(ctx, func(ctx context.Context) error {
		ops = nil
		it := c.lro.ListOperations(ctx, &longrunningpb.ListOperationsRequest{Name: "operations", Filter: filter, PageSize: int32(min(limit, 1000))})
		for len(ops) < limit {
			op, err := it.Next()
			if errors.Is(err, iterator.Done) {
				return nil
			}
			if err != nil {
				return err
			}
			ops = append(ops, op)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list operations: %w", err)
	}
	return ops, nil
}
