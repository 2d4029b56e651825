// Command folio reads the text of PDF, TIFF and GIF files with Folio (or
// Google Cloud Vision's files:asyncBatchAnnotate): `folio annotate ./scans
// --out ./text`, and follows, cancels and lists operations. Run `folio
// help` for the commands; the logic is in package internal/cli.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/folio-ocr/folio/internal/cli"
)

func main() {
	sigs := make(chan os.Signal, 2)
	if cli.HandlesSignals(os.Args[1:]) {
		signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	}
	env := cli.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, Signals: sigs}
	os.Exit(cli.Main(context.Background(), env, os.Args[1:]))
}
