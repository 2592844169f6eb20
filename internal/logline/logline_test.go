package logline

import (
	"errors"
	"log/slog"
	"reflect"
	"testing"
)

func TestLines(t *testing.T) {
	var lines []string
	log := New(func(s string) { lines = append(lines, s) })
	log.Info("loading the aoe driver: modprobe aoe")
	log.Debug("not printed")
	log.Warn(errors.New("e1.2: no uevents").Error())
	log.With("dev", "e1.2").WithGroup("g").Error("failed", "n", 3, slog.Group("p", "x", 1), slog.Attr{})
	want := []string{
		"loading the aoe driver: modprobe aoe",
		"e1.2: no uevents",
		"failed dev=e1.2 g.n=3 g.p.x=1",
	}
	if !reflect.DeepEqual(lines, want) {
		t.Errorf("lines %q, want %q", lines, want)
	}
}
