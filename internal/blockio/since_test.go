package blockio_test

import (
	"reflect"
	"testing"

	"github.com/goaoe/aoe/initiator"
	"github.com/goaoe/aoe/internal/blockio"
)

// TestPathsSince: every counter of PathStats (each uint64 field) is the
// difference of the two snapshots, never below 0; the state is the later
// snapshot's; a bad reply from before is not reported.
func TestPathsSince(t *testing.T) {
	before, after := initiator.PathStats{LastBadReply: "wrong LBA: asked 8, echoed 0"}, initiator.PathStats{Window: 16, CongestionWindow: 4, Verified: true, LastBadReply: "wrong LBA: asked 8, echoed 0"}
	b, a := reflect.ValueOf(&before).Elem(), reflect.ValueOf(&after).Elem()
	var counters []string
	for i := range b.NumField() {
		if b.Field(i).Kind() == reflect.Uint64 {
			b.Field(i).SetUint(5)
			a.Field(i).SetUint(7)
			counters = append(counters, b.Type().Field(i).Name)
		}
	}
	after.WindowCuts = 4 // a cut from before undone by a late reply
	after.BadReplies = 5 // none in between: the last bad reply is older
	got := blockio.PathsSince([]initiator.PathStats{before}, []initiator.PathStats{after})[0]
	g := reflect.ValueOf(got)
	for _, name := range counters {
		want := uint64(2)
		if name == "WindowCuts" || name == "BadReplies" {
			want = 0
		}
		if n := g.FieldByName(name).Uint(); n != want {
			t.Errorf("%s = %d, want %d", name, n, want)
		}
	}
	if got.Window != 16 || got.CongestionWindow != 4 || !got.Verified || got.LastBadReply != "" {
		t.Errorf("state %+v", got)
	}
	after.BadReplies = 6
	after.LastBadReply = "short payload"
	if got := blockio.PathsSince([]initiator.PathStats{before}, []initiator.PathStats{after})[0]; got.LastBadReply != "short payload" {
		t.Errorf("a bad reply in between: %q", got.LastBadReply)
	}
}
