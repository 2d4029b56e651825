package main

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestLoadConfig(t *testing.T) {
	defaults, err := loadConfig(nil, func(string) string { return "" })
	if err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if defaults.RedisURL != "redis://127.0.0.1:6379/0" || defaults.ShutdownTimeout != 25*time.Second ||
		defaults.MaxPages != 2000 || defaults.Concurrency < 1 || defaults.Queue != "folio" || defaults.KeyPrefix != "folio:" ||
		defaults.FileErrors != "fail" {
		t.Errorf("unexpected defaults %+v", defaults)
	}
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    func(c *workerConfig)
		wantErr string
	}{
		{
			name: "environment",
			env: map[string]string{"REDIS_URL": "redis://r:6379/3", "WORKER_CONCURRENCY": "7", "SHUTDOWN_TIMEOUT": "5s",
				"CACHE_DIR": "/c", "CACHE_MAX_BYTES": "100", "PDFIUM_CACHE_DIR": "/w", "MAX_PAGES": "10",
				"MAX_FILE_BYTES": "1000", "PAGE_TIMEOUT": "5s", "PDFIUM_INTERRUPT": "false", "PDFIUM_RECYCLE_PAGES": "0", "PDFIUM_MAX_MEMORY": "536870912", "OPERATION_TTL": "1h", "OPERATION_DEADLINE": "2h", "LOG_LEVEL": "debug", "QUEUE_NAME": "q", "REDIS_KEY_PREFIX": "p:"},
			want: func(c *workerConfig) {
				c.RedisURL, c.Concurrency, c.ShutdownTimeout = "redis://r:6379/3", 7, 5*time.Second
				c.CacheDir, c.CacheMaxBytes, c.WasmCacheDir = "/c", 100, "/w"
				c.MaxPages, c.MaxFileBytes, c.OperationTTL, c.LogLevel = 10, 1000, time.Hour, "debug"
				c.Queue, c.KeyPrefix, c.PageTimeout, c.Interrupt = "q", "p:", 5*time.Second, false
				c.RecyclePages, c.OperationDeadline, c.PDFMaxMemory = 0, 2*time.Hour, 512<<20
			},
		},
		{
			name: "ocr environment",
			env: map[string]string{"OCR_ENGINES": "3", "OCR_DPI": "200", "MAX_PAGE_PIXELS": "2000000", "TEXT_LAYER": "never",
				"MIN_TEXT_CHARS": "5", "UNIT_PAGES": "0", "OCR_DETECT_ORIENTATION": "false", "TESSDATA_PREFIX": "/t", "METRICS_ADDR": ":9090",
				"DEBUG_PPROF": "true"},
			want: func(c *workerConfig) {
				c.OCREngines, c.OCRDPI, c.MaxPagePixels, c.TextLayer = 3, 200, 2_000_000, "never"
				c.MinTextChars, c.UnitPages, c.Orientation, c.Tessdata = 5, 0, false, "/t"
				c.MetricsAddr, c.DebugPprof = ":9090", true
			},
		},
		{
			name: "flags win",
			args: []string{"-worker-concurrency", "3", "-shutdown-timeout=2s", "-warmup"},
			env:  map[string]string{"WORKER_CONCURRENCY": "7"},
			want: func(c *workerConfig) { c.Concurrency, c.ShutdownTimeout, c.Warmup = 3, 2*time.Second, true },
		},
		{
			name: "file errors",
			env:  map[string]string{"FILE_ERRORS": "continue"},
			want: func(c *workerConfig) { c.FileErrors = "continue" },
		},
		{
			name: "file errors flag",
			args: []string{"-file-errors", "fail"},
			env:  map[string]string{"FILE_ERRORS": "continue"},
			want: func(c *workerConfig) { c.FileErrors = "fail" },
		},
		{name: "bad file errors", env: map[string]string{"FILE_ERRORS": "skip"}, wantErr: `FILE_ERRORS must be fail or continue, got "skip"`},
		{name: "bad concurrency", env: map[string]string{"WORKER_CONCURRENCY": "many"}, wantErr: `WORKER_CONCURRENCY must be an integer, got "many"`},
		{name: "zero concurrency", args: []string{"-worker-concurrency", "0"}, wantErr: "WORKER_CONCURRENCY must be at least 1, got 0"},
		{name: "bad duration", env: map[string]string{"SHUTDOWN_TIMEOUT": "soon"}, wantErr: "SHUTDOWN_TIMEOUT must be a duration"},
		{name: "negative deadline", env: map[string]string{"OPERATION_DEADLINE": "-1h"}, wantErr: "OPERATION_DEADLINE must not be negative"},
		{name: "bad redis", env: map[string]string{"REDIS_URL": "localhost:6379"}, wantErr: "REDIS_URL"},
		{name: "bad interrupt", env: map[string]string{"PDFIUM_INTERRUPT": "sometimes"}, wantErr: `PDFIUM_INTERRUPT must be true or false, got "sometimes"`},
		{name: "bad text layer", env: map[string]string{"TEXT_LAYER": "sometimes"}, wantErr: `TEXT_LAYER must be auto, always or never, got "sometimes"`},
		{name: "bad dpi", args: []string{"-ocr-dpi", "20"}, wantErr: "OCR_DPI must be between 50 and 1200, got 20"},
		{name: "bad orientation", env: map[string]string{"OCR_DETECT_ORIENTATION": "maybe"}, wantErr: "OCR_DETECT_ORIENTATION must be true or false"},
		{name: "negative recycle", env: map[string]string{"PDFIUM_RECYCLE_PAGES": "-5"}, wantErr: "PDFIUM_RECYCLE_PAGES must not be negative, got -5"},
		{name: "pdfium memory too large", env: map[string]string{"PDFIUM_MAX_MEMORY": "4294967296"}, wantErr: "PDFIUM_MAX_MEMORY must be between"},
		{name: "pdfium memory too small", env: map[string]string{"PDFIUM_MAX_MEMORY": "1000"}, wantErr: "PDFIUM_MAX_MEMORY must be between"},
		{name: "negative units", args: []string{"-unit-pages=-1"}, wantErr: "UNIT_PAGES must not be negative"},
		{name: "bad level", env: map[string]string{"LOG_LEVEL": "loud"}, wantErr: "LOG_LEVEL must be debug, info, warn or error"},
		{name: "bad pages", args: []string{"-max-pages", "0"}, wantErr: "MAX_PAGES must be at least 1"},
		{name: "bad metrics address", env: map[string]string{"METRICS_ADDR": "9090"}, wantErr: `METRICS_ADDR must be host:port, :port or empty, got "9090"`},
		{name: "pprof without metrics address", env: map[string]string{"DEBUG_PPROF": "true"}, wantErr: "DEBUG_PPROF needs METRICS_ADDR"},
		{name: "unknown flag", args: []string{"-nope"}, wantErr: "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := loadConfig(tt.args, func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := defaults
			tt.want(&want)
			if diff := cmp.Diff(want, got, cmp.AllowUnexported(workerConfig{})); diff != "" {
				t.Errorf("loadConfig (-want +got):\n%s", diff)
			}
		})
	}
}
