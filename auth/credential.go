package auth

import (
	"context"
	"net/http"
	"strings"

	"google.golang.org/grpc/metadata"
)

// Kind says how a caller presented its credential.
type Kind int

const (
	// None: no credential.
	None Kind = iota
	// APIKey: the key query parameter or the x-goog-api-key header, as
	// Google's client libraries send an API key.
	APIKey
	// Bearer: an Authorization: Bearer header.
	Bearer
)

// Credential is what a caller presented.
type Credential struct {
	Kind   Kind
	Secret string
}

// FromHTTP returns the credential of r: the key query parameter, then the
// x-goog-api-key header, then Authorization: Bearer.
func FromHTTP(r *http.Request) Credential {
	if k := r.URL.Query().Get("key"); k != "" {
		return Credential{APIKey, k}
	}
	if k := r.Header.Get("X-Goog-Api-Key"); k != "" {
		return Credential{APIKey, k}
	}
	return bearer(r.Header.Get("Authorization"))
}

// FromMetadata returns the credential of a gRPC call's incoming metadata:
// x-goog-api-key, then authorization: Bearer.
func FromMetadata(ctx context.Context) Credential {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get("x-goog-api-key"); len(v) > 0 && v[0] != "" {
		return Credential{APIKey, v[0]}
	}
	if v := md.Get("authorization"); len(v) > 0 {
		return bearer(v[0])
	}
	return Credential{}
}

// bearer parses an Authorization header value.
func bearer(h string) Credential {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return Credential{}
	}
	return Credential{Bearer, strings.TrimSpace(tok)}
}

type credentialKey struct{}

// WithCredential returns ctx carrying c, for the Service to look up.
func WithCredential(ctx context.Context, c Credential) context.Context {
	return context.WithValue(ctx, credentialKey{}, c)
}

// CredentialFrom returns the credential ctx carries, or the zero Credential.
func CredentialFrom(ctx context.Context) Credential {
	c, _ := ctx.Value(credentialKey{}).(Credential)
	return c
}

type keyCtxKey struct{}

// WithKey returns ctx carrying the key a call was admitted with.
func WithKey(ctx context.Context, k *Key) context.Context {
	return context.WithValue(ctx, keyCtxKey{}, k)
}

// KeyFrom returns the key ctx carries (see WithKey), or nil.
func KeyFrom(ctx context.Context) *Key {
	k, _ := ctx.Value(keyCtxKey{}).(*Key)
	return k
}

// OwnerFrom returns the name of the key ctx carries, or "" without one.
func OwnerFrom(ctx context.Context) string {
	if k := KeyFrom(ctx); k != nil {
		return k.Name
	}
	return ""
}
