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

// lowest is the lowest port Addr draws from.
const lowest = 10000

// given holds the ports Addr returned in this process, which it never
// returns again: a caller may not have bound its last one yet.
var given sync.Map

// Addr returns 127.0.0.1:port for a port nothing listened on a moment ago.
//
// The port comes from below the kernel's ephemeral range, where outgoing
// connections never get their local port: a port from the ephemeral range
// (what listening on :0 gives) can be taken by any process's next connect
// between the check and the listen, and tests connect to Redis all the
// time. A port is returned once per process; only another process's
// listener that picks the same number can race it.
func Addr() (string, error) {
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
		addr := l.Addr().String()
		if err := l.Close(); err != nil {
			return "", fmt.Errorf("freeport: %w", err)
		}
		return addr, nil
	}
	return fromKernel()
}

// fromKernel asks the kernel for a port of its ephemeral range, one that
// Addr has not returned.
func fromKernel() (string, error) {
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", fmt.Errorf("freeport: %w", err)
		}
		addr := l.Addr().(*net.TCPAddr)
		_ = l.Close()
		if _, taken := given.LoadOrStore(addr.Port, true); !taken {
			return addr.String(), nil
		}
	}
	return "", fmt.Errorf("freeport: no port the kernel gives is new")
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
