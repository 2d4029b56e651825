// Package gcsemu runs fake-gcs-server, the Cloud Storage emulator,
// in-process over plain HTTP on a loopback port that it holds from the
// moment the port is chosen: a port closed and opened again by number can
// be taken in between by any process's next connect. For tests (through
// store/storetest) and the bench.
package gcsemu

import (
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/fsouza/fake-gcs-server/fakestorage"
)

// Emulator is a running fake-gcs-server.
type Emulator struct {
	*fakestorage.Server
	// Host is its host:port, the value STORAGE_EMULATOR_HOST takes.
	Host string
	http *http.Server
}

// Start starts an emulator on a free port of 127.0.0.1 with the given
// buckets. Stop it with Stop.
func Start(buckets ...string) (*Emulator, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("gcsemu: %w", err)
	}
	host := l.Addr().String()
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{
		Scheme:      "http",
		Host:        "127.0.0.1",
		NoListener:  true,
		ExternalURL: "http://" + host,
		PublicHost:  host,
	})
	if err != nil {
		_ = l.Close()
		return nil, fmt.Errorf("gcsemu: start fake-gcs-server: %w", err)
	}
	e := &Emulator{Server: srv, Host: host,
		http: &http.Server{Handler: srv.HTTPHandler(), ReadHeaderTimeout: time.Minute}}
	go func() { _ = e.http.Serve(l) }()
	for _, b := range buckets {
		srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: b})
	}
	return e, nil
}

// Stop closes the emulator's port and its connections and stops it.
func (e *Emulator) Stop() {
	_ = e.http.Close()
	e.Server.Stop()
}
