package auth

import (
	"google.golang.org/grpc/codes"

	"github.com/folio-ocr/folio/rpcerr"
)

// Access is one gs:// object a request reads, or one destination it
// writes, and the request field that names it ("" when there is none to
// name, as in a worker's task).
type Access struct {
	Field string
	URI   string
	Write bool
}

// Check returns nil if the key named owner may make every access (an empty
// URI is skipped), else a PERMISSION_DENIED *rpcerr.Error naming the field,
// the key, the URI and what the key may use, or saying that the key does
// not exist. The api and the workers both check through it. Before
// refusing it looks at the keys file again (Refresh): an edit another
// process already acted on (a new key, a wider policy) applies here too.
func (s *Source) Check(owner string, accesses []Access) error {
	if err := s.Keyring().check(owner, accesses); err == nil {
		return nil
	}
	if err := s.Refresh().check(owner, accesses); err != nil {
		return err
	}
	return nil
}

// check is Check against kr as it is.
func (kr *Keyring) check(owner string, accesses []Access) *rpcerr.Error {
	k, ok := kr.Named(owner)
	if !ok {
		return rpcerr.Errorf(codes.PermissionDenied, "API key %q that created the operation no longer exists", owner)
	}
	for _, a := range accesses {
		prefix := ""
		if a.Field != "" {
			prefix = a.Field + ": "
		}
		switch {
		case a.URI == "":
		case a.Write && !k.MayWrite(a.URI):
			return rpcerr.Errorf(codes.PermissionDenied, "%sAPI key %q may not write to %s (it may write to %s)",
				prefix, k.Name, a.URI, Describe(k.Outputs))
		case !a.Write && !k.MayRead(a.URI):
			return rpcerr.Errorf(codes.PermissionDenied, "%sAPI key %q may not read %s (it may read %s)",
				prefix, k.Name, a.URI, Describe(k.Inputs))
		}
	}
	return nil
}
