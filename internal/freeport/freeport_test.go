package freeport

import (
	"math/rand/v2"
	"net"
	"strconv"
	"testing"
)

// below skips t where Port cannot draw from below the ephemeral range.
func below(t *testing.T) int {
	t.Helper()
	high := ephemeralLow()
	if high-lowest < 1000 {
		t.Skipf("the ephemeral range starts at %d: Port asks the kernel", high)
	}
	return high
}

func TestAddrIsFreeNewAndBelowTheEphemeralRange(t *testing.T) {
	high := below(t)
	seen := map[string]bool{}
	for range 50 {
		addr, err := Addr()
		if err != nil {
			t.Fatal(err)
		}
		_, ps, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatal(err)
		}
		if p, _ := strconv.Atoi(ps); p < lowest || p >= high {
			t.Errorf("port %d is outside [%d, %d)", p, lowest, high)
		}
		if seen[addr] {
			t.Errorf("%s returned twice", addr)
		}
		seen[addr] = true
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("%s was given as free: %v", addr, err)
		}
		_ = l.Close()
	}
}

func TestPortSkipsPortsInUse(t *testing.T) {
	// Listen on 800 ports of the range that Port draws from (3.5% of it),
	// which Port has never returned; of 300 draws, with no check of the
	// port, about ten would land on one of them.
	high := below(t)
	held := map[int]bool{}
	for len(held) < 800 {
		p := lowest + rand.IntN(high-lowest)
		if _, taken := given.Load(p); taken || held[p] {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue // another process's
		}
		t.Cleanup(func() { _ = l.Close() })
		held[p] = true
	}
	for range 300 {
		p, err := Port()
		if err != nil {
			t.Fatal(err)
		}
		if held[p] {
			t.Fatalf("Port returned %d, which this test listens on", p)
		}
	}
}
