// Package storetest gives tests a real Redis and an in-process Cloud Storage
// emulator (fake-gcs-server), each isolated per test, and the conformance
// suite every implementation of store.Operations must pass
// (RunOperationsTests). Import it only from _test.go files; package store's
// own tests are in package store_test for that reason.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"github.com/fsouza/fake-gcs-server/fakestorage"
	"github.com/redis/go-redis/v9"

	"github.com/folio-ocr/folio/internal/gcsemu"
)

// RedisAddr is the Redis the tests use: $REDIS_ADDR, or 127.0.0.1:6379.
func RedisAddr() string {
	if a := os.Getenv("REDIS_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

// RedisDB is the database number tests use, so they stay clear of data in
// DB 0: $REDIS_TEST_DB, or 11.
func RedisDB() int {
	if n, err := strconv.Atoi(os.Getenv("REDIS_TEST_DB")); err == nil {
		return n
	}
	return 11
}

// RedisURL is a redis:// URL for RedisAddr and RedisDB, for processes the
// tests start.
func RedisURL() string { return fmt.Sprintf("redis://%s/%d", RedisAddr(), RedisDB()) }

// Redis returns a client of the test database and a key prefix unique to t.
// Keys under the prefix are deleted when t ends. The test fails at once,
// with a hint, when Redis does not answer.
func Redis(t testing.TB) (redis.UniversalClient, string) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: RedisAddr(), DB: RedisDB()})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("redis at %s does not answer (start redis-server or set REDIS_ADDR): %v", RedisAddr(), err)
	}
	prefix := "test:" + UniqueID() + ":"
	t.Cleanup(func() {
		DeletePrefix(t, c, prefix)
		_ = c.Close()
	})
	return c, prefix
}

// DeletePrefix removes every key that starts with prefix.
func DeletePrefix(t testing.TB, c redis.UniversalClient, prefix string) {
	t.Helper()
	ctx := context.Background()
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Errorf("scan %s*: %v", prefix, err)
		return
	}
	for len(keys) > 0 {
		n := min(len(keys), 500)
		if err := c.Del(ctx, keys[:n]...).Err(); err != nil {
			t.Errorf("delete %s*: %v", prefix, err)
		}
		keys = keys[n:]
	}
}

// UniqueID returns 16 random hex digits.
func UniqueID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// GCS starts fake-gcs-server in-process on a free port of 127.0.0.1 over
// plain HTTP (see internal/gcsemu), creates the given buckets, and returns
// the server and its host:port (the value STORAGE_EMULATOR_HOST takes).
// Use Client for a storage client that talks to it; the server stops when
// t ends.
func GCS(t testing.TB, buckets ...string) (*fakestorage.Server, string) {
	t.Helper()
	e, err := gcsemu.Start(buckets...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Stop)
	return e.Server, e.Host
}

// Client returns a real Cloud Storage client for the emulator at host, as
// cmd/api and cmd/worker build it when STORAGE_EMULATOR_HOST is set.
func Client(t testing.TB, host string) *storage.Client {
	t.Helper()
	t.Setenv("STORAGE_EMULATOR_HOST", host)
	c, err := storage.NewClient(context.Background())
	if err != nil {
		t.Fatalf("storage client: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}
