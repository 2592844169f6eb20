package initiator

import (
	"context"
	"net"
	"time"

	"github.com/goaoe/aoe/initiator/aoeaddr"
	"github.com/goaoe/aoe/initiator/wire"
)

// Target is one port of an AoE target as a client reaches it: the MAC that
// answered for shelf.slot.
type Target struct {
	MAC   net.HardwareAddr
	Shelf uint16
	Slot  uint8
	// Tag, when it has bit 31 set, is the tag the request carries (as
	// Frame.Tag for Request: aoeping's -t); else a fresh one is used.
	Tag uint32
}

// Address returns the target's shelf.slot.
func (t Target) Address() aoeaddr.Address { return aoeaddr.Address{Shelf: t.Shelf, Slot: t.Slot} }

// Name returns the device name, "e1.2".
func (t Target) Name() string { return aoeaddr.Address{Shelf: t.Shelf, Slot: t.Slot}.String() }

// ConfigReply is a target's answer to Query Config.
type ConfigReply struct {
	// Interface is the local interface the answer came in on.
	Interface Interface
	// Target is the port that answered (its MAC and address).
	Target Target
	// Config is the decoded argument: buffer count, firmware, sector
	// count, AoE version and the config string (for a refusal, the
	// target's current string).
	Config wire.ConfigArg
	// Err is the AoE error of a refusal (an ErrorCode, such as
	// ErrConfigStringPresent), else nil.
	Err error
	// RTT is the time from the (first) request to the answer.
	RTT time.Duration
	// Frame is the reply as received, for dumps.
	Frame *wire.Frame
}

// configReply decodes a Query Config reply; ok is false for a frame that
// answers no question (a broadcast address, or no argument and no error).
func configReply(ifi Interface, f *wire.Frame, rtt time.Duration) (ConfigReply, bool) {
	if f.Shelf == aoeaddr.BroadcastShelf || f.Slot == aoeaddr.BroadcastSlot {
		return ConfigReply{}, false
	}
	r := ConfigReply{Interface: ifi, Target: Target{MAC: f.Source, Shelf: f.Shelf, Slot: f.Slot}, RTT: rtt, Frame: f}
	arg, ok := f.Arg.(*wire.ConfigArg)
	if ok {
		r.Config = *arg
	}
	if f.Error {
		r.Err = f.Err
	}
	return r, ok || f.Error
}

// request sends one unicast request to t and returns the reply.
func (c *Client) request(ctx context.Context, t Target, cmd wire.Command, arg wire.Arg) (*wire.Frame, error) {
	return c.Request(ctx, &wire.Frame{Destination: t.MAC, Shelf: t.Shelf, Slot: t.Slot, Tag: t.Tag, Command: cmd, Arg: arg})
}

// config sends a Query Config with arg to t.
func (c *Client) config(ctx context.Context, t Target, arg *wire.ConfigArg) (*ConfigReply, error) {
	start := c.cfg.Now()
	f, err := c.request(ctx, t, wire.CommandQueryConfig, arg)
	if f == nil {
		return nil, err
	}
	r, ok := configReply(c.ifi, f, c.cfg.Now().Sub(start))
	if !ok {
		return nil, ErrBadReply
	}
	return &r, err
}

// QueryConfig reads the configuration of t (Query Config read). It returns
// ErrTimeout when no answer comes, an ErrorCode when the target answers
// with an error, ErrSend, ErrClosed or the context's error.
func (c *Client) QueryConfig(ctx context.Context, t Target) (*ConfigReply, error) {
	return c.config(ctx, t, &wire.ConfigArg{Command: wire.ConfigRead})
}

// SetConfig sets the config string of t to s: only when it has none, or
// unconditionally with force. A target that already has another string
// refuses with ErrConfigStringPresent, returned with the reply (whose
// Config.String is the current string). ErrConfigStringTooLong for more
// than 1024 bytes; other errors as QueryConfig.
func (c *Client) SetConfig(ctx context.Context, t Target, s []byte, force bool) (*ConfigReply, error) {
	cmd := wire.ConfigSet
	if force {
		cmd = wire.ConfigForceSet
	}
	return c.config(ctx, t, &wire.ConfigArg{Command: cmd, String: s})
}

// ATA sends an ATA command to t and returns the reply's argument. When the
// reply's status marks the command failed, the argument is returned with
// an *ATAError. Other errors: ErrBadReply, and those of QueryConfig.
func (c *Client) ATA(ctx context.Context, t Target, arg *wire.ATAArg) (*wire.ATAArg, error) {
	f, err := c.request(ctx, t, wire.CommandATA, arg)
	if err != nil {
		return nil, err
	}
	rep, ok := f.Arg.(*wire.ATAArg)
	if !ok {
		return nil, ErrBadReply
	}
	if rep.Failed() {
		return rep, &wire.ATAError{Device: aoeaddr.Address{Shelf: t.Shelf, Slot: t.Slot}.String(), Command: arg.CmdStatus, LBA: arg.Address(), Status: rep.CmdStatus, Err: rep.FeatureErr}
	}
	return rep, nil
}

// Identify sends ATA IDENTIFY DEVICE to t and decodes the answer. Errors:
// *ATAError, ErrShortIdentify, and those of ATA.
func (c *Client) Identify(ctx context.Context, t Target) (*wire.Identity, error) {
	return c.IdentifyPadded(ctx, t, 0)
}

// IdentifyPadded is Identify with the request padded by sectors*512 zero
// bytes, so that the request (and the reply) are frames of that payload: an
// answer proves that frames of that size get through the path.
func (c *Client) IdentifyPadded(ctx context.Context, t Target, sectors int) (*wire.Identity, error) {
	data, err := c.identifyData(ctx, t, sectors)
	if err != nil {
		return nil, err
	}
	id, _ := wire.ParseIdentify(data)
	return &id, nil
}

// IdentifyData is Identify returning the 512 bytes of IDENTIFY DEVICE
// data as received (ParseIdentify decodes them); errors as Identify.
func (c *Client) IdentifyData(ctx context.Context, t Target) ([]byte, error) {
	return c.identifyData(ctx, t, 0)
}

func (c *Client) identifyData(ctx context.Context, t Target, sectors int) ([]byte, error) {
	arg := wire.NewIdentify()
	if sectors > 0 {
		arg.Data = make([]byte, 512*sectors)
	}
	rep, err := c.ATA(ctx, t, arg)
	if err != nil {
		return nil, err
	}
	if len(rep.Data) < 512 {
		return nil, ErrShortIdentify
	}
	return rep.Data[:512], nil
}

// mask sends a Mac Mask List request and returns the list in the reply.
func (c *Client) mask(ctx context.Context, t Target, arg *wire.MaskArg) ([]net.HardwareAddr, error) {
	f, err := c.request(ctx, t, wire.CommandMACMask, arg)
	if err != nil {
		return nil, err
	}
	rep, ok := f.Arg.(*wire.MaskArg)
	if !ok {
		return nil, ErrBadReply
	}
	if rep.Error != wire.MaskOK {
		return nil, &wire.DirectiveError{Index: int(rep.FailedIndex), Err: rep.Error}
	}
	var list []net.HardwareAddr
	for _, d := range rep.Directives {
		list = append(list, d.MAC)
	}
	return list, nil
}

// MaskList reads the Mac Mask List of t. Errors: ErrBadReply, a
// *DirectiveError, and those of QueryConfig.
func (c *Client) MaskList(ctx context.Context, t Target) ([]net.HardwareAddr, error) {
	return c.mask(ctx, t, &wire.MaskArg{Command: wire.MaskRead})
}

// EditMask sends the directives to t and returns the list it then holds.
// A refused directive fails with a *DirectiveError (wrapping the
// MaskError, such as MaskListFull); ErrTooManyDirectives for more than
// 255; other errors as MaskList.
func (c *Client) EditMask(ctx context.Context, t Target, ds []wire.Directive) ([]net.HardwareAddr, error) {
	return c.mask(ctx, t, &wire.MaskArg{Command: wire.MaskEdit, Directives: ds})
}

// reserve sends a Reserve/Release request and returns the list in the
// reply, also along with an error reply (ErrTargetReserved) that has one.
func (c *Client) reserve(ctx context.Context, t Target, arg *wire.ReserveArg) ([]net.HardwareAddr, error) {
	f, err := c.request(ctx, t, wire.CommandReserve, arg)
	if f == nil {
		return nil, err
	}
	rep, ok := f.Arg.(*wire.ReserveArg)
	if !ok {
		if err == nil {
			err = ErrBadReply
		}
		return nil, err
	}
	return rep.MACs, err
}

// ReserveList reads the reserve list of t. Errors as QueryConfig, and
// ErrBadReply.
func (c *Client) ReserveList(ctx context.Context, t Target) ([]net.HardwareAddr, error) {
	return c.reserve(ctx, t, &wire.ReserveArg{Command: wire.ReserveRead})
}

// Reserve sets the reserve list of t to macs (nil: empties it, a
// release) and returns the list the target then holds. Without force the
// target accepts only when its list is empty or names this host; else it
// refuses with wire.ErrTargetReserved, returned with its current list.
// wire.ErrTooManyDirectives for more than 255 MACs; other errors as
// ReserveList.
func (c *Client) Reserve(ctx context.Context, t Target, macs []net.HardwareAddr, force bool) ([]net.HardwareAddr, error) {
	cmd := wire.ReserveSet
	if force {
		cmd = wire.ReserveForceSet
	}
	return c.reserve(ctx, t, &wire.ReserveArg{Command: cmd, MACs: macs})
}
