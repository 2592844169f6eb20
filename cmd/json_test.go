package cmd

import (
	"encoding/json"
	"errors"
	"net"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/goaoe/aoe/discover"
	"github.com/goaoe/aoe/initiator"
	"github.com/goaoe/aoe/initiator/wire"
)

// keys returns the sorted field names of a JSON object.
func keys(t *testing.T, v any) []string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var k []string
	for n := range m {
		k = append(k, n)
	}
	sort.Strings(k)
	return k
}

// TestJSONSameFields: an object has the same fields whatever happened
// (docs/json.md): what is unknown or did not happen is null, never left
// out.
func TestJSONSameFields(t *testing.T) {
	tg := initiator.Target{Shelf: 1, Slot: 1, MAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}}
	id := &wire.Identity{Model: "m", Serial: "s", LBA48Sectors: 2048, LBA48: true}
	ok := toIdentifyJSON(discover.PathIdentity{Target: tg, Interface: "eth0", Identity: id, Data: make([]byte, 512)})
	failed := toIdentifyJSON(discover.PathIdentity{Target: tg, Interface: "eth0", Err: errors.New("no answer")})
	if k1, k2 := keys(t, ok), keys(t, failed); !reflect.DeepEqual(k1, k2) {
		t.Errorf("identify: %v vs failed %v", k1, k2)
	}
	b, _ := json.Marshal(failed)
	if want := `{"mac":"02:00:00:00:00:01","interface":"eth0","model":null,"serial":null,"firmware":null,"sectors":null,"bytes":null,"capacity_invalid":null,"lba28_sectors":null,"lba48_sectors":null,"lba48":null,"flush_cache":null,"smart":null,"data":null,"error":"no answer"}`; string(b) != want {
		t.Errorf("failed identify:\n%s\nwant\n%s", b, want)
	}

	good := toPingReply(discover.PingReply{Seq: 1, Target: tg, Interface: "eth0", RTT: 1500 * time.Microsecond})
	bad := toPingReply(discover.PingReply{Seq: 2, Target: tg, Interface: "eth0", RTT: time.Millisecond, Err: wire.ErrorCode(2)})
	if k1, k2 := keys(t, good), keys(t, bad); !reflect.DeepEqual(k1, k2) {
		t.Errorf("ping reply: %v vs error reply %v", k1, k2)
	}
	// Durations are seconds (float), in fields named _seconds.
	if good.RTTSeconds != 0.0015 {
		t.Errorf("rtt_seconds %v, want 0.0015", good.RTTSeconds)
	}
	res := &discover.PingResult{Sent: 2, Answered: 1, Replies: []discover.PingReply{{Seq: 1, Target: tg, RTT: 2 * time.Millisecond}}}
	none := &discover.PingResult{Sent: 2}
	if k1, k2 := keys(t, toPingSummary("e1.1", res, false)), keys(t, toPingSummary("e1.1", none, true)); !reflect.DeepEqual(k1, k2) {
		t.Errorf("ping: %v vs %v", k1, k2)
	}
	if s := toPingSummary("e1.1", res, false); *s.Min != 0.002 || *s.Max != 0.002 || s.Identify != nil {
		t.Errorf("ping summary: %+v", s)
	}
}
