package classic

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/goaoe/aoe/initiator"
	"github.com/goaoe/aoe/initiator/aoeaddr"
	"github.com/goaoe/aoe/initiator/wire"
	"github.com/goaoe/aoe/internal/ata"
)

// AoepingUsage is aoeping's usage message, for the program name prog.
func AoepingUsage(prog string) string {
	return fmt.Sprintf(`usage:	%s [options] {shelf} {slot} {netif}
options:
	-i	do ATA device identify dump as raw hex
	-I	do ATA device identify print fields
	-v	be verbose
	-h	show this usage summary
options taking arguments:
	-s	timeout in seconds
	-S	perform SMART command
	-t	specify number for starting AoE tag
`, prog)
}

// AoepingHeader is what aoeping -v prints before it sends anything.
func AoepingHeader(w io.Writer, tag uint32, netif string, a aoeaddr.Address) {
	fmt.Fprintf(w, "tag: %x\neth: %s\nshelf: %d\nslot: %d\n", tag, netif, a.Shelf, a.Slot)
}

// AoepingConfig is what aoeping -v prints of the Query Config answer: the
// reply frame as the Ethernet minimum pads it (aoeping saw 60 bytes), and
// the target's MAC.
func AoepingConfig(w io.Writer, r initiator.ConfigReply) {
	raw, _ := r.Frame.MarshalBinary()
	fmt.Fprint(w, "config query response:\n")
	hexLines(w, raw, true)
	fmt.Fprintf(w, "found %s with mac %s\n", r.Target.Address().String(), strings.ReplaceAll(r.Target.MAC.String(), ":", ""))
}

// IdentifyDump is aoeping -i: the 512 bytes of IDENTIFY data in hex.
func IdentifyDump(w io.Writer, data []byte) {
	fmt.Fprint(w, "device identify response:\n")
	hexLines(w, data, false)
}

// IdentifyFields is aoeping -I: three vendor-specific words and the
// serial, firmware and model strings as aoeping prints them (byte-swapped
// words up to the first NUL or unprintable byte, trailing blanks kept).
func IdentifyFields(w io.Writer, data []byte) {
	fmt.Fprint(w, "device identify fields:\n")
	for i := range 3 {
		v := uint16(data[14+2*i])<<8 | uint16(data[15+2*i])
		fmt.Fprintf(w, "vendor_specific_%d: 0x%X\n", i, v)
	}
	fmt.Fprintf(w, "serial_number: %s\nfirmware_rev: %s\nmodel: %s\n", rawField(data, 10, 20), rawField(data, 23, 27), rawField(data, 27, 47))
}

func rawField(data []byte, from, to int) string {
	var b []byte
	for i := from; i < to; i++ {
		b = append(b, data[2*i+1], data[2*i])
	}
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			return string(b[:i])
		}
	}
	return string(b)
}

// SMART is one of aoeping's SMART commands (-S NAME[:ARG]).
type SMART struct {
	Name    string
	Feature uint8 // the features register
	In, Out bool  // a sector of data comes back, or goes out
	LBALow  uint8 // the argument after the colon
}

var smartCommands = map[string]SMART{
	"read_data": {Feature: 0xd0, In: true}, "offline_immediate": {Feature: 0xd4},
	"read_log": {Feature: 0xd5, In: true}, "write_log": {Feature: 0xd6, Out: true},
	"enable": {Feature: 0xd8}, "disable": {Feature: 0xd9}, "return_status": {Feature: 0xda},
}

// SMART parse errors.
var (
	// ErrNoSuchSMART is returned by ParseSMART for an unknown command.
	ErrNoSuchSMART = errors.New("no such SMART command")
	// ErrBadSMARTArg is returned by ParseSMART for an argument that is no
	// byte (decimal, 0x hex or 0 octal).
	ErrBadSMARTArg = errors.New("bad SMART argument")
)

// ParseSMART parses aoeping's -S argument. Errors: ErrNoSuchSMART,
// ErrBadSMARTArg.
func ParseSMART(s string) (SMART, error) {
	name, param, _ := strings.Cut(s, ":")
	sc, ok := smartCommands[name]
	if !ok {
		return SMART{}, ErrNoSuchSMART
	}
	sc.Name = name
	if param != "" {
		v, err := strconv.ParseUint(param, 0, 8)
		if err != nil {
			return SMART{}, ErrBadSMARTArg
		}
		sc.LBALow = uint8(v)
	}
	return sc, nil
}

// SMARTMessage is aoeping's message for a -S parse error.
func SMARTMessage(s string, err error) string {
	name, param, _ := strings.Cut(s, ":")
	if errors.Is(err, ErrNoSuchSMART) {
		return "aoeping Error: no such SMART command: " + name + "\n"
	}
	return "aoeping Error: bad SMART argument: " + param + "\n"
}

// Arg returns the ATA argument of the command; data is the sector a
// write_log sends.
func (s SMART) Arg(data []byte) *wire.ATAArg {
	// LBA mid and high carry SMART's signature 0x4f, 0xc2.
	a := &wire.ATAArg{FeatureErr: s.Feature, CmdStatus: ata.Smart, LBA: uint64(s.LBALow) | 0xc24f00, NoLBA: true}
	if s.In || s.Out {
		a.SectorCount = 1
	}
	if s.Out {
		a.Write, a.Data = true, data
	}
	return a
}

// SMARTResult is what aoeping prints of a SMART reply: the ATA registers
// and, for a command that reads, the sector in hex. It returns false when
// the target aborted the command (aoeping's exit 1).
func SMARTResult(w io.Writer, s SMART, r *wire.ATAArg) bool {
	if r.FeatureErr&ata.ErrAbort != 0 {
		fmt.Fprint(w, "SMART command aborted on target.\n")
		return false
	}
	fmt.Fprint(w, "ATA registers:\n")
	for _, reg := range []struct {
		name string
		v    uint8
	}{{"Features", r.FeatureErr}, {"Sector Count", r.SectorCount}, {"LBA Low", uint8(r.LBA)}, {"LBA Mid", uint8(r.LBA >> 8)}, {"LBA High", uint8(r.LBA >> 16)}, {"Status", r.CmdStatus}} {
		fmt.Fprintf(w, "%20s: 0x%02x\n", reg.name, reg.v)
	}
	if s.In {
		fmt.Fprint(w, "SMART data:\n")
		d := r.Data
		if len(d) > 512 {
			d = d[:512]
		}
		hexLines(w, d, true)
	}
	return true
}

// hexLines writes bytes as aoeping does: "%02x " each, a newline after
// every 16, and one more at the end when final.
func hexLines(w io.Writer, b []byte, final bool) {
	var s strings.Builder
	for i, c := range b {
		fmt.Fprintf(&s, "%02x ", c)
		if i%16 == 15 {
			s.WriteByte('\n')
		}
	}
	if final {
		s.WriteByte('\n')
	}
	io.WriteString(w, s.String())
}
