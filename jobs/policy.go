package jobs

import (
	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"google.golang.org/grpc/codes"

	"github.com/folio-ocr/folio/auth"
	"github.com/folio-ocr/folio/rpcerr"
)

// authorize checks, when the worker has API keys (Handlers.Keys), that the
// key named owner may still read every gs:// input and write every output
// of a task. The api checked the same at submit; the worker checks again
// because a key's policy may have changed or the key been removed since
// (the keys file is reloaded), and so that work queued before
// authentication was turned on does not run unchecked. A task without an
// owner, or of a key the worker does not hold, is refused. (Whoever can
// write tasks into Redis can name any owner: Redis itself must be
// private.) A worker without keys checks nothing, and says so once when
// it meets a task that has an owner: the api has keys and it has not. Refusals are permanent PERMISSION_DENIED
// errors naming the key and the URI, which fail the file. A refusal reads
// the keys file again first (auth.Source.Refresh).
func (h *Handlers) authorize(owner string, inputs, outputs []string) error {
	if h.Keys == nil {
		if owner != "" {
			h.warnNoKeys.Do(func() {
				h.Logger.Warn("a task carries an API key but this worker has none (API_KEYS_FILE or API_KEYS): " +
					"bucket policies are not checked again here; give the workers the api's keys")
			})
		}
		return nil
	}
	err := check(h.Keys.Keyring(), owner, inputs, outputs)
	if err != nil {
		// The api may have reloaded an edited keys file (a new key, a
		// wider policy) before this worker did: read it again before
		// refusing for good.
		err = check(h.Keys.Refresh(), owner, inputs, outputs)
	}
	return err
}

// check is authorize against the keys kr.
func check(kr *auth.Keyring, owner string, inputs, outputs []string) error {
	if owner == "" {
		return permanent(rpcerr.Errorf(codes.PermissionDenied,
			"the operation was created without an API key, and this worker requires one"))
	}
	k, ok := kr.Named(owner)
	if !ok {
		return permanent(rpcerr.Errorf(codes.PermissionDenied,
			"API key %q that created the operation no longer exists", owner))
	}
	for _, uri := range inputs {
		if uri != "" && !k.MayRead(uri) {
			return permanent(rpcerr.Errorf(codes.PermissionDenied,
				"API key %q may not read %s (it may read %s)", owner, uri, auth.Describe(k.Inputs)))
		}
	}
	for _, uri := range outputs {
		if uri != "" && !k.MayWrite(uri) {
			return permanent(rpcerr.Errorf(codes.PermissionDenied,
				"API key %q may not write to %s (it may write to %s)", owner, uri, auth.Describe(k.Outputs)))
		}
	}
	return nil
}

// imageURIs returns the gs:// sources of images requests, for authorize.
func imageURIs(reqs []*visionpb.AnnotateImageRequest) []string {
	var uris []string
	for _, r := range reqs {
		src := r.GetImage().GetSource()
		uris = append(uris, src.GetGcsImageUri(), src.GetImageUri())
	}
	return uris
}

// fileURIs returns the gs:// sources of files:annotate requests.
func fileURIs(reqs []*visionpb.AnnotateFileRequest) []string {
	var uris []string
	for _, r := range reqs {
		uris = append(uris, r.GetInputConfig().GetGcsSource().GetUri())
	}
	return uris
}
