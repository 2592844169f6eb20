package aoetest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"sync"

	"github.com/goaoe/aoe/initiator/aoeaddr"
	"github.com/goaoe/aoe/initiator/wire"
	"github.com/goaoe/aoe/internal/ata"
	"github.com/mdlayher/packet"
)

// Target is an AoE target that answers like vblade 25: Query Config with
// all five sub-commands, ATA IDENTIFY, READ and WRITE SECTORS (EXT), an
// error 1 reply to unknown commands.
type Target struct {
	Shelf uint16
	Slot  uint8
	MAC   net.HardwareAddr
	// BufferCount is advertised in Query Config replies (vblade: 16).
	BufferCount uint16
	// MTU gives the advertised sector count, (MTU-36)/512 (vblade's rule).
	MTU int
	// Sectors is the disk size; Model and Serial its IDENTIFY strings.
	Sectors uint64
	Model   string
	Serial  string
	// IdentifySectors, when not 0, is the capacity IDENTIFY claims
	// instead of Sectors (a lying target: reads and writes still stop at
	// Sectors, with IDNF).
	IdentifySectors uint64
	// NoLBA48 makes IDENTIFY deny LBA48 (word 83 bit 10 clear) and put
	// the claimed capacity, cut to 32 bits but not to LBA28's 28, in
	// words 60-61 (a target without LBA48 that lies about its size). The
	// target still takes LBA28 addresses as vblade does: the low 28 bits.
	NoLBA48 bool
	// Silent makes the target ignore everything.
	Silent bool
	// Disk, when not nil, is the disk's content (Sectors*512 bytes): READ
	// and WRITE use it (else reads return zeros and writes are dropped).
	// ReadOnly makes writes fail with ABRT, as vblade -r does.
	Disk     []byte
	ReadOnly bool

	// SMART makes IDENTIFY claim SMART support and answers SMART commands
	// (vblade does neither).
	SMART bool
	// MaxMasks bounds the Mac Mask List (vblade: 32).
	MaxMasks int

	mu       sync.Mutex
	config   []byte
	masks    []net.HardwareAddr
	reserved []net.HardwareAddr
	// Requests counts the requests the target answered, by command.
	Requests map[wire.Command]int
}

// SetConfig sets the config string.
func (t *Target) SetConfig(s []byte) {
	t.mu.Lock()
	t.config = append([]byte(nil), s...)
	t.mu.Unlock()
}

// Config returns the config string.
func (t *Target) Config() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]byte(nil), t.config...)
}

// Serve answers requests read from conn until it fails or is closed.
func (t *Target) Serve(conn net.PacketConn) error {
	return readFrames(conn, func(b []byte) error {
		reply := t.Handle(b)
		if reply == nil {
			return nil
		}
		_, err := conn.WriteTo(reply, &packet.Addr{HardwareAddr: reply[0:6]})
		return err
	})
}

// readFrames calls handle with each frame read from conn until the
// connection is closed (nil) or fails, or handle fails (that error).
func readFrames(conn net.PacketConn, handle func([]byte) error) error {
	buf := make([]byte, 1<<16)
	for {
		n, _, err := conn.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		if err := handle(buf[:n]); err != nil {
			return err
		}
	}
}

// Handle returns the reply to one frame, or nil when the target stays
// silent. Replies are not padded, as vblade's are not on virtual links.
func (t *Target) Handle(b []byte) []byte {
	var req wire.Frame
	// An argument value AoEr11 does not define (a Mac Mask List
	// sub-command other than read and edit) is answered, as vblade
	// does, with error 2 and the request echoed.
	err := req.UnmarshalBinary(b)
	badArg := errors.Is(err, wire.ErrBadArgument)
	if t.Silent || (err != nil && !badArg) || req.Response {
		return nil
	}
	if !(bytes.Equal(req.Destination, t.MAC) || bytes.Equal(req.Destination, wire.BroadcastMAC)) {
		return nil
	}
	if (req.Shelf != t.Shelf && req.Shelf != aoeaddr.BroadcastShelf) || (req.Slot != t.Slot && req.Slot != aoeaddr.BroadcastSlot) {
		return nil
	}
	t.mu.Lock()
	masked := len(t.masks) > 0 && !containsMAC(t.masks, req.Source)
	t.mu.Unlock()
	if masked {
		return nil // a mask list that does not name the sender: silence
	}
	rep := req
	rep.Destination, rep.Source = req.Source, t.MAC
	rep.Shelf, rep.Slot = t.Shelf, t.Slot
	rep.Response = true
	t.mu.Lock()
	if t.Requests == nil {
		t.Requests = map[wire.Command]int{}
	}
	t.Requests[req.Command]++
	t.mu.Unlock()
	if badArg {
		rep.Error, rep.Err = true, wire.ErrBadArgument
		return encode(&rep)
	}
	switch arg := req.Arg.(type) {
	case *wire.ConfigArg:
		return t.handleConfig(&rep, arg)
	case *wire.ATAArg:
		t.mu.Lock()
		reserved := len(t.reserved) > 0 && !containsMAC(t.reserved, req.Source) && arg.CmdStatus != ata.Identify
		t.mu.Unlock()
		if reserved {
			rep.Error, rep.Err = true, wire.ErrTargetReserved
			break
		}
		rep.Arg = t.ata(arg, &rep)
	case *wire.MaskArg:
		rep.Arg = t.mask(arg)
	case *wire.ReserveArg:
		rep.Arg = t.reserve(arg, req.Source, &rep)
	default:
		rep.Error, rep.Err = true, wire.ErrUnrecognizedCommand
	}
	return encode(&rep)
}

func (t *Target) handleConfig(rep *wire.Frame, arg *wire.ConfigArg) []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch arg.Command {
	case wire.ConfigRead:
	case wire.ConfigTest:
		if !bytes.Equal(arg.String, t.config) {
			return nil
		}
	case wire.ConfigTestPrefix:
		if !bytes.HasPrefix(t.config, arg.String) {
			return nil
		}
	case wire.ConfigSet:
		if len(t.config) > 0 && !bytes.Equal(arg.String, t.config) {
			rep.Error, rep.Err = true, wire.ErrConfigStringPresent
		} else {
			t.config = append([]byte(nil), arg.String...)
		}
	case wire.ConfigForceSet:
		t.config = append([]byte(nil), arg.String...)
	default:
		rep.Error, rep.Err = true, wire.ErrBadArgument
	}
	mtu := t.MTU
	if mtu == 0 {
		mtu = 1500
	}
	rep.Arg = &wire.ConfigArg{
		BufferCount:     t.BufferCount,
		FirmwareVersion: 0x4019,
		SectorCount:     uint8((mtu - 36) / 512),
		Version:         1,
		Command:         arg.Command,
		String:          append([]byte(nil), t.config...),
	}
	return encode(rep)
}

func (t *Target) ata(arg *wire.ATAArg, rep *wire.Frame) *wire.ATAArg {
	out := *arg
	out.Data = nil
	out.FeatureErr, out.SectorCount, out.CmdStatus = 0, 0, ata.StatusDRDY
	switch arg.CmdStatus {
	case ata.Identify:
		if arg.SectorCount != 1 {
			rep.Error, rep.Err = true, wire.ErrBadArgument
			return arg
		}
		out.Data = t.identify()
	case ata.ReadSectors, ata.ReadSectorsExt:
		lba := arg.LBA
		if lba+uint64(arg.SectorCount) > t.Sectors {
			out.FeatureErr, out.CmdStatus = ata.ErrIDNF, ata.StatusDRDY|ata.StatusErr
			return &out
		}
		out.Data = make([]byte, 512*int(arg.SectorCount))
		t.mu.Lock()
		if t.Disk != nil {
			copy(out.Data, t.Disk[lba*512:])
		}
		t.mu.Unlock()
	case ata.WriteSectors, ata.WriteSectorsExt:
		if len(arg.Data) < 512*int(arg.SectorCount) {
			rep.Error, rep.Err = true, wire.ErrBadArgument
			return arg
		}
		lba := arg.LBA
		if t.ReadOnly || lba+uint64(arg.SectorCount) > t.Sectors {
			out.FeatureErr, out.CmdStatus = ata.ErrAbort, ata.StatusDRDY|ata.StatusErr
			if !t.ReadOnly {
				out.FeatureErr = ata.ErrIDNF
			}
			return &out
		}
		t.mu.Lock()
		if t.Disk != nil {
			copy(t.Disk[lba*512:], arg.Data[:512*int(arg.SectorCount)])
		}
		t.mu.Unlock()
	case ata.FlushCache, ata.FlushCacheExt:
	case ata.Smart:
		if !t.SMART || uint8(arg.LBA>>8) != 0x4f || uint8(arg.LBA>>16) != 0xc2 {
			out.FeatureErr, out.CmdStatus = ata.ErrAbort, ata.StatusDRDY|ata.StatusErr
			break
		}
		switch arg.FeatureErr {
		case 0xd0, 0xd5: // read data, read log
			out.Data = bytes.Repeat([]byte{arg.FeatureErr}, 512)
		case 0xd6: // write log
			if !arg.Write || len(arg.Data) < 512 {
				out.FeatureErr, out.CmdStatus = ata.ErrAbort, ata.StatusDRDY|ata.StatusErr
			}
		case 0xd4, 0xd8, 0xd9, 0xda:
		default:
			out.FeatureErr, out.CmdStatus = ata.ErrAbort, ata.StatusDRDY|ata.StatusErr
		}
	default:
		out.FeatureErr, out.CmdStatus = ata.ErrAbort, ata.StatusDRDY|ata.StatusErr
	}
	return &out
}

// Masks returns the Mac Mask List.
func (t *Target) Masks() []net.HardwareAddr {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]net.HardwareAddr(nil), t.masks...)
}

// Reserved returns the reserve list.
func (t *Target) Reserved() []net.HardwareAddr {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]net.HardwareAddr(nil), t.reserved...)
}

func containsMAC(list []net.HardwareAddr, m net.HardwareAddr) bool {
	for _, x := range list {
		if bytes.Equal(x, m) {
			return true
		}
	}
	return false
}

func (t *Target) mask(arg *wire.MaskArg) wire.Arg {
	t.mu.Lock()
	defer t.mu.Unlock()
	max := t.MaxMasks
	if max == 0 {
		max = 32
	}
	if arg.Edit {
		list := append([]net.HardwareAddr(nil), t.masks...)
		for i, d := range arg.Directives {
			switch d.Command {
			case wire.DirectiveNone:
			case wire.DirectiveAdd:
				if !containsMAC(list, d.MAC) {
					if len(list) >= max {
						return &wire.MaskArg{Edit: true, Error: wire.MaskListFull, FailedIndex: uint8(i)}
					}
					list = append(list, d.MAC)
				}
			case wire.DirectiveDelete:
				for j, m := range list {
					if bytes.Equal(m, d.MAC) {
						list = append(list[:j:j], list[j+1:]...)
						break
					}
				}
			default:
				return &wire.MaskArg{Edit: true, Error: wire.MaskBadDirective, FailedIndex: uint8(i)}
			}
		}
		t.masks = list
	}
	out := &wire.MaskArg{Edit: arg.Edit}
	for _, m := range t.masks {
		out.Directives = append(out.Directives, wire.Directive{Command: wire.DirectiveNone, MAC: m})
	}
	return out
}

func (t *Target) reserve(arg *wire.ReserveArg, from net.HardwareAddr, rep *wire.Frame) wire.Arg {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch arg.Command {
	case wire.ReserveRead:
	case wire.ReserveSet:
		if len(t.reserved) > 0 && !containsMAC(t.reserved, from) {
			rep.Error, rep.Err = true, wire.ErrTargetReserved
			break
		}
		t.reserved = append([]net.HardwareAddr(nil), arg.MACs...)
	case wire.ReserveForceSet:
		t.reserved = append([]net.HardwareAddr(nil), arg.MACs...)
	default:
		rep.Error, rep.Err = true, wire.ErrBadArgument
		return arg
	}
	return &wire.ReserveArg{Command: arg.Command, MACs: append([]net.HardwareAddr(nil), t.reserved...)}
}

// identify builds IDENTIFY DEVICE data like vblade's.
func (t *Target) identify() []byte {
	b := make([]byte, 512)
	w := func(i int, v uint16) { binary.LittleEndian.PutUint16(b[2*i:], v) }
	str := func(from, to int, s string) {
		buf := bytes.Repeat([]byte{' '}, 2*(to-from))
		copy(buf, s)
		for i := 0; i < len(buf); i += 2 {
			b[2*from+i], b[2*from+i+1] = buf[i+1], buf[i]
		}
	}
	str(10, 20, t.Serial)
	str(23, 27, "V25")
	str(27, 47, t.Model)
	w(47, 0x8000)
	w(49, 0x0200)
	w(50, 0x4000)
	if t.SMART {
		w(82, 0x0001)
	}
	w(84, 0x4000)
	w(87, 0x4000)
	w(93, 0x400b)
	claim := t.Sectors
	if t.IdentifySectors != 0 {
		claim = t.IdentifySectors
	}
	if t.NoLBA48 {
		w(83, 0x5000) // FLUSH CACHE, no LBA48
		w(86, 0x1000)
		w(60, uint16(claim))
		w(61, uint16(claim>>16))
		return b
	}
	w(83, 0x5400)
	w(86, 0x1400)
	lba28 := min(claim, 0x0fffffff)
	w(60, uint16(lba28))
	w(61, uint16(lba28>>16))
	for i := range 4 {
		w(100+i, uint16(claim>>(16*i)))
	}
	return b
}

// Impostor returns a second target for t's address on another MAC, with
// another disk: same shelf.slot, size, model and buffer count, the serial
// t.Serial+"-x", and the content of t's disk inverted bit by bit (so that
// no sector of one equals the other's). Served together with t, it is
// the misconfiguration a data path must refuse as multipath.
func (t *Target) Impostor(mac net.HardwareAddr) *Target {
	x := &Target{Shelf: t.Shelf, Slot: t.Slot, MAC: mac, BufferCount: t.BufferCount, MTU: t.MTU,
		Sectors: t.Sectors, Model: t.Model, Serial: t.Serial + "-x"}
	t.mu.Lock()
	if t.Disk != nil {
		x.Disk = make([]byte, len(t.Disk))
		for i, c := range t.Disk {
			x.Disk[i] = ^c
		}
	}
	t.mu.Unlock()
	return x
}

// Read returns a copy of n bytes of the disk at off (tests compare what
// an initiator read or wrote with it).
func (t *Target) Read(off, n int) []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return bytes.Clone(t.Disk[off : off+n])
}

func encode(f *wire.Frame) []byte {
	// vblade does not pad: the frame ends with its argument.
	u := *f
	u.Unpadded = true
	b, err := u.MarshalBinary()
	if err != nil {
		return nil
	}
	return b
}
