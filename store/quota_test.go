package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/folio-ocr/folio/store"
	"github.com/folio-ocr/folio/store/storetest"
)

// createOwned creates an operation of files files owned by owner.
func createOwned(t *testing.T, ops store.Operations, files int, owner string) *store.Operation {
	t.Helper()
	op := &store.Operation{ID: storetest.UniqueID(), APIVersion: "v1", CreateTime: time.Now(), Request: request(files), Owner: owner}
	op.Name = "operations/" + op.ID
	if err := ops.Create(context.Background(), op); err != nil {
		t.Fatalf("Create: %v", err)
	}
	return op
}

// A key's pages in flight count each unplanned file as a page from
// creation, then the planned pages until they complete, and return to zero
// however its operations end; other keys' work and ownerless operations
// do not count.
func TestOwnerPagesPending(t *testing.T) {
	ctx := context.Background()
	r := func(f, a, b int) store.Range { return store.Range{File: f, First: a, Last: b} }
	for _, slotted := range []bool{false, true} {
		t.Run(fmt.Sprintf("slotted=%v", slotted), func(t *testing.T) {
			ops, _, _ := backlogStore(t, slotted)
			want := func(step, owner string, n int64) {
				t.Helper()
				got, err := ops.OwnerPagesPending(ctx, owner)
				if err != nil {
					t.Fatal(err)
				}
				if got != n {
					t.Errorf("%s: %s has %d pages in flight, want %d", step, owner, got, n)
				}
			}
			a := createOwned(t, ops, 2, "a").ID
			createOwned(t, ops, 5, "b")
			create(t, ops, 3) // no owner
			want("created", "a", 2)
			want("created", "b", 5)
			plan(t, ops, a, 0, r(0, 1, 10), r(0, 11, 12))
			plan(t, ops, a, 0, r(0, 1, 10), r(0, 11, 12)) // redelivered
			want("file 0 planned", "a", 12+1)
			complete(t, ops, a, r(0, 1, 10), store.Recorded)
			want("pages 1-10 done", "a", 2+1)
			a2 := createOwned(t, ops, 1, "a").ID
			want("second operation", "a", 2+1+1)
			if _, err := ops.Cancel(ctx, a); err != nil {
				t.Fatal(err)
			}
			want("first cancelled", "a", 1)
			if err := ops.Delete(ctx, a2); err != nil {
				t.Fatal(err)
			}
			want("second deleted", "a", 0)
			want("untouched", "b", 5)
			if got, _ := ops.Backlog(ctx); got.PagesPending != 0 {
				t.Errorf("backlog pages = %d: owners must not change it", got.PagesPending)
			}
		})
	}
}

// List with an owner keeps only that key's operations; Get returns the
// owner.
func TestListOwner(t *testing.T) {
	ops := newOps(t)
	ctx := context.Background()
	a := createOwned(t, ops, 1, "a")
	createOwned(t, ops, 1, "b")
	create(t, ops, 1)
	got, _, err := ops.List(ctx, 10, "", store.ListFilter{Owner: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != a.ID || got[0].Owner != "a" {
		t.Errorf("List(owner a) = %+v", got)
	}
	if op := mustGet(t, ops, a.ID); op.Owner != "a" {
		t.Errorf("Get: owner %q", op.Owner)
	}
	// A key pages through its own operations only: with many of another
	// key's operations in between, every page is full and no token
	// names another key's operation.
	var mine []string
	for i := range 12 {
		if i%4 == 0 {
			mine = append(mine, createOwned(t, ops, 1, "c").ID)
		}
		createOwned(t, ops, 1, "d")
	}
	var listed []string
	token := ""
	for {
		page, next, err := ops.List(ctx, 2, token, store.ListFilter{Owner: "c"})
		if err != nil {
			t.Fatal(err)
		}
		if next != "" && len(page) != 2 {
			t.Errorf("a page of %d operations before the end", len(page))
		}
		for _, op := range page {
			listed = append(listed, op.ID)
		}
		if token = next; token == "" {
			break
		}
	}
	if len(listed) != len(mine) {
		t.Errorf("listed %v, want %v (newest first)", listed, mine)
	}
	if err := ops.Delete(ctx, mine[0]); err != nil {
		t.Fatal(err)
	}
	if page, _, _ := ops.List(ctx, 10, "", store.ListFilter{Owner: "c"}); len(page) != len(mine)-1 {
		t.Errorf("after a delete: %d operations, want %d", len(page), len(mine)-1)
	}
}

// CountCall counts per key and minute.
func TestCountCall(t *testing.T) {
	ops := newOps(t)
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	for i := int64(1); i <= 3; i++ {
		if n, err := ops.CountCall(ctx, "a", now); err != nil || n != i {
			t.Fatalf("call %d: %d, %v", i, n, err)
		}
	}
	if n, _ := ops.CountCall(ctx, "b", now); n != 1 {
		t.Errorf("another key: %d, want 1", n)
	}
	if n, _ := ops.CountCall(ctx, "a", now.Add(time.Minute)); n != 1 {
		t.Errorf("next minute: %d, want 1", n)
	}
}
