package router

import (
	"strings"
	"testing"
	"time"
)

func TestNotAnswering(t *testing.T) {
	since := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	st := NotAnswering(State{Running: true, PID: 7, Message: "Router running (pid 7)"}, since, 6*time.Second)
	if st.Running || st.PID != 7 || !IsNotAnswering(st) || !strings.HasPrefix(st.Message, "Router not answering (pid 7) since 2026-12-01T10:00:00Z") {
		t.Fatalf("NotAnswering = %+v", st)
	}
	if st := NotAnswering(State{Running: true}, since, time.Second); !strings.HasPrefix(st.Message, "Router not answering since ") {
		t.Fatalf("without a pid: %+v", st)
	}
	if IsNotAnswering(State{Running: true, Message: "Router not answering"}) || IsNotAnswering(State{Message: "Router stopped"}) {
		t.Fatal("IsNotAnswering of other states")
	}
}
