package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/folio-ocr/folio/store"
	"github.com/folio-ocr/folio/store/storetest"
)

func TestRunning(t *testing.T) {
	t.Parallel()
	rdb, prefix := storetest.Redis(t)
	r := store.NewRunning(rdb, prefix)
	ctx := context.Background()
	t0 := time.UnixMilli(1_000_000)
	task := func(key string) store.RunningTask {
		return store.RunningTask{Key: key, Type: "folio:annotate_range", Payload: []byte(`{"operation":"` + key + `"}`), Queue: "q"}
	}
	for _, k := range []string{"dead", "frozen", "alive", "finished"} {
		if err := r.Start(ctx, task(k), t0); err != nil {
			t.Fatal(err)
		}
	}
	// alive beats on; finished returns; dead and frozen stop beating.
	if alive, err := r.Beat(ctx, "alive", t0.Add(20*time.Second)); err != nil || !alive {
		t.Fatalf("Beat(alive) = %v, %v; want still registered", alive, err)
	}
	if err := r.Done(ctx, "finished"); err != nil {
		t.Fatal(err)
	}
	stale, err := r.Stale(ctx, t0.Add(15*time.Second), 10)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, s := range stale {
		keys = append(keys, s.Key)
	}
	if diff := cmp.Diff([]string{"dead", "frozen"}, keys); diff != "" {
		t.Fatalf("stale (-want +got):\n%s", diff)
	}
	// frozen resumes and beats between Stale and Claim: not claimed.
	if alive, err := r.Beat(ctx, "frozen", t0.Add(16*time.Second)); err != nil || !alive {
		t.Fatalf("Beat(frozen) = %v, %v; want still registered", alive, err)
	}
	if _, ok, err := r.Claim(ctx, stale[1]); err != nil || ok {
		t.Errorf("Claim(frozen after a beat) = %v, %v; want not claimed", ok, err)
	}
	got, ok, err := r.Claim(ctx, stale[0])
	if err != nil || !ok {
		t.Fatalf("Claim(dead) = %v, %v", ok, err)
	}
	if diff := cmp.Diff(task("dead"), got, cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".Beat" }, cmp.Ignore())); diff != "" {
		t.Errorf("claimed (-want +got):\n%s", diff)
	}
	if _, ok, _ := r.Claim(ctx, stale[0]); ok {
		t.Error("a task was claimed twice")
	}
	for key, want := range map[string]bool{"dead": true, "frozen": false, "alive": false} {
		if got, err := r.Claimed(ctx, key); err != nil || got != want {
			t.Errorf("Claimed(%s) = %v, %v; want %v", key, got, err, want)
		}
	}
	// A beat of a claimed task does not register it again, and tells its
	// worker that the task was taken away.
	if alive, err := r.Beat(ctx, "dead", t0.Add(30*time.Second)); err != nil || alive {
		t.Fatalf("Beat(claimed) = %v, %v; want not registered", alive, err)
	}
	// Two beats in one millisecond: still registered.
	if alive, err := r.Beat(ctx, "frozen", t0.Add(16*time.Second)); err != nil || !alive {
		t.Fatalf("Beat(frozen, same instant) = %v, %v; want still registered", alive, err)
	}
	if again, _ := r.Stale(ctx, t0.Add(time.Hour), 10); len(again) != 2 { // frozen and alive
		t.Errorf("after claiming: %d running, want 2", len(again))
	}
}
