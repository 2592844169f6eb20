package initiator

import (
	"net"
	"testing"

	"github.com/goaoe/aoe/initiator/wire"
)

// TestSendTags: the calls of a Disk's sends live in the client's tag table
// (Client.sends), the others in its map; a tag is unique over both, even
// when the table is crowded (more sends than slots: the rest go to the
// map), a caller's own tag is refused while a send holds it, and an
// unregistered tag finds nothing.
func TestSendTags(t *testing.T) {
	c := New(Interface{Name: "rec0", MAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, MTU: 1500}, newRecConn(), nil)
	defer c.Close()
	h := &attempt{}
	seen := map[uint32]*call{}
	for range tagSlots + 100 {
		cl := &call{ata: h, once: true}
		tag, err := c.expect(cl)
		if err != nil {
			t.Fatal(err)
		}
		if tag&tagUserspace == 0 {
			t.Fatalf("tag %#x without bit 31", tag)
		}
		if _, dup := seen[tag]; dup {
			t.Fatalf("tag %#x given twice", tag)
		}
		seen[tag] = cl
	}
	plain := &call{ch: make(chan *wire.Frame, 1)}
	ptag, err := c.register(plain, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, dup := seen[ptag]; dup {
		t.Fatalf("tag %#x given twice", ptag)
	}
	var anySend uint32
	for tag := range seen {
		anySend = tag
		break
	}
	if _, err := c.register(&call{ch: make(chan *wire.Frame, 1)}, anySend); err == nil {
		t.Errorf("tag %#x of a send registered again", anySend)
	}
	c.mu.Lock()
	inMap := len(c.calls)
	for tag, cl := range seen {
		if got := c.lookup(tag); got != cl {
			t.Errorf("tag %#x: got %p, want %p", tag, got, cl)
		}
	}
	c.mu.Unlock()
	if inMap < 100+1 {
		t.Errorf("%d calls in the map, want the sends past the table's %d slots and the plain call", inMap, tagSlots)
	}
	for tag := range seen {
		c.forget(tag)
	}
	c.unregister(ptag)
	c.mu.Lock()
	defer c.mu.Unlock()
	for tag := range seen {
		if c.lookup(tag) != nil {
			t.Errorf("tag %#x still registered", tag)
		}
	}
	for i, s := range c.sends {
		if s.cl != nil {
			t.Errorf("slot %d still holds %#x", i, s.tag)
		}
	}
	if len(c.calls) != 0 {
		t.Errorf("%d calls left in the map", len(c.calls))
	}
}
