// Package freeport picks loopback TCP ports for the processes that tests,
// benchmarks and local runs start, which must be told a port before they
// listen on it.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

// lowest is the lowest port Port draws from.
const lowest = 10000

// given holds the ports Port returned in this process, which it never
// returns again: a caller may not have bound its last one yet.
var given sync.Map

// Addr returns 127.0.0.1:port for a port from [Port].
func Addr() (string, error) {
	port, err := Port()
	if err != nil {
		return "", err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), nil
}

// Port returns a port of 127.0.0.1 that nothing listened on a moment ago.
//
// The port comes from below the kernel's ephemeral range, where outgoing
// connections never get their local port: a port from the ephemeral range
// (what listening on :0 gives) can be taken by any process's next connect
// between the check and the listen, and tests connect to Redis all the
// time. A port is returned once per process; only another process's
// listener that picks the same number can race it.
func Port() (int, error) {
	high := ephemeralLow()
	if high-lowest < 1000 {
		return fromKernel()
	}
	for range 100 {
		port := lowest + rand.IntN(high-lowest)
		if _, taken := given.LoadOrStore(port, true); taken {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		if err := l.Close(); err != nil {
			return 0, fmt.Errorf("freeport: %w", err)
		}
		return port, nil
	}
	return fromKernel()
}

// fromKernel asks the kernel for a port of its ephemeral range, one that
// Port has not returned.
func fromKernel() (int, error) {
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("freeport: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		if _, taken := given.LoadOrStore(port, true); !taken {
			return port, nil
		}
	}
	return 0, fmt.Errorf("freeport: no port the kernel gives is new")
}

// ephemeralLow is the first port of Linux's ephemeral range, or 32768
// (its default) where that cannot be read.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 32768
	}
	n, err := strconv.Atoi(f[0])
	if err != nil {
		return 32768
	}
	return n
}
