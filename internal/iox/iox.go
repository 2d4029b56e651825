// Package iox holds small io helpers shared by Folio's packages.
package iox

import "io"

// CountingWriter passes writes to W and counts the bytes written.
type CountingWriter struct {
	W io.Writer
	N int64
}

// Write writes p to W and adds what was written to N.
func (c *CountingWriter) Write(p []byte) (int, error) {
	n, err := c.W.Write(p)
	c.N += int64(n)
	return n, err
}
