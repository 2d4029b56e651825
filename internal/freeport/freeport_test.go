package freeport

import (
	"math/rand/v2"
	"net"
	"strconv"
	"testing"
)

// below skips t where Addr cannot draw from below the ephemeral range.
func below(t *testing.T) int {
	t.Helper()
	high := ephemeralLow()
	if high-lowest < 1000 {
		t.Skipf("the ephemeral range starts at %d: Addr asks the kernel", high)
	}
	return high
}

func port(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestAddrIsFreeNewAndBelowTheEphemeralRange(t *testing.T) {
	high := below(t)
	seen := map[string]bool{}
	for range 50 {
		addr, err := Addr()
		if err != nil {
			t.Fatal(err)
		}
		if p := port(t, addr); p < lowest || p >= high {
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

func TestAddrSkipsPortsInUse(t *testing.T) {
	// Listen on 800 ports of the range that Addr draws from (3.5% of it),
	// which Addr has never returned; of 300 draws, with no check of the
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
		addr, err := Addr()
		if err != nil {
			t.Fatal(err)
		}
		if held[port(t, addr)] {
			t.Fatalf("Addr returned %s, which this test listens on", addr)
		}
	}
}
