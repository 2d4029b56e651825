package config

import (
	"net/url"
	"strings"
	"testing"
)

// urlPassword returns the password of a URL's user info as ParseRedisURL
// sees it (what redactURL masks), raw and unescaped.
func urlPassword(s string) (raw, unescaped string) {
	_, rest, ok := strings.Cut(s, "://")
	if !ok {
		return "", ""
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	at := strings.LastIndex(rest[:end], "@")
	if at < 0 {
		return "", ""
	}
	_, raw, _ = strings.Cut(rest[:at], ":")
	unescaped, err := url.PathUnescape(raw)
	if err != nil {
		unescaped = raw
	}
	return raw, unescaped
}

// FuzzParseRedisURL parses REDIS_URL values. Whether it parses or not,
// neither the error nor the description logged at startup repeats the
// password (or the sentinel password of the query), and a URL that
// parses names at least one address.
func FuzzParseRedisURL(f *testing.F) {
	for _, s := range []string{
		"redis://127.0.0.1:6379/3", "rediss://u:p%40ss@r.example:6380/1?dial_timeout=2s",
		"redis-sentinel://s1,s2:26380,[::1]/mymaster",
		"redis-sentinel://:hunter22@s1:26379,10.0.0.2:26379/my-primary/5?sentinel_password=spw-secret&dial_timeout=3",
		"rediss-sentinel://app:hunter22@[::1]:26379/mymaster/0?sentinel_username=sen&sentinel_password=spw-secret",
		"redis-cluster://h1:7000,h2:7001,h3", "rediss-cluster://app:hunter22@h1:7000/0?read_only=true&dial_timeout=500ms",
		"redis://:hunter22@h:notaport/0", "redis://:hunter22@h:6379/x", "redis-cluster://:hunter22@h1:0",
		"redis-sentinel://:hunter22@s1/mymaster?password=other", "redis-sentinel://:hunter22@s1,,s2/m",
		"redis://:hunter22%zz@h", "unix://:hunter22@/tmp/redis.sock?db=1", "redis://:hunter22@[::1", "127.0.0.1:6379",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseRedisURL(s)
		var said string
		if err != nil {
			said = err.Error()
		} else {
			said = c.String()
			if said == "none" || strings.HasSuffix(said, " ") {
				t.Fatalf("ParseRedisURL(%q) describes itself as %q", s, said)
			}
		}
		secrets := []string{}
		if raw, plain := urlPassword(s); raw != "" {
			secrets = append(secrets, raw, plain)
		}
		if _, q, ok := strings.Cut(s, "?"); ok {
			if v, err := url.ParseQuery(q); err == nil {
				secrets = append(secrets, v.Get("sentinel_password"), v.Get("password"))
			}
		}
		for _, pw := range secrets {
			// Short passwords match by chance; one that also appears
			// elsewhere in the URL (a host named like it) may be quoted.
			if len(pw) < 6 || strings.Count(s, pw) > 1 {
				continue
			}
			if strings.Contains(said, pw) {
				t.Fatalf("ParseRedisURL(%q) says %q, which repeats the password %q", s, said, pw)
			}
		}
	})
}
