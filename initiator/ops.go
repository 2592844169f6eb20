package initiator

import (
	"context"
	"net"
	"time"

	"github.com/goaoe/aoe/initiator/aoeaddr"
	"github.com/goaoe/aoe/initiator/wire"
	"github.com/goaoe/aoe/internal/ata"
)

// Target is one port of an AoE target as a client reaches it: the MAC that
// answered for shelf.slot.
type Target struct {
	MAC   net.HardwareAddr
	Shelf uint16
	Slot  uint8
	// Tag, when it has bit 31 set (1<<31), is the tag the request
	// carries (aoeping's -t); else a fresh one is used. Every tag the
	// client sends has bit 31 set: the Linux driver drops the replies
	// whose tag has it, so that userspace tools never disturb it.
	Tag uint32
}

// tagUserspace is tag bit 31 (Target.Tag).
const tagUserspace = 1 << 31

// Address returns the target's shelf.slot.
func (t Target) Address() aoeaddr.Address { return aoeaddr.Address{Shelf: t.Shelf, Slot: t.Slot} }

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
	return c.roundTrip(ctx, &wire.Frame{Destination: t.MAC, Shelf: t.Shelf, Slot: t.Slot, Tag: t.Tag, Command: cmd, Arg: arg})
}

// The client's operations are one per AoE command, each taking the
// command's argument and returning the decoded reply: QueryConfig, ATA,
// Mask and Reserve; Identify is ATA IDENTIFY DEVICE decoded.

// QueryConfig sends a Query Config with arg to t (&wire.ConfigArg{}: read
// the configuration; ConfigSet/ConfigForceSet: set the string;
// ConfigTest/ConfigTestPrefix: the target answers only on a match, so no
// match is ErrTimeout). A refusal (such as wire.ErrConfigStringPresent for
// a set) returns the reply, whose Config.String is the target's current
// string, with that ErrorCode. Other errors: ErrTimeout when no answer
// comes, wire.ErrConfigStringTooLong, ErrSend, net.ErrClosed or the context's
// error. An answer sets the target's window: the client then has up to
// its buffer count of requests outstanding to that MAC at once (one until
// then).
func (c *Client) QueryConfig(ctx context.Context, t Target, arg *wire.ConfigArg) (*ConfigReply, error) {
	start := c.cfg.Now()
	f, err := c.request(ctx, t, wire.CommandQueryConfig, arg)
	if f == nil {
		return nil, err
	}
	r, ok := configReply(c.ifi, f, c.cfg.Now().Sub(start))
	if !ok {
		return nil, errBadReply
	}
	c.learnWindow(r)
	return &r, err
}

// learnWindow sets the window of the target that answered r, a Query
// Config answer that is no refusal, to the buffer count it advertises:
// the requests it queues.
func (c *Client) learnWindow(r ConfigReply) {
	if r.Err == nil {
		c.setWindow(r.Target.MAC, int(r.Config.BufferCount))
	}
}

// ATA sends an ATA command to t and returns the reply's argument. When the
// reply's status marks the command failed, the argument is returned with
// an *ATAError. Other errors: a reply without an ATA argument, and those
// of QueryConfig.
func (c *Client) ATA(ctx context.Context, t Target, arg *wire.ATAArg) (*wire.ATAArg, error) {
	f, err := c.request(ctx, t, wire.CommandATA, arg)
	if err != nil {
		return nil, err
	}
	rep, ok := f.Arg.(*wire.ATAArg)
	if !ok {
		return nil, errBadReply
	}
	if rep.CmdStatus&ata.StatusFailed != 0 {
		return rep, &wire.ATAError{Device: t.Address().String(), Command: arg.CmdStatus, LBA: arg.LBA, Status: rep.CmdStatus, Err: rep.FeatureErr}
	}
	return rep, nil
}

// Identify sends ATA IDENTIFY DEVICE to t and returns the answer decoded
// and its 512 bytes as received. With sectors > 0 the request is padded
// by sectors*512 zero bytes, so that the request (and the reply) are
// frames of that payload: an answer proves that frames of that size get
// through the path. Errors: *ATAError, ErrShortIdentify, and those of ATA.
func (c *Client) Identify(ctx context.Context, t Target, sectors int) (*wire.Identity, []byte, error) {
	arg := wire.NewIdentify()
	if sectors > 0 {
		arg.Data = make([]byte, 512*sectors)
	}
	rep, err := c.ATA(ctx, t, arg)
	if err != nil {
		return nil, nil, err
	}
	if len(rep.Data) < 512 {
		return nil, nil, ErrShortIdentify
	}
	data := rep.Data[:512]
	id, _ := wire.ParseIdentify(data)
	return &id, data, nil
}

// Mask sends a Mac Mask List request to t with the directives (none: read
// the list) and returns the list the target then holds. A refused
// directive fails with a *wire.DirectiveError (its Code such as
// wire.MaskListFull); more than 255 directives fail before
// sending; other errors as QueryConfig.
func (c *Client) Mask(ctx context.Context, t Target, ds []wire.Directive) ([]net.HardwareAddr, error) {
	arg := &wire.MaskArg{Edit: len(ds) > 0, Directives: ds}
	f, err := c.request(ctx, t, wire.CommandMACMask, arg)
	if err != nil {
		return nil, err
	}
	rep, ok := f.Arg.(*wire.MaskArg)
	if !ok {
		return nil, errBadReply
	}
	if rep.Error != 0 {
		return nil, &wire.DirectiveError{Index: int(rep.FailedIndex), Code: rep.Error}
	}
	var list []net.HardwareAddr
	for _, d := range rep.Directives {
		list = append(list, d.MAC)
	}
	return list, nil
}

// Reserve sends a Reserve/Release request with the sub-command cmd to t
// and returns the list the target then holds: wire.ReserveRead reads it (macs unused);
// wire.ReserveSet sets it to macs (nil: empties it, a release), which the
// target accepts only when its list is empty or names this host, else it
// refuses with wire.ErrTargetReserved, returned with its current list;
// wire.ReserveForceSet sets it unconditionally. More than 255 MACs fail
// before sending; other errors as QueryConfig.
func (c *Client) Reserve(ctx context.Context, t Target, cmd uint8, macs []net.HardwareAddr) ([]net.HardwareAddr, error) {
	arg := &wire.ReserveArg{Command: cmd}
	if cmd != wire.ReserveRead {
		arg.MACs = macs
	}
	f, err := c.request(ctx, t, wire.CommandReserve, arg)
	if f == nil {
		return nil, err
	}
	rep, ok := f.Arg.(*wire.ReserveArg)
	if !ok {
		if err == nil {
			err = errBadReply
		}
		return nil, err
	}
	return rep.MACs, err
}
