package api

import (
	"context"
	"fmt"
	"time"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/folio-ocr/folio/auth"
	"github.com/folio-ocr/folio/rpcerr"
	"github.com/folio-ocr/folio/store"
)

// pagesRetryDelay is the retry hint of a submission refused for its key's
// pages in flight: how soon some of them are likely to have finished.
const pagesRetryDelay = 30 * time.Second

// admit identifies the caller of a call when authentication is on, and
// counts the call against its key's requests-per-minute quota. It returns
// ctx carrying the key, so that a method calling another (WaitOperation
// calls GetOperation) admits once, and the key; with authentication off,
// ctx and a nil key. Errors are the client's, as Google answers them:
// PERMISSION_DENIED without a credential, INVALID_ARGUMENT with an unknown
// API key, UNAUTHENTICATED with a bearer token that is no key;
// RESOURCE_EXHAUSTED over the quota. The transports call it before they
// read a request, so that a caller without a key learns that first and
// cannot make the server parse large bodies.
func (s *Service) admit(ctx context.Context) (context.Context, *auth.Key, error) {
	if s.keys == nil {
		return ctx, nil, nil
	}
	if k := auth.KeyFrom(ctx); k != nil {
		return ctx, k, nil
	}
	cred := auth.CredentialFrom(ctx)
	if cred.Kind == auth.None {
		return ctx, nil, &rpcerr.Error{Code: codes.PermissionDenied,
			Message: "The request is missing a valid API key: pass one as the key query parameter, the x-goog-api-key header or Authorization: Bearer.",
			Details: []proto.Message{&errdetails.ErrorInfo{Reason: "CREDENTIALS_MISSING", Domain: "googleapis.com"}}}
	}
	k, ok := s.keys.Keyring().Lookup(cred.Secret)
	if !ok {
		// Another api process may have seen an edit of the keys file
		// first: look at it again (a stat when it did not change).
		k, ok = s.keys.Refresh().Lookup(cred.Secret)
	}
	if !ok {
		if cred.Kind == auth.Bearer {
			return ctx, nil, rpcerr.Errorf(codes.Unauthenticated,
				"the request had invalid authentication credentials: the bearer token is not a valid API key")
		}
		return ctx, nil, &rpcerr.Error{Code: codes.InvalidArgument,
			Message: "API key not valid. Please pass a valid API key.",
			Details: []proto.Message{&errdetails.ErrorInfo{Reason: "API_KEY_INVALID", Domain: "googleapis.com"}}}
	}
	if err := s.countCall(ctx, k); err != nil {
		return ctx, nil, err
	}
	return auth.WithKey(ctx, k), k, nil
}

// countCall applies k's requests-per-minute quota.
func (s *Service) countCall(ctx context.Context, k *auth.Key) error {
	if k.RequestsPerMinute <= 0 || s.quotas == nil {
		return nil
	}
	now := s.now()
	n, err := s.quotas.CountCall(ctx, k.Name, now)
	if err != nil {
		return fmt.Errorf("api: count call: %w", err)
	}
	if n <= k.RequestsPerMinute {
		return nil
	}
	retry := time.Duration(60-now.Unix()%60) * time.Second
	return quotaError(k, fmt.Sprintf("API key %q made %d requests this minute, over its quota of %d requests per minute; retry in %d s",
		k.Name, n, k.RequestsPerMinute, int(retry.Seconds())), "requests per minute", retry)
}

// checkPages refuses a call while k's unfinished operations, other than
// the own pages the call's just-created operation adds (0 for a call that
// creates none), hold its quota of pages in flight. An operation is
// created before it is checked, so that submissions racing each other see
// each other.
func (s *Service) checkPages(ctx context.Context, k *auth.Key, own int64) error {
	if k == nil || k.PagesInFlight <= 0 || s.quotas == nil {
		return nil
	}
	n, err := s.quotas.OwnerPagesPending(ctx, k.Name)
	if err != nil {
		return fmt.Errorf("api: pages in flight: %w", err)
	}
	if n -= own; n < k.PagesInFlight {
		return nil
	}
	return quotaError(k, fmt.Sprintf("API key %q has %d pages in flight, at its quota of %d; retry when some have finished",
		k.Name, n, k.PagesInFlight), "pages in flight", pagesRetryDelay)
}

// quotaError is RESOURCE_EXHAUSTED with Google's details: which quota
// (QuotaFailure, ErrorInfo) and when to retry (RetryInfo, which the REST
// surface also sends as Retry-After).
func quotaError(k *auth.Key, msg, quota string, retry time.Duration) error {
	return &rpcerr.Error{Code: codes.ResourceExhausted, Message: "Quota exceeded: " + msg + ".",
		Details: []proto.Message{
			&errdetails.ErrorInfo{Reason: "RATE_LIMIT_EXCEEDED", Domain: "folio",
				Metadata: map[string]string{"key": k.Name, "quota": quota}},
			&errdetails.QuotaFailure{Violations: []*errdetails.QuotaFailure_Violation{{
				Subject: "key:" + k.Name, Description: msg}}},
			&errdetails.RetryInfo{RetryDelay: durationpb.New(retry)},
		}}
}

// checkAccess is PERMISSION_DENIED unless k (nil: authentication off) may
// make every access (see [auth.Source.Check]).
func (s *Service) checkAccess(k *auth.Key, accesses []auth.Access) error {
	if k == nil {
		return nil
	}
	return s.keys.Check(k.Name, accesses)
}

// filesAccesses are the input and output of every file request.
func filesAccesses(reqs []*visionpb.AsyncAnnotateFileRequest) []auth.Access {
	var as []auth.Access
	for i, r := range reqs {
		f := fmt.Sprintf("requests[%d]", i)
		as = append(as,
			auth.Access{Field: f + ".inputConfig.gcsSource.uri", URI: r.GetInputConfig().GetGcsSource().GetUri()},
			auth.Access{Field: f + ".outputConfig.gcsDestination.uri", URI: r.GetOutputConfig().GetGcsDestination().GetUri(), Write: true})
	}
	return as
}

// syncFilesAccesses are the gs:// inputs of files:annotate requests
// (inline content needs no permission).
func syncFilesAccesses(reqs []*visionpb.AnnotateFileRequest) []auth.Access {
	var as []auth.Access
	for i, r := range reqs {
		as = append(as, auth.Access{Field: fmt.Sprintf("requests[%d].inputConfig.gcsSource.uri", i), URI: r.GetInputConfig().GetGcsSource().GetUri()})
	}
	return as
}

// imagesAccesses are the gs:// images of an images request (inline
// content needs no permission) and its output, out ("" for none).
func imagesAccesses(reqs []*visionpb.AnnotateImageRequest, out string) []auth.Access {
	var as []auth.Access
	for i, r := range reqs {
		src := r.GetImage().GetSource()
		as = append(as,
			auth.Access{Field: fmt.Sprintf("requests[%d].image.source.gcsImageUri", i), URI: src.GetGcsImageUri()},
			auth.Access{Field: fmt.Sprintf("requests[%d].image.source.imageUri", i), URI: src.GetImageUri()})
	}
	return append(as, auth.Access{Field: "outputConfig.gcsDestination.uri", URI: out, Write: true})
}

// owns reports whether the caller k (nil: authentication off) may see op:
// only the key that created an operation sees it.
func owns(k *auth.Key, op *store.Operation) bool {
	return k == nil || op.Owner == k.Name
}

// ownerOf is the Owner recorded for an operation k creates.
func ownerOf(k *auth.Key) string {
	if k == nil {
		return ""
	}
	return k.Name
}

// scopedIdempotencyKey namespaces an idempotency key by the API key that
// uses it (owner, "" when authentication is off), so that two callers
// choosing the same key neither collide nor see each other's operation.
func scopedIdempotencyKey(owner, key string) string {
	if owner == "" || key == "" {
		return key
	}
	return "key:" + owner + "/" + key
}
