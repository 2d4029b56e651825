//go:build !linux

package pipeline

import "github.com/tetratelabs/wazero/experimental"

// reserveMemory returns nil: outside Linux, instances grow a Go slice.
func reserveMemory(*memoryLimit, uint64) experimental.LinearMemory { return nil }
