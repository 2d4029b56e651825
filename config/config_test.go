package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestFlagName(t *testing.T) {
	t.Parallel()
	for env, want := range map[string]string{"REDIS_URL": "redis-url", "PDFIUM_RECYCLE_PAGES": "pdfium-recycle-pages", "X": "x"} {
		if got := FlagName(env); got != want {
			t.Errorf("FlagName(%q) = %q, want %q", env, got, want)
		}
	}
}

func TestLoader(t *testing.T) {
	t.Parallel()
	type settings struct {
		Common
		N   int
		B   bool
		I64 int64
	}
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    func(*settings)
		wantErr string
	}{
		{name: "defaults", want: func(*settings) {}},
		{
			name: "environment",
			env: map[string]string{"REDIS_URL": "redis://r:1/2", "REDIS_KEY_PREFIX": "p:", "QUEUE_NAME": "q",
				"OPERATION_TTL": "1h", "LOG_LEVEL": "debug", "SHUTDOWN_TIMEOUT": "3s", "N": "7", "B": "true", "I64": "9"},
			want: func(s *settings) {
				s.RedisURL, s.KeyPrefix, s.Queue, s.OperationTTL = "redis://r:1/2", "p:", "q", time.Hour
				s.LogLevel, s.ShutdownTimeout, s.N, s.B, s.I64 = "debug", 3*time.Second, 7, true, 9
			},
		},
		{
			name: "flags win",
			args: []string{"-n", "8", "-b=false", "-queue-name", "f"},
			env:  map[string]string{"N": "7", "B": "true", "QUEUE_NAME": "q"},
			want: func(s *settings) { s.N, s.Queue = 8, "f" },
		},
		{
			name:    "every malformed variable at once",
			env:     map[string]string{"N": "many", "B": "maybe", "I64": "1e3", "OPERATION_TTL": "a month"},
			wantErr: "OPERATION_TTL must be a duration such as \"25s\" or \"720h\", got \"a month\"\nN must be an integer, got \"many\"\nI64 must be an integer, got \"1e3\"\nB must be true or false, got \"maybe\"",
		},
		{name: "stray argument", args: []string{"serve"}, wantErr: `unexpected arguments ["serve"]; test takes flags only`},
		{name: "unknown flag", args: []string{"-port=1"}, wantErr: "flag provided but not defined: -port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := settings{Common: DefaultCommon(time.Second), N: 1, I64: 2}
			l := NewLoader("test", func(k string) string { return tt.env[k] })
			got.Common.Bind(l)
			l.Int(&got.N, "N", "n")
			l.Int64(&got.I64, "I64", "i64")
			l.Bool(&got.B, "B", "b")
			err := l.Parse(tt.args)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse = %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := settings{Common: DefaultCommon(time.Second), N: 1, I64: 2}
			tt.want(&want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("settings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	c := DefaultCommon(time.Second)
	l := NewLoader("test", func(string) string { return "" })
	c.Bind(l)
	err := l.Parse([]string{"-h"})
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("Parse(-h) = %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"-redis-url", "(REDIS_URL)", "-shutdown-timeout", "(SHUTDOWN_TIMEOUT)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("usage does not mention %s:\n%s", want, err)
		}
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	c := Common{RedisURL: "localhost:6379", LogLevel: "loud"}
	var msgs []string
	for _, err := range c.Validate() {
		msgs = append(msgs, err.Error())
	}
	got := strings.Join(msgs, "\n")
	for _, want := range []string{"REDIS_URL must be a redis:// or rediss:// URL", "REDIS_KEY_PREFIX and QUEUE_NAME must not be empty",
		"OPERATION_TTL must be positive", `LOG_LEVEL must be debug, info, warn or error, got "loud"`, "SHUTDOWN_TIMEOUT must be positive"} {
		if !strings.Contains(got, want) {
			t.Errorf("Validate does not say %q:\n%s", want, got)
		}
	}
	if errs := DefaultCommon(time.Second).Validate(); len(errs) != 0 {
		t.Errorf("defaults invalid: %v", errs)
	}
}

// TestNewLogger checks the one log format of every command: JSON on
// stderr, the time under "time" in RFC 3339, the logger's name.
func TestNewLogger(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := os.Stderr
	os.Stderr = w
	logger, err := NewLogger("debug", "worker")
	os.Stderr = stderr
	if err != nil {
		t.Fatal(err)
	}
	logger.Debug("hello")
	_ = logger.Sync()
	_ = w.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(r)
	var entry map[string]any
	if err := json.Unmarshal(buf.Bytes(), &entry); err != nil {
		t.Fatalf("not one JSON line: %q", buf.String())
	}
	ts, _ := entry["time"].(string)
	if _, err := time.Parse(time.RFC3339Nano, ts); err != nil || entry["logger"] != "worker" || entry["msg"] != "hello" {
		t.Errorf("entry %v: want time in RFC 3339, logger worker, msg hello", entry)
	}
	if _, err := NewLogger("loud", "x"); err == nil {
		t.Error("NewLogger(loud) succeeded")
	}
}
