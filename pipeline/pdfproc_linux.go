package pipeline

import "syscall"

// childProcAttr kills a child when the worker dies, even while the child is
// deep in PDFium and cannot notice its request pipe closing.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
