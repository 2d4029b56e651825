// Package e2e holds Folio's end-to-end tests: they build cmd/api and
// cmd/worker, run them as processes against a real Redis and an in-process
// Cloud Storage emulator, and drive them with Google's official Go client
// and, in TestNodeClient, its Node.js client (tests/node).
package e2e
