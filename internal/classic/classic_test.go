package classic

import (
	"bytes"
	"net"
	"strings"
	"testing"

	"github.com/goaoe/aoe/discover"
	"github.com/goaoe/aoe/initiator"
	"github.com/goaoe/aoe/initiator/wire"
	"github.com/goaoe/aoe/internal/ata"
)

func TestAoecfgAnswer(t *testing.T) {
	full := bytes.Repeat([]byte("x"), wire.MaxConfigString)
	r := initiator.ConfigReply{Target: initiator.Target{Shelf: 1, Slot: 2}, Config: wire.ConfigArg{String: full}}
	var b bytes.Buffer
	AoecfgAnswer(&b, r, true)
	// aoetools 36 printed 1,016 of the 1,024 bytes.
	if b.String() != string(full)+"\n" {
		t.Errorf("a full string: %d bytes printed", b.Len())
	}
	b.Reset()
	r.Config.String = []byte("rack\x00junk")
	AoecfgAnswer(&b, r, false)
	r.Err = wire.ErrConfigStringPresent
	AoecfgAnswer(&b, r, false)
	r.Err = wire.ErrorCode(9)
	AoecfgAnswer(&b, r, true)
	if want := "1.2\track\n1.2\t*badcfg*\n*GOK*\n"; b.String() != want {
		t.Errorf("%q, want %q", b.String(), want)
	}
}

func TestSancheck(t *testing.T) {
	mac := net.HardwareAddr{2, 0xae, 0, 0, 0, 1}
	paths := []discover.CheckedPath{
		{Target: initiator.Target{MAC: mac, Shelf: 1, Slot: 2}, Interface: "eth0", MTU: 9000, Sectors: 17, MaxSectors: 2},
	}
	ifaces := []discover.Interface{{Name: "eth0", Up: true, MTU: 9000, PCIID: "8086:100e"}, {Name: "eth1", MTU: 1500}}
	rep := &discover.Report{Interfaces: ifaces, Devices: discover.Devices(paths, ifaces), Paths: paths}
	var b strings.Builder
	Sancheck(&b, rep, true)
	rule := "==========================================\n"
	want := "done.\n" + rule + "INTERFACE SUMMARY\n" + rule + "Name\tStatus\tMTU\tPCI ID\n" +
		"eth0\tUP\t9000\t8086:100e\neth1\tDN\t1500\t\n" +
		rule + "DEVICE SUMMARY\n" + rule + "Device\tMacs\tPayload\tLocal Interfaces\n" +
		"e1.2\t   1\t8704\teth0\n   The path eth0->02ae00000001 is only capable of 1024 byte payloads\n" +
		"eth0:\ne1.2 02ae00000001 2\n\neth1:\n\n"
	if b.String() != want {
		t.Errorf("got\n%q\nwant\n%q", b.String(), want)
	}
}

func TestParseSMART(t *testing.T) {
	s, err := ParseSMART("read_data:0x3")
	if err != nil || s.Feature != 0xd0 || !s.In || s.LBALow != 3 {
		t.Errorf("%+v %v", s, err)
	}
	if a := s.Arg(nil); a.SectorCount != 1 || a.LBA != 0xc24f03 || !a.NoLBA || a.CmdStatus != ata.Smart {
		t.Errorf("%+v", a)
	}
	if _, err := ParseSMART("bogus"); err != ErrNoSuchSMART {
		t.Errorf("%v", err)
	}
	if _, err := ParseSMART("enable:300"); err != ErrBadSMARTArg || SMARTMessage("enable:300", err) != "aoeping Error: bad SMART argument: 300\n" {
		t.Errorf("%v", err)
	}
}
