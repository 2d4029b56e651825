package config

import (
	"strings"
	"testing"
	"time"
)

// REDIS_URL may name a Sentinel-managed primary or a Cluster as well as one
// server; a malformed one is refused with a sentence that does not repeat
// its password.
func TestValidateRedisURLForms(t *testing.T) {
	t.Parallel()
	for _, u := range []string{
		"redis://127.0.0.1:6379/0",
		"rediss://:pw@redis.example:6380/2",
		"unix:///run/redis.sock?db=1",
		"redis-sentinel://s1:26379,s2:26379,s3/mymaster",
		"redis-sentinel://:pw@s1:26379,s2:26379/mymaster/2?sentinel_password=spw&dial_timeout=3s",
		"rediss-sentinel://app:pw@[::1]:26379/mymaster/0",
		"redis-cluster://h1:7000,h2:7001,h3:7002",
		"rediss-cluster://:pw@h1:7000?read_only=true",
	} {
		c := DefaultCommon(time.Second)
		c.RedisURL = u
		if errs := c.Validate(); len(errs) != 0 {
			t.Errorf("Validate(%q) = %v, want no error", u, errs)
		}
	}
	for _, u := range []string{
		"localhost:6379",
		"redis-sentinel://:hunter2@s1:26379",              // no primary name
		"redis-sentinel://:hunter2@s1:26379/mymaster/x",   // db not a number
		"redis-sentinel://:hunter2@s1:26379,,s2/mymaster", // empty host
		"redis-cluster://:hunter2@h1:7000/3",              // a cluster has db 0 only
		"redis-cluster://:hunter2@h1:7000?no_such_option=1",
		"redis-cluster://:hunter2@h1:notaport",
	} {
		c := DefaultCommon(time.Second)
		c.RedisURL = u
		errs := c.Validate()
		if len(errs) != 1 || !strings.Contains(errs[0].Error(), "REDIS_URL must be") {
			t.Errorf("Validate(%q) = %v, want one REDIS_URL error", u, errs)
			continue
		}
		if strings.Contains(errs[0].Error(), "hunter2") {
			t.Errorf("Validate(%q) repeats the password: %v", u, errs[0])
		}
	}
}
