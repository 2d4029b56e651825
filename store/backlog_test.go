package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/folio-ocr/folio/store"
	"github.com/folio-ocr/folio/store/storetest"
)

// Slots of keys as CLUSTER KEYSLOT gives them (the examples of its manual),
// and the hash tag rules of the Redis Cluster specification.
func TestKeySlot(t *testing.T) {
	for key, want := range map[string]int{"somekey": 11058, "foo{hash_tag}": 2515, "hash_tag": 2515} {
		if got := store.KeySlot(key); got != want {
			t.Errorf("KeySlot(%q) = %d, want %d", key, got, want)
		}
	}
	same := [][2]string{
		{"{user1000}.following", "{user1000}.followers"},
		{"foo{{bar}}zap", "{bar"},    // the tag is "{bar"
		{"foo{bar}{zap}", "bar"},     // the first tag counts
		{"foo{}{bar}", "foo{}{bar}"}, // an empty tag: the whole key
		{"folio:op:{abc}:ranges", "abc"},
	}
	for _, s := range same {
		if a, b := store.KeySlot(s[0]), store.KeySlot(s[1]); a != b {
			t.Errorf("KeySlot(%q) = %d, KeySlot(%q) = %d; want equal", s[0], a, s[1], b)
		}
	}
}

// backlogStore returns a store over a fresh prefix; slotted, it keeps the
// backlog per hash slot as on Redis Cluster, and the test fails if a
// script's keys are not all in one slot, which Cluster would refuse.
func backlogStore(t *testing.T, slotted bool) (*store.RedisOperations, redis.UniversalClient, string) {
	t.Helper()
	c, prefix := storetest.Redis(t)
	var mu sync.Mutex
	var crossSlot []string
	check := func(cmd redis.Cmder) {
		args := cmd.Args()
		if name := fmt.Sprint(args[0]); (name != "evalsha" && name != "eval") || len(args) < 3 {
			return
		}
		n, _ := args[2].(int)
		slot := -1
		for _, k := range args[3 : 3+n] {
			s := store.KeySlot(fmt.Sprint(k))
			if slot >= 0 && s != slot {
				mu.Lock()
				crossSlot = append(crossSlot, fmt.Sprint(args[3:3+n]))
				mu.Unlock()
				return
			}
			slot = s
		}
	}
	ops := hooked(t, prefix, &hook{
		before: func(_ context.Context, cmd redis.Cmder) { check(cmd) },
		pipeline: func(cmds []redis.Cmder) {
			for _, cmd := range cmds {
				check(cmd)
			}
		},
	})
	if slotted {
		store.SlotBacklog(ops)
		t.Cleanup(func() {
			for _, keys := range crossSlot {
				t.Errorf("a script's keys span hash slots: %s", keys)
			}
		})
	}
	return ops, c, prefix
}

// wantBacklog checks the backlog: pages pending and unfinished operations
// created and running.
func wantBacklog(t *testing.T, ops *store.RedisOperations, step string, pages, created, running int64) {
	t.Helper()
	got, err := ops.Backlog(context.Background())
	if err != nil {
		t.Fatalf("%s: Backlog: %v", step, err)
	}
	want := store.Backlog{PagesPending: pages, Operations: map[store.State]int64{}}
	if created > 0 {
		want.Operations[visionpb.OperationMetadata_CREATED] = created
	}
	if running > 0 {
		want.Operations[visionpb.OperationMetadata_RUNNING] = running
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("%s: backlog (-want +got):\n%s", step, diff)
	}
}

// The backlog counts the pages of planned files until their ranges
// complete or the operation ends, whatever the repeats, and returns to
// zero however an operation ends: completed, cancelled, failed or deleted.
func TestBacklog(t *testing.T) {
	ctx := context.Background()
	r := func(f, a, b int) store.Range { return store.Range{File: f, First: a, Last: b} }
	for _, slotted := range []bool{false, true} {
		t.Run(fmt.Sprintf("slotted=%v", slotted), func(t *testing.T) {
			t.Run("complete with redeliveries", func(t *testing.T) {
				ops, _, _ := backlogStore(t, slotted)
				wantBacklog(t, ops, "empty", 0, 0, 0)
				id := create(t, ops, 2).ID
				wantBacklog(t, ops, "created", 0, 1, 0)
				plan(t, ops, id, 0, r(0, 1, 2), r(0, 3, 3))
				plan(t, ops, id, 0, r(0, 1, 2), r(0, 3, 3)) // a redelivered plan task
				wantBacklog(t, ops, "file 0 planned", 3+1, 0, 1)
				complete(t, ops, id, r(0, 1, 2), store.Recorded)
				complete(t, ops, id, r(0, 1, 2), store.Recorded) // redelivered
				wantBacklog(t, ops, "pages 1-2 done", 1+1, 0, 1)
				complete(t, ops, id, r(0, 3, 3), store.Recorded)
				// The unplanned file counts as one page, so that an
				// autoscaler keeps a worker for its plan task.
				wantBacklog(t, ops, "file 0 done, file 1 unplanned", 1, 0, 1)
				plan(t, ops, id, 1, r(1, 1, 4))
				wantBacklog(t, ops, "file 1 planned", 4, 0, 1)
				complete(t, ops, id, r(1, 1, 4), store.Finalized)
				complete(t, ops, id, r(1, 1, 4), store.AlreadyFinished)
				complete(t, ops, id, r(0, 3, 3), store.AlreadyFinished)
				wantBacklog(t, ops, "done", 0, 0, 0)
				if err := ops.Delete(ctx, id); err != nil {
					t.Fatal(err)
				}
				wantBacklog(t, ops, "deleted after done", 0, 0, 0)
			})
			enders := map[string]func(ops *store.RedisOperations, id string) error{
				"cancel": func(ops *store.RedisOperations, id string) error { _, err := ops.Cancel(ctx, id); return err },
				"fail":   func(ops *store.RedisOperations, id string) error { _, err := ops.Fail(ctx, id, 5, "gone"); return err },
				"delete": func(ops *store.RedisOperations, id string) error { return ops.Delete(ctx, id) },
			}
			for name, end := range enders {
				t.Run(name, func(t *testing.T) {
					ops, _, _ := backlogStore(t, slotted)
					unplanned := create(t, ops, 1).ID
					id := create(t, ops, 2).ID
					plan(t, ops, id, 0, r(0, 1, 2), r(0, 3, 5))
					complete(t, ops, id, r(0, 1, 2), store.Recorded)
					wantBacklog(t, ops, "running", 3+1, 1, 1) // file 1 unplanned
					if err := end(ops, id); err != nil {
						t.Fatal(err)
					}
					wantBacklog(t, ops, name+" running", 0, 1, 0)
					if err := end(ops, unplanned); err != nil {
						t.Fatal(err)
					}
					wantBacklog(t, ops, name+" created", 0, 0, 0)
					// Late work of an ended operation changes nothing.
					_, _ = ops.CompleteRange(ctx, id, r(0, 3, 5), 0)
					_, _ = ops.PlanFile(ctx, id, 1, []store.Range{r(1, 1, 9)})
					_, _ = ops.Fail(ctx, id, 13, "again")
					_, _ = ops.Cancel(ctx, id)
					_ = ops.Delete(ctx, id)
					wantBacklog(t, ops, "after late work", 0, 0, 0)
				})
			}
			t.Run("failed files", func(t *testing.T) {
				ops, _, _ := backlogStore(t, slotted)
				failFile := func(id string, file int, rg store.Range, want store.Completion) {
					t.Helper()
					for range 2 { // a repeat changes nothing
						c, err := ops.FailFile(ctx, id, file, rg, 3, "bad file")
						if err != nil {
							t.Fatal(err)
						}
						if c != want {
							t.Fatalf("FailFile(%d, %+v) = %v, want %v", file, rg, c, want)
						}
						if want == store.Finalized {
							want = store.AlreadyFinished
						}
					}
				}
				id := create(t, ops, 3).ID
				failFile(id, 1, store.Range{}, store.Recorded) // before any plan: RUNNING, no pages
				wantBacklog(t, ops, "file 1 failed unplanned", 2, 0, 1)
				plan(t, ops, id, 0, r(0, 1, 2), r(0, 3, 5))
				wantBacklog(t, ops, "file 0 planned", 5+1, 0, 1)
				failFile(id, 0, r(0, 3, 5), store.Recorded) // one range failed for good
				wantBacklog(t, ops, "range 3-5 failed", 2+1, 0, 1)
				plan(t, ops, id, 2, r(2, 1, 4))
				complete(t, ops, id, r(0, 1, 2), store.Recorded)
				wantBacklog(t, ops, "file 2 planned", 4, 0, 1)
				failFile(id, 2, store.Range{}, store.Finalized) // a planned file failed whole
				wantBacklog(t, ops, "done", 0, 0, 0)
				complete(t, ops, id, r(2, 1, 4), store.AlreadyFinished)
				wantBacklog(t, ops, "after late work", 0, 0, 0)
			})
			t.Run("concurrent redelivered completions", func(t *testing.T) {
				ops, _, _ := backlogStore(t, slotted)
				const files, ranges, deliveries = 2, 8, 3
				var ids []string
				for range 3 {
					id := create(t, ops, files).ID
					ids = append(ids, id)
					for f := range files {
						var rs []store.Range
						for i := range ranges {
							rs = append(rs, r(f, 2*i+1, 2*i+2))
						}
						plan(t, ops, id, f, rs...)
					}
				}
				wantBacklog(t, ops, "planned", 3*files*ranges*2, 0, 3)
				var wg sync.WaitGroup
				for _, id := range ids {
					for f := range files {
						for i := range ranges {
							for range deliveries {
								wg.Go(func() {
									if _, err := ops.CompleteRange(ctx, id, r(f, 2*i+1, 2*i+2), 0); err != nil {
										t.Error(err)
									}
								})
							}
						}
					}
				}
				wg.Wait()
				wantBacklog(t, ops, "all completed", 0, 0, 0)
			})
			t.Run("operation of a Folio without the backlog", func(t *testing.T) {
				ops, c, prefix := backlogStore(t, slotted)
				id := create(t, ops, 1).ID
				// Forget that the operation was counted, as if an older
				// Folio had created it.
				if err := c.HDel(ctx, prefix+"op:{"+id+"}", "bl_state", "bl_pages").Err(); err != nil {
					t.Fatal(err)
				}
				storetest.DeletePrefix(t, c, prefix+"backlog")
				wantBacklog(t, ops, "uncounted", 0, 0, 0)
				plan(t, ops, id, 0, r(0, 1, 3), r(0, 4, 4))
				wantBacklog(t, ops, "counted from its first change", 4, 0, 1)
				complete(t, ops, id, r(0, 1, 3), store.Recorded)
				complete(t, ops, id, r(0, 4, 4), store.Finalized)
				wantBacklog(t, ops, "done", 0, 0, 0)
			})
		})
	}
}
