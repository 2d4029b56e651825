package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Schemes of REDIS_URL beyond those of redis.ParseURL (redis, rediss,
// unix). The rediss forms speak TLS to every host.
const (
	SchemeSentinel    = "redis-sentinel"
	SchemeSentinelTLS = "rediss-sentinel"
	SchemeCluster     = "redis-cluster"
	SchemeClusterTLS  = "rediss-cluster"
)

// Ports of the hosts of a Sentinel or Cluster URL that give none.
const (
	DefaultSentinelPort = 26379
	DefaultClusterPort  = 6379
)

// RedisConfig is a parsed REDIS_URL. Exactly one of its fields is set.
type RedisConfig struct {
	// Single is one Redis server: redis://, rediss:// or unix://.
	Single *redis.Options
	// Failover is a primary that Redis Sentinel watches and replaces on
	// failure: redis-sentinel:// or rediss-sentinel://.
	Failover *redis.FailoverOptions
	// Cluster is a Redis Cluster: redis-cluster:// or rediss-cluster://.
	Cluster *redis.ClusterOptions
}

// ParseRedisURL parses REDIS_URL in one of three forms:
//
//	redis://[[user]:password@]host[:port][/db][?option=value&...]
//	redis-sentinel://[[user]:password@]host[:port][,host[:port]...]/primary[/db][?option=value&...]
//	redis-cluster://[[user]:password@]host[:port][,host[:port]...][?option=value&...]
//
// The first is redis.ParseURL's (also rediss:// and unix://). A Sentinel URL
// lists the sentinels (port 26379 unless given), names the primary they
// watch (as in "sentinel monitor <primary> ...") and a database (default
// 0); the user and password are those of the primary and its replicas,
// and sentinels that require a password of their own get it from the
// options sentinel_username and sentinel_password. A Cluster URL lists
// some of the cluster's nodes (port 6379 unless given); the client
// discovers the others. Options are the scalar fields of go-redis'
// FailoverOptions and ClusterOptions in snake case (dial_timeout=3s,
// pool_size=20, ...), as redis.ParseFailoverURL and redis.ParseClusterURL
// read them. Errors never repeat the password.
func ParseRedisURL(s string) (*RedisConfig, error) {
	scheme, rest, ok := strings.Cut(s, "://")
	switch strings.ToLower(scheme) {
	case SchemeSentinel, SchemeSentinelTLS:
		o, err := parseSentinelURL(strings.ToLower(scheme) == SchemeSentinelTLS, rest)
		if err != nil {
			return nil, fmt.Errorf("config: Sentinel URL: %w", err)
		}
		return &RedisConfig{Failover: o}, nil
	case SchemeCluster, SchemeClusterTLS:
		o, err := parseClusterURL(strings.ToLower(scheme) == SchemeClusterTLS, rest)
		if err != nil {
			return nil, fmt.Errorf("config: Cluster URL: %w", err)
		}
		return &RedisConfig{Cluster: o}, nil
	}
	if !ok {
		return nil, errors.New("config: Redis URL has no scheme (redis://, redis-sentinel://, redis-cluster://)")
	}
	o, err := redis.ParseURL(s)
	if err != nil {
		return nil, fmt.Errorf("config: Redis URL: %w", withoutURL(err))
	}
	return &RedisConfig{Single: o}, nil
}

// NewClient returns a client of c: a client of one server; a client that
// asks the sentinels for the current primary and follows it through a
// failover; or a cluster client. The caller closes it.
func (c *RedisConfig) NewClient() redis.UniversalClient {
	switch {
	case c.Failover != nil:
		return redis.NewFailoverClient(c.Failover)
	case c.Cluster != nil:
		return redis.NewClusterClient(c.Cluster)
	}
	return redis.NewClient(c.Single)
}

// String describes c for logs, without credentials: "127.0.0.1:6379 db 0",
// "primary mymaster via sentinels s1:26379,s2:26379 db 0", "cluster
// h1:7000,h2:7001".
func (c *RedisConfig) String() string {
	switch {
	case c.Failover != nil:
		return fmt.Sprintf("primary %s via sentinels %s db %d", c.Failover.MasterName,
			strings.Join(c.Failover.SentinelAddrs, ","), c.Failover.DB)
	case c.Cluster != nil:
		return "cluster " + strings.Join(c.Cluster.Addrs, ",")
	case c.Single != nil:
		return fmt.Sprintf("%s db %d", c.Single.Addr, c.Single.DB)
	}
	return "none"
}

// hostURL is a Sentinel or Cluster URL after its scheme, with its host
// list split off: what url.Parse cannot read.
type hostURL struct {
	hosts []string // host:port, default port filled in
	user  *url.Userinfo
	path  string
	query url.Values
}

// splitHosts parses rest, what follows "scheme://", whose host part is a
// comma-separated list of host[:port].
func splitHosts(rest string, defaultPort int) (*hostURL, error) {
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority, tail := rest[:end], rest[end:]
	userinfo := ""
	if i := strings.LastIndex(authority, "@"); i >= 0 {
		userinfo, authority = authority[:i+1], authority[i+1:]
	}
	// url.Parse reads the user info, path and query around a stand-in host.
	u, err := url.Parse("x://" + userinfo + "host" + tail)
	if err != nil {
		return nil, withoutURL(err)
	}
	if u.Fragment != "" {
		return nil, errors.New("a fragment (#...) is not allowed")
	}
	h := &hostURL{user: u.User, path: u.Path, query: u.Query()}
	if authority == "" {
		return nil, errors.New("no host")
	}
	for _, a := range strings.Split(authority, ",") {
		hp, err := hostPort(a, defaultPort)
		if err != nil {
			return nil, err
		}
		h.hosts = append(h.hosts, hp)
	}
	return h, nil
}

// hostPort returns a as host:port, with defaultPort if a has none.
func hostPort(a string, defaultPort int) (string, error) {
	if a == "" {
		return "", errors.New("empty host in the host list")
	}
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		// No port: a name, an IPv4 address or a bracketed IPv6 address.
		host, port = a, strconv.Itoa(defaultPort)
		if bracketed := strings.HasPrefix(a, "[") && strings.HasSuffix(a, "]"); bracketed {
			host = a[1 : len(a)-1]
		} else if strings.ContainsAny(a, "[]:") {
			return "", fmt.Errorf("host %q: %v", a, err)
		}
	}
	if host == "" {
		return "", fmt.Errorf("host %q has no name", a)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("host %q: port %q is not a number from 1 to 65535", a, port)
	}
	return net.JoinHostPort(host, port), nil
}

// take removes option name from q and returns its value.
func take(q url.Values, name string) string {
	v := q.Get(name)
	q.Del(name)
	return v
}

// reserved reports the first of names set in q: options that the URL
// gives in its own syntax, which go-redis would also take as options.
func reserved(q url.Values, names ...string) error {
	for _, n := range names {
		if q.Has(n) {
			return fmt.Errorf("option %s is not allowed: the URL gives it in its own place", n)
		}
	}
	return nil
}

// parseSentinelURL parses rest, what follows "redis-sentinel://", into
// failover options, through redis.ParseFailoverURL for the options.
func parseSentinelURL(tls bool, rest string) (*redis.FailoverOptions, error) {
	h, err := splitHosts(rest, DefaultSentinelPort)
	if err != nil {
		return nil, err
	}
	segs := strings.Split(strings.Trim(h.path, "/"), "/")
	if segs[0] == "" || len(segs) > 2 {
		return nil, errors.New("the path must name the primary the sentinels watch, and may give a database: /<primary>[/<db>]")
	}
	db := "0"
	if len(segs) == 2 {
		if n, err := strconv.Atoi(segs[1]); err != nil || n < 0 {
			return nil, fmt.Errorf("database %q is not a number", segs[1])
		}
		db = segs[1]
	}
	q := h.query
	if err := reserved(q, "master_name", "db", "addr", "username", "password"); err != nil {
		return nil, err
	}
	// go-redis reads the sentinels' credentials from the user info, the
	// primary's from options: this URL has them the other way round.
	gu := url.URL{Scheme: "redis", Host: h.hosts[0], Path: "/" + db}
	if tls {
		gu.Scheme = "rediss"
	}
	su, sp := take(q, "sentinel_username"), take(q, "sentinel_password")
	if su != "" || sp != "" {
		gu.User = url.UserPassword(su, sp)
	}
	if h.user != nil {
		if name := h.user.Username(); name != "" {
			q.Set("username", name)
		}
		if pw, ok := h.user.Password(); ok {
			q.Set("password", pw)
		}
	}
	q.Set("master_name", segs[0])
	for _, a := range h.hosts[1:] {
		q.Add("addr", a)
	}
	gu.RawQuery = q.Encode()
	o, err := redis.ParseFailoverURL(gu.String())
	if err != nil {
		return nil, withoutURL(err)
	}
	if o.TLSConfig != nil {
		o.TLSConfig.ServerName = "" // checked against each host dialled
	}
	return o, nil
}

// parseClusterURL parses rest, what follows "redis-cluster://", into
// cluster options, through redis.ParseClusterURL for the options.
func parseClusterURL(tls bool, rest string) (*redis.ClusterOptions, error) {
	h, err := splitHosts(rest, DefaultClusterPort)
	if err != nil {
		return nil, err
	}
	if p := strings.Trim(h.path, "/"); p != "" && p != "0" {
		return nil, fmt.Errorf("a cluster has database 0 only, the URL asks for %q", p)
	}
	if err := reserved(h.query, "addr"); err != nil {
		return nil, err
	}
	gu := url.URL{Scheme: "redis", Host: h.hosts[0], User: h.user}
	if tls {
		gu.Scheme = "rediss"
	}
	for _, a := range h.hosts[1:] {
		h.query.Add("addr", a)
	}
	gu.RawQuery = h.query.Encode()
	o, err := redis.ParseClusterURL(gu.String())
	if err != nil {
		return nil, withoutURL(err)
	}
	if o.TLSConfig != nil {
		o.TLSConfig.ServerName = "" // checked against each node dialled
	}
	return o, nil
}

// withoutURL drops the URL that url.Parse's errors quote, password and
// all, keeping what is wrong with it.
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// redactURL returns s with the password of its user info masked, for
// messages.
func redactURL(s string) string {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return s
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	at := strings.LastIndex(rest[:end], "@")
	if at < 0 {
		return s
	}
	user, _, hasPw := strings.Cut(rest[:at], ":")
	if !hasPw {
		return s
	}
	return scheme + "://" + user + ":xxxxx" + rest[at:]
}
