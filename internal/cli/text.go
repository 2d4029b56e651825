package cli

import (
	"context"
	"fmt"
	"strings"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"

	"github.com/folio-ocr/folio/internal/cli/objects"
	"github.com/folio-ocr/folio/internal/cli/results"
)

const textUsage = `
Usage: folio text OUTPUT... [flags]

Prints the text of output files: output-A-to-B.json objects written by the
server, NAME.json files written by folio annotate, as local paths or gs://
URIs. A gs:// URI ending in / (an outputConfig prefix) stands for every
output-A-to-B.json under it, merged in page order. Pages are separated by
a form feed (\f), files by a blank line.

Examples:
  folio text ./text/report.json
  folio text gs://my-bucket/out/output-1-to-20.json
  folio text gs://my-bucket/folio/out/0123abcd/
`

func runText(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "text", textUsage)
	targets, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(targets) == 0 {
		fs.Usage()
		return usageError("name an output file")
	}
	store, err := objects.New(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = store.Close() }()
	for i, t := range targets {
		uris := []string{t}
		if strings.HasPrefix(t, "gs://") && strings.HasSuffix(t, "/") {
			all, err := store.ListURIs(ctx, t)
			if err != nil {
				return err
			}
			uris = uris[:0]
			for _, u := range all {
				if objects.IsOutputName(u) {
					uris = append(uris, u)
				}
			}
			if len(uris) == 0 {
				return fmt.Errorf("no output-A-to-B.json under %s", t)
			}
		}
		var parts []*visionpb.AnnotateFileResponse
		for _, u := range uris {
			data, err := store.Read(ctx, u)
			if err != nil {
				return err
			}
			p, err := results.Parse(data)
			if err != nil {
				return fmt.Errorf("%s: %w", u, err)
			}
			parts = append(parts, p)
		}
		text := results.Text(results.Merge(parts))
		if i > 0 {
			fmt.Fprintln(env.Stdout)
		}
		fmt.Fprint(env.Stdout, text)
		if !strings.HasSuffix(text, "\n") {
			fmt.Fprintln(env.Stdout)
		}
	}
	return nil
}
