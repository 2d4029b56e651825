package jobs

import (
	"fmt"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"github.com/hibiken/asynq"
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
// it meets a task that has an owner: the api has keys and it has not.
// Refusals are permanent PERMISSION_DENIED errors naming the key and the
// URI (auth.Source.Check, which the api uses too), which fail the file.
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
	if owner == "" {
		return permanent(rpcerr.Errorf(codes.PermissionDenied,
			"the operation was created without an API key, and this worker requires one"))
	}
	accesses := make([]auth.Access, 0, len(inputs)+len(outputs))
	for _, uri := range inputs {
		accesses = append(accesses, auth.Access{URI: uri})
	}
	for _, uri := range outputs {
		accesses = append(accesses, auth.Access{URI: uri, Write: true})
	}
	if err := h.Keys.Check(owner, accesses); err != nil {
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
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
