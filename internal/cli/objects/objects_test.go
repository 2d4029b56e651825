package objects_test

import (
	"context"
	"strings"
	"testing"

	"github.com/folio-ocr/folio/internal/cli/objects"
	"github.com/folio-ocr/folio/store/storetest"
)

// Against the emulator a missing bucket is created (a local run starts
// with none) and an existing one is left alone; against Cloud Storage a
// missing bucket is an error that says how to create it.
func TestEnsureBucket(t *testing.T) {
	_, host := storetest.GCS(t, "exists")
	ctx := context.Background()
	t.Setenv("STORAGE_EMULATOR_HOST", host)
	s, err := objects.New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	for _, b := range []string{"exists", "created", "created"} {
		if err := s.EnsureBucket(ctx, b); err != nil {
			t.Errorf("EnsureBucket(%s) against the emulator: %v", b, err)
		}
	}
	if _, err := s.List(ctx, "created", ""); err != nil {
		t.Errorf("the created bucket cannot be listed: %v", err)
	}
	// The same client, told it is not an emulator, does not create.
	t.Setenv("STORAGE_EMULATOR_HOST", "")
	err = s.EnsureBucket(ctx, "missing")
	if err == nil || !strings.Contains(err.Error(), "gcloud storage buckets create gs://missing") {
		t.Errorf("EnsureBucket(missing) off the emulator = %v, want an error saying how to create it", err)
	}
}
