package config

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/folio-ocr/folio/internal/freeport"
)

// redisTarget is what a test compares of a parsed URL.
type redisTarget struct {
	Kind                         string // single, failover, cluster
	Addrs                        []string
	Primary                      string
	DB                           int
	Username, Password           string
	SentinelUser, SentinelPasswd string
	TLS                          bool
	DialTimeout                  time.Duration
	ReadOnly                     bool
}

func targetOf(c *RedisConfig) redisTarget {
	switch {
	case c.Failover != nil:
		o := c.Failover
		return redisTarget{Kind: "failover", Addrs: o.SentinelAddrs, Primary: o.MasterName, DB: o.DB,
			Username: o.Username, Password: o.Password, SentinelUser: o.SentinelUsername, SentinelPasswd: o.SentinelPassword,
			TLS: o.TLSConfig != nil, DialTimeout: o.DialTimeout}
	case c.Cluster != nil:
		o := c.Cluster
		return redisTarget{Kind: "cluster", Addrs: o.Addrs, Username: o.Username, Password: o.Password,
			TLS: o.TLSConfig != nil, DialTimeout: o.DialTimeout, ReadOnly: o.ReadOnly}
	default:
		o := c.Single
		return redisTarget{Kind: "single", Addrs: []string{o.Addr}, DB: o.DB, Username: o.Username, Password: o.Password,
			TLS: o.TLSConfig != nil, DialTimeout: o.DialTimeout}
	}
}

func TestParseRedisURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url     string
		want    redisTarget
		wantErr string
	}{
		{url: "redis://127.0.0.1:6379/3", want: redisTarget{Kind: "single", Addrs: []string{"127.0.0.1:6379"}, DB: 3}},
		{url: "rediss://u:p%40ss@r.example:6380/1?dial_timeout=2s",
			want: redisTarget{Kind: "single", Addrs: []string{"r.example:6380"}, DB: 1, Username: "u", Password: "p@ss", TLS: true, DialTimeout: 2 * time.Second}},
		{url: "redis-sentinel://s1,s2:26380,[::1]/mymaster", want: redisTarget{Kind: "failover",
			Addrs: []string{"s1:26379", "s2:26380", "[::1]:26379"}, Primary: "mymaster"}},
		{url: "redis-sentinel://:pw@s1:26379,10.0.0.2:26379/my-primary/5?sentinel_password=spw&dial_timeout=3",
			want: redisTarget{Kind: "failover", Addrs: []string{"s1:26379", "10.0.0.2:26379"}, Primary: "my-primary", DB: 5,
				Password: "pw", SentinelPasswd: "spw", DialTimeout: 3 * time.Second}},
		{url: "rediss-sentinel://app:pw@[::1]:26379/mymaster/0?sentinel_username=sen&sentinel_password=spw",
			want: redisTarget{Kind: "failover", Addrs: []string{"[::1]:26379"}, Primary: "mymaster", Username: "app", Password: "pw",
				SentinelUser: "sen", SentinelPasswd: "spw", TLS: true}},
		{url: "redis-cluster://h1:7000,h2:7001,h3", want: redisTarget{Kind: "cluster", Addrs: []string{"h1:7000", "h2:7001", "h3:6379"}}},
		{url: "rediss-cluster://app:pw@h1:7000/0?read_only=true&dial_timeout=500ms",
			want: redisTarget{Kind: "cluster", Addrs: []string{"h1:7000"}, Username: "app", Password: "pw", TLS: true,
				ReadOnly: true, DialTimeout: 500 * time.Millisecond}},
		{url: "redis-sentinel://s1:26379", wantErr: "the path must name the primary"},
		{url: "redis-sentinel://s1:26379/a/b/c", wantErr: "the path must name the primary"},
		{url: "redis-sentinel://s1:26379/mymaster/x", wantErr: `database "x" is not a number`},
		{url: "redis-sentinel://:pw@s1/mymaster?password=other", wantErr: "option password is not allowed"},
		{url: "redis-sentinel://s1/mymaster?master_name=other", wantErr: "option master_name is not allowed"},
		{url: "redis-sentinel://s1,,s2/mymaster", wantErr: "empty host"},
		{url: "redis-sentinel:///mymaster", wantErr: "no host"},
		{url: "redis-sentinel://s1:0/mymaster", wantErr: "not a number from 1 to 65535"},
		{url: "redis-sentinel://::1/mymaster", wantErr: `host "::1"`},
		{url: "redis-cluster://h1:7000/2", wantErr: "database 0 only"},
		{url: "redis-cluster://h1:7000?no_such_option=1", wantErr: "no_such_option"},
		{url: "redis-cluster://h1:7000#frag", wantErr: "fragment"},
		{url: "localhost:6379", wantErr: "Redis URL"},
	}
	for _, tt := range tests {
		c, err := ParseRedisURL(tt.url)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseRedisURL(%q) = %v, want an error containing %q", tt.url, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseRedisURL(%q): %v", tt.url, err)
			continue
		}
		if diff := cmp.Diff(tt.want, targetOf(c)); diff != "" {
			t.Errorf("ParseRedisURL(%q) (-want +got):\n%s", tt.url, diff)
		}
		if tls := targetOf(c).TLS; tls {
			// Each host's certificate is checked against its own name.
			if (c.Failover != nil && c.Failover.TLSConfig.ServerName != "") || (c.Cluster != nil && c.Cluster.TLSConfig.ServerName != "") {
				t.Errorf("ParseRedisURL(%q): TLS pinned to one server name", tt.url)
			}
		}
		if s := c.String(); strings.Contains(s, "pw") {
			t.Errorf("String() = %q shows the password", s)
		}
	}
}

// freePorts returns n TCP ports free on 127.0.0.1 a moment ago (see
// freeport), all different: freeport returns none twice.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	ports := make([]int, n)
	for i := range ports {
		p, err := freeport.Port()
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = p
	}
	return ports
}

// startRedis runs name with args until the test ends and waits until a
// client of opts answers PING.
func startRedis(t *testing.T, opts *redis.Options, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%s %s:\n%s", name, strings.Join(args, " "), out.String())
		}
	})
	c := redis.NewClient(opts)
	defer c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s on %s does not answer PING after 5s: %v\n%s", name, opts.Addr, err, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A REDIS_URL naming a Sentinel-managed primary, through a list of
// sentinels whose first is down, gives a client that writes to and reads
// from the primary, in the database the URL names, and that follows the
// primary to the replica when Sentinel fails it over.
func TestRedisSentinel(t *testing.T) {
	server, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not installed (Debian: apt-get install redis-server redis-sentinel)")
	}
	// Debian's redis-sentinel is redis-server under another name;
	// redis-server --sentinel is the same program.
	sentinel, sentinelArgs := server, []string{"--sentinel"}
	if p, err := exec.LookPath("redis-sentinel"); err == nil {
		sentinel, sentinelArgs = p, nil
	}
	const password = "s3cret"
	ports := freePorts(t, 4)
	primary, replica, sen, down := ports[0], ports[1], ports[2], ports[3]
	addr := func(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }
	// Each in a directory of its own: a replica writes the RDB it receives.
	common := func() []string {
		return []string{"--bind", "127.0.0.1", "--dir", t.TempDir(), "--save", "", "--appendonly", "no",
			"--requirepass", password, "--masterauth", password}
	}
	// The replica syncs at once, not after the default 5 s delay.
	startRedis(t, &redis.Options{Addr: addr(primary), Password: password}, server,
		append([]string{"--port", strconv.Itoa(primary), "--repl-diskless-sync-delay", "0"}, common()...)...)
	startRedis(t, &redis.Options{Addr: addr(replica), Password: password}, server,
		append([]string{"--port", strconv.Itoa(replica), "--replicaof", "127.0.0.1", strconv.Itoa(primary)}, common()...)...)
	dir := t.TempDir()
	conf := filepath.Join(dir, "sentinel.conf") // Sentinel rewrites it as it learns
	if err := os.WriteFile(conf, fmt.Appendf(nil, `port %d
bind 127.0.0.1
dir %s
sentinel monitor folio 127.0.0.1 %d 1
sentinel auth-pass folio %s
sentinel down-after-milliseconds folio 1000
sentinel failover-timeout folio 10000
`, sen, dir, primary, password), 0o600); err != nil {
		t.Fatal(err)
	}
	startRedis(t, &redis.Options{Addr: addr(sen)}, sentinel, append([]string{conf}, sentinelArgs...)...)

	c := DefaultCommon(time.Second)
	c.RedisURL = fmt.Sprintf("redis-sentinel://:%s@%s,%s/folio/3", password, addr(down), addr(sen))
	if errs := c.Validate(); len(errs) != 0 {
		t.Fatalf("Validate: %v", errs)
	}
	rc, err := c.Redis()
	if err != nil {
		t.Fatal(err)
	}
	rdb := rc.NewClient()
	defer rdb.Close()
	// Sentinel learns of the replica from the primary's INFO, every 10 s;
	// the whole test fits in one minute even when that takes two rounds.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := rdb.Set(ctx, "folio:sentinel-test", "written through sentinel", 0).Err(); err != nil {
		t.Fatalf("SET through %s: %v", rc, err)
	}
	if got, err := rdb.Get(ctx, "folio:sentinel-test").Result(); err != nil || got != "written through sentinel" {
		t.Fatalf("GET = %q, %v", got, err)
	}
	direct := redis.NewClient(&redis.Options{Addr: addr(primary), Password: password, DB: 3})
	defer direct.Close()
	if got, err := direct.Get(ctx, "folio:sentinel-test").Result(); err != nil || got != "written through sentinel" {
		t.Fatalf("the primary's db 3 holds %q, %v; want the value written", got, err)
	}

	// Fail the primary over to the replica: the client follows it.
	sc := redis.NewSentinelClient(&redis.Options{Addr: addr(sen)})
	defer sc.Close()
	for {
		// Sentinel fails over only to a replica it has seen.
		rs, err := sc.Replicas(ctx, "folio").Result()
		if err == nil && len(rs) == 1 && rs[0]["master-link-status"] == "ok" && !strings.Contains(rs[0]["flags"], "down") {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("Sentinel does not see the replica: %v %v", rs, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := sc.Failover(ctx, "folio").Err(); err != nil {
		t.Fatalf("SENTINEL FAILOVER: %v", err)
	}
	for {
		a, err := sc.GetMasterAddrByName(ctx, "folio").Result()
		if err == nil && len(a) == 2 && a[1] == strconv.Itoa(replica) {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the replica was not promoted: %v %v", a, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The client learns of the switch from Sentinel's +switch-master
	// message; until then a write may still reach the old primary (which
	// Sentinel makes a replica only at its next check, 10 s on). The
	// promoted replica no longer replicates from it, so it holds the value
	// only once the client writes to it.
	promoted := redis.NewClient(&redis.Options{Addr: addr(replica), Password: password, DB: 3})
	defer promoted.Close()
	for i := 0; ; i++ {
		err := rdb.Set(ctx, "folio:sentinel-test", fmt.Sprintf("after failover %d", i), 0).Err()
		got, gerr := promoted.Get(ctx, "folio:sentinel-test").Result()
		if err == nil && gerr == nil && got == fmt.Sprintf("after failover %d", i) {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the client does not write to the promoted replica: SET %v; the replica holds %q, %v", err, got, gerr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
