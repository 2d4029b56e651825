//go:build !linux

package pipeline

import "syscall"

// childProcAttr is nil where there is no parent-death signal: a child
// notices the worker's exit when its request pipe closes.
func childProcAttr() *syscall.SysProcAttr { return nil }
