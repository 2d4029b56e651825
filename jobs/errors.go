package jobs

import (
	"errors"
	"fmt"
	"strings"

	"github.com/hibiken/asynq"
	"google.golang.org/grpc/codes"

	"github.com/folio-ocr/folio/pipeline"
	"github.com/folio-ocr/folio/rpcerr"
)

// fileFailure builds the client-facing error of a file. Permanent failures
// skip asynq's retries.
func fileFailure(uri string, err error) error {
	code := rpcerr.Code(err)
	var msg string
	switch {
	case errors.Is(err, pipeline.ErrEncrypted):
		msg = fmt.Sprintf("%s is an encrypted (password-protected) PDF", uri)
	case errors.Is(err, pipeline.ErrInvalidInput):
		msg = fmt.Sprintf("%s: %s", uri, detail(err))
	case code == codes.NotFound:
		msg = fmt.Sprintf("%s does not exist", uri)
	case code == codes.PermissionDenied:
		msg = fmt.Sprintf("permission denied reading %s", uri)
	case code == codes.Unimplemented:
		msg = fmt.Sprintf("%s: %s", uri, detail(err))
	default:
		msg = fmt.Sprintf("error processing %s", uri)
	}
	f := &rpcerr.Error{Code: code, Message: msg, Err: err}
	if rpcerr.Permanent(f) {
		return fmt.Errorf("%w: %w", f, asynq.SkipRetry)
	}
	return f
}

// detail is err's text without package prefixes, for client messages.
func detail(err error) string {
	s := err.Error()
	for _, p := range []string{"pipeline: ", "store: ", "jobs: "} {
		s = strings.ReplaceAll(s, p, "")
	}
	return strings.TrimSuffix(s, ": "+pipeline.ErrInvalidInput.Error())
}
