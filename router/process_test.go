package router

import (
	"log/slog"
	"testing"
)

func TestLineLevel(t *testing.T) {
	for _, tc := range []struct {
		line string
		want slog.Level
	}{
		{"2026-12-01 14:54:37.240499 +0000 SERVER (error) [C14] Connection failed", slog.LevelError},
		{"2026-12-01 14:54:37.240499 +0000 SERVER (critical) Shutting down, required listener failed", slog.LevelError},
		{"2026-12-01 14:54:37.240406 +0000 SERVER (info) [C14] Accepted connection", slog.LevelInfo},
		{"2026-12-01 14:54:35.823594 +0000 ROUTER (notice) Router started", slog.LevelInfo},
		{"2026-12-01 14:54:35.823594 +0000 TCP_ADAPTOR (warning) Listener busy", slog.LevelWarn},
		{"2026-12-01 14:54:35.823594 +0000 ROUTER_CORE (debug) x", slog.LevelDebug},
		{"2026-12-01 14:54:35.823594 +0000 ROUTER_CORE (trace) x", slog.LevelDebug},
		{"a line without a severity", slog.LevelWarn},
		{"Traceback (most recent call last):", slog.LevelWarn},
		{"(", slog.LevelWarn},
		{"", slog.LevelWarn},
	} {
		if got := LineLevel(tc.line, slog.LevelWarn); got != tc.want {
			t.Errorf("LineLevel(%q) = %v, want %v", tc.line, got, tc.want)
		}
	}
}

func FuzzLineLevel(f *testing.F) {
	f.Add("2026-12-01 14:54:37.240499 +0000 SERVER (error) [C14] x")
	f.Add("((((")
	f.Fuzz(func(t *testing.T, line string) {
		_ = LineLevel(line, slog.LevelInfo)
	})
}
