package main

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/folio-ocr/folio/config"
	"github.com/folio-ocr/folio/lang"
)

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	defaults := apiConfig{
		Common: config.Common{
			RedisURL:        "redis://127.0.0.1:6379/0",
			LogLevel:        "info",
			KeyPrefix:       "folio:",
			Queue:           "folio",
			OperationTTL:    720 * time.Hour,
			ShutdownTimeout: 10 * time.Second,
		},
		ListenAddr:      ":8080",
		GRPCListenAddr:  ":8081",
		MaxRequestBytes: 10 << 20,
		SyncTimeout:     2 * time.Minute,
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want func(c *apiConfig) // applied to defaults; nil with wantErr
		// wantErr, if set, must appear in the error.
		wantErr string
	}{
		{name: "defaults", want: func(*apiConfig) {}},
		{
			name: "environment",
			env: map[string]string{
				"REDIS_URL": "redis://redis:6379/2", "LISTEN_ADDR": "127.0.0.1:9000", "LOG_LEVEL": "debug",
				"OPERATION_TTL": "24h", "MAX_REQUEST_BYTES": "1024", "SHUTDOWN_TIMEOUT": "3s",
				"REDIS_KEY_PREFIX": "t:", "QUEUE_NAME": "q", "TESSDATA_PREFIX": "/opt/tessdata",
			},
			want: func(c *apiConfig) {
				c.RedisURL, c.ListenAddr, c.LogLevel = "redis://redis:6379/2", "127.0.0.1:9000", "debug"
				c.OperationTTL, c.MaxRequestBytes, c.ShutdownTimeout = 24*time.Hour, 1024, 3*time.Second
				c.KeyPrefix, c.Queue, c.TessdataPrefix = "t:", "q", "/opt/tessdata"
			},
		},
		{
			name: "flags win over environment",
			args: []string{"-redis-url", "rediss://r:6380/1", "-listen-addr=:9090", "-log-level", "warn",
				"-operation-ttl", "1h", "-max-request-bytes", "2048", "-shutdown-timeout", "1s", "-tessdata-prefix", "/models"},
			env: map[string]string{"REDIS_URL": "redis://redis:6379/2", "LISTEN_ADDR": ":1", "OPERATION_TTL": "24h", "TESSDATA_PREFIX": "/opt/tessdata"},
			want: func(c *apiConfig) {
				c.RedisURL, c.ListenAddr, c.LogLevel = "rediss://r:6380/1", ":9090", "warn"
				c.OperationTTL, c.MaxRequestBytes, c.ShutdownTimeout = time.Hour, 2048, time.Second
				c.TessdataPrefix = "/models"
			},
		},
		{
			name: "empty tessdata flag searches the standard directories",
			args: []string{"-tessdata-prefix="}, env: map[string]string{"TESSDATA_PREFIX": "/opt/tessdata"},
			want: func(*apiConfig) {},
		},
		{name: "empty queue", args: []string{"-queue-name", ""}, wantErr: "REDIS_KEY_PREFIX and QUEUE_NAME must not be empty"},
		{name: "bad TTL env", env: map[string]string{"OPERATION_TTL": "30 days"}, wantErr: `OPERATION_TTL must be a duration such as "25s" or "720h", got "30 days"`},
		{name: "bad shutdown env", env: map[string]string{"SHUTDOWN_TIMEOUT": "soon"}, wantErr: "SHUTDOWN_TIMEOUT must be a duration"},
		{name: "bad max bytes env", env: map[string]string{"MAX_REQUEST_BYTES": "10MiB"}, wantErr: `MAX_REQUEST_BYTES must be an integer, got "10MiB"`},
		{name: "bad redis url", env: map[string]string{"REDIS_URL": "127.0.0.1:6379"}, wantErr: "REDIS_URL must be a redis:// or rediss:// URL"},
		{name: "grpc off", args: []string{"-grpc-listen-addr="}, want: func(c *apiConfig) { c.GRPCListenAddr = "" }},
		{name: "grpc env", env: map[string]string{"GRPC_LISTEN_ADDR": "127.0.0.1:9001"}, want: func(c *apiConfig) { c.GRPCListenAddr = "127.0.0.1:9001" }},
		{name: "bad grpc addr", env: map[string]string{"GRPC_LISTEN_ADDR": "9001"}, wantErr: `GRPC_LISTEN_ADDR must be host:port, :port or empty, got "9001"`},
		{name: "metrics on", env: map[string]string{"METRICS_ADDR": ":9091"}, want: func(c *apiConfig) { c.MetricsAddr = ":9091" }},
		{name: "bad metrics addr", env: map[string]string{"METRICS_ADDR": "9091"}, wantErr: `METRICS_ADDR must be host:port, :port or empty, got "9091"`},
		{name: "bad listen addr", args: []string{"-listen-addr", "8080"}, wantErr: `LISTEN_ADDR must be host:port or :port, got "8080"`},
		{name: "bad log level", env: map[string]string{"LOG_LEVEL": "verbose"}, wantErr: `LOG_LEVEL must be debug, info, warn or error, got "verbose"`},
		{name: "zero TTL", args: []string{"-operation-ttl", "0s"}, wantErr: "OPERATION_TTL must be positive"},
		{name: "negative max bytes", args: []string{"-max-request-bytes", "-1"}, wantErr: "MAX_REQUEST_BYTES must be between 1 and 1073741824, got -1"},
		{name: "zero shutdown", args: []string{"-shutdown-timeout", "0s"}, wantErr: "SHUTDOWN_TIMEOUT must be positive"},
		{name: "unknown flag", args: []string{"-port", "1"}, wantErr: "flag provided but not defined: -port"},
		{name: "stray argument", args: []string{"serve"}, wantErr: `unexpected arguments ["serve"]`},
		{
			name:    "every error at once",
			env:     map[string]string{"LOG_LEVEL": "loud"},
			args:    []string{"-shutdown-timeout", "-1s"},
			wantErr: "LOG_LEVEL must be debug, info, warn or error, got \"loud\"\nSHUTDOWN_TIMEOUT must be positive",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			getenv := func(k string) string { return tt.env[k] }
			got, err := loadConfig(tt.args, getenv)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("loadConfig() error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("loadConfig() error = %v", err)
			}
			want := defaults
			tt.want(&want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("loadConfig() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadConfigHelp(t *testing.T) {
	t.Parallel()
	_, err := loadConfig([]string{"-h"}, func(string) string { return "" })
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("loadConfig(-h) = %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"-redis-url", "REDIS_URL", "-shutdown-timeout", "-tessdata-prefix", "TESSDATA_PREFIX", "-grpc-listen-addr", "GRPC_LISTEN_ADDR"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("usage %q does not mention %s", err, want)
		}
	}
}

func TestInstalledModels(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	for _, f := range []string{"parent/tessdata/eng.traineddata", "parent/tessdata/deu.traineddata", "flat/jpn.traineddata", "empty/pdf.ttf"} {
		p := filepath.Join(root, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name   string
		prefix string
		want   lang.Models
		// wantLog is the message of the one entry logged, from its start.
		wantLog string
		level   zapcore.Level
	}{
		{"tessdata dir", filepath.Join(root, "flat"), lang.Models{"jpn": true}, "language hints are checked against the installed Tesseract models", zapcore.InfoLevel},
		{"parent of tessdata", filepath.Join(root, "parent"), lang.Models{"eng": true, "deu": true}, "language hints are checked against", zapcore.InfoLevel},
		{"missing", filepath.Join(root, "missing"), nil, "no tessdata directory found; language hints are checked for known languages only", zapcore.WarnLevel},
		{"no models", filepath.Join(root, "empty"), nil, "no Tesseract models (*.traineddata) in the tessdata directory;", zapcore.WarnLevel},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			core, logs := observer.New(zapcore.DebugLevel)
			got := installedModels(tt.prefix, zap.New(core))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("installedModels() (-want +got):\n%s", diff)
			}
			entries := logs.All()
			if len(entries) != 1 || !strings.HasPrefix(entries[0].Message, tt.wantLog) || entries[0].Level != tt.level {
				t.Fatalf("logged %v, want one %s entry starting with %q", entries, tt.level, tt.wantLog)
			}
			if p := entries[0].ContextMap()["tessdata_prefix"]; tt.level == zapcore.WarnLevel && p != tt.prefix {
				t.Errorf("tessdata_prefix = %v, want %q", p, tt.prefix)
			}
		})
	}
}
