package initiator

import (
	"context"
	"errors"
	"time"

	"github.com/goaoe/aoe/initiator/wire"
)

// Group is one client per local interface, asked together: a broadcast
// goes out on every interface and the answers of all come back as one
// stream. It owns its clients: Close closes them.
//
// Its two clocks are injectable: set them right after NewGroup, before
// the first request. Clock is read for every "now" of the resend
// schedule and the quiet time (timers stay real timers); RTTClock only
// stamps requests and replies for the round-trip times it reports.
// They are separate so that a display can show fixed round-trip times
// (the commands' golden transcripts) while the schedule runs on time.
type Group struct {
	clients []*Client
	// Clock is the schedule's clock (nil: time.Now).
	Clock func() time.Time
	// RTTClock stamps round-trip times (nil: Clock).
	RTTClock func() time.Time
}

// NewGroup returns a group of the clients.
func NewGroup(clients ...*Client) *Group { return &Group{clients: clients} }

// Clients returns the group's clients (none for a nil group).
func (g *Group) Clients() []*Client {
	if g == nil {
		return nil
	}
	return g.clients
}

// Close closes every client.
func (g *Group) Close() error {
	var errs []error
	for _, c := range g.clients {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// now reads the schedule's clock.
func (g *Group) now() time.Time {
	if g.Clock != nil {
		return g.Clock()
	}
	return time.Now()
}

// rttNow reads the round-trip clock.
func (g *Group) rttNow() time.Time {
	if g.RTTClock != nil {
		return g.RTTClock()
	}
	return g.now()
}

// CollectOptions tune a broadcast. The zero value gives the defaults.
type CollectOptions struct {
	// Timeout bounds the whole exchange (default 5s).
	Timeout time.Duration
	// Quiet is how long no new responder must appear, after the last
	// broadcast, before the exchange ends (default 300ms).
	Quiet time.Duration
	// Resend are the times, from the start, at which the broadcast is sent
	// again in any case (default 50ms and 150ms). Once the network shows
	// that it loses frames, the broadcast is sent again every
	// ResendInterval up to MaxSends copies in all, so that a target missed
	// by the early copies is still found. Signs of loss: a copy after the
	// first not answered by every responder known by then, a responder
	// first heard after the first copy (on a clean network all answer it),
	// or a retransmission by one of the clients (such as an IDENTIFY under
	// way). An empty, non-nil Resend sends one copy only.
	Resend []time.Duration
	// ResendInterval is the time between the copies sent for loss
	// (default 150ms).
	ResendInterval time.Duration
	// MaxSends bounds the copies of the broadcast (default 10).
	MaxSends int
	// MaxReplies bounds the distinct replies kept (default 4096: far
	// beyond a real SAN, where 65,535 shelves of 255 slots are possible
	// and a few hundred are seen, small enough that a flood of forged
	// answers costs little memory and time): anything on the segment can
	// answer a broadcast, as often and from as many addresses as it
	// likes. Once more arrive the exchange ends with an *IncompleteError.
	MaxReplies int
}

func (o CollectOptions) withDefaults() CollectOptions {
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Quiet <= 0 {
		o.Quiet = 300 * time.Millisecond
	}
	if o.Resend == nil {
		o.Resend = []time.Duration{50 * time.Millisecond, 150 * time.Millisecond}
	}
	if o.ResendInterval <= 0 {
		o.ResendInterval = 150 * time.Millisecond
	}
	if o.MaxSends <= 0 {
		o.MaxSends = 10
	}
	if o.MaxReplies <= 0 {
		o.MaxReplies = 4096
	}
	return o
}

// reply is one answer to a group broadcast, with the client (interface) it
// came in on and when, from the first copy.
type reply struct {
	Client *Client
	Frame  *wire.Frame
	RTT    time.Duration
}

type replyKey struct {
	iface string
	mac   string
	shelf uint16
	slot  uint8
}

func (r reply) key() replyKey {
	return replyKey{iface: r.Client.Interface().Name, mac: string(r.Frame.Source), shelf: r.Frame.Shelf, slot: r.Frame.Slot}
}

// collect sends req on every client's interface as a broadcast, again at
// the Resend times (and more often under loss), and returns the replies,
// one per (interface, source MAC, shelf, slot), in arrival order. onNew, if
// set, is called for each as it arrives; when it returns true the exchange
// ends. It ends when no new reply has come for Quiet after the last
// broadcast, or at Timeout, or when ctx is done: what came is returned,
// without error. When the answer is known to be incomplete (more than
// MaxReplies responders, or replies lost in the receive buffers) the
// replies come with an *IncompleteError. Errors: errNoClients, and those
// of Client.broadcast (ErrSend, net.ErrClosed, a tag in use).
func (g *Group) collect(ctx context.Context, req *wire.Frame, opts CollectOptions, onNew func(reply) (stop bool)) ([]reply, error) {
	if g == nil || len(g.clients) == 0 {
		return nil, errNoClients
	}
	dropped := g.dropped()
	out, truncated, err := g.exchange(ctx, req, opts, onNew)
	if err != nil {
		return nil, err
	}
	lost := g.dropped() - dropped
	if truncated || lost > 0 {
		return out, &IncompleteError{Truncated: truncated, Max: opts.withDefaults().MaxReplies, Dropped: lost}
	}
	return out, nil
}

// dropped returns the frames the clients lost so far (Stats.Dropped).
func (g *Group) dropped() uint64 {
	var n uint64
	for _, c := range g.Clients() {
		n += c.Stats().Dropped
	}
	return n
}

// exchange is collect's exchange; truncated reports that MaxReplies was reached.
func (g *Group) exchange(ctx context.Context, req *wire.Frame, opts CollectOptions, onNew func(reply) (stop bool)) (out []reply, truncated bool, err error) {
	o := opts.withDefaults()
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	replies, resends, err := g.broadcast(ctx, req)
	if err != nil {
		return nil, false, err
	}
	s := &collectState{g: g, o: o, start: g.now(), seen: map[replyKey]bool{}, round: map[replyKey]bool{}, sends: 1}
	s.lastNew, s.lastSend = s.start, s.start
	s.retransmitsAtStart = s.retransmits()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		now := g.now()
		due := s.due()
		if !due.IsZero() && !now.Before(due) {
			s.resend(now, resends)
			continue
		}
		quietUntil := s.lastNew.Add(o.Quiet)
		if t := s.lastSend.Add(o.Quiet); t.After(quietUntil) {
			quietUntil = t
		}
		if due.IsZero() && !now.Before(quietUntil) {
			return s.out, false, nil
		}
		wake := quietUntil
		if !due.IsZero() && due.Before(wake) {
			wake = due
		}
		timer.Reset(max(wake.Sub(g.now()), time.Millisecond))
		select {
		case r := <-replies:
			if !s.seen[r.key()] && len(s.seen) >= o.MaxReplies {
				return s.out, true, nil
			}
			if s.add(r) && onNew != nil && onNew(r) {
				return s.out, false, nil
			}
		case <-timer.C:
		case <-ctx.Done():
			// Timeout or cancellation: what came so far is the answer.
			return s.out, false, nil
		}
	}
}

// broadcast sends req on every client and forwards the replies, stamped,
// to one channel until ctx is done.
func (g *Group) broadcast(ctx context.Context, req *wire.Frame) (<-chan reply, []func() error, error) {
	replies := make(chan reply, 1024)
	var resends []func() error
	start := g.rttNow()
	for _, c := range g.clients {
		ch, resend, stop, err := c.broadcast(req)
		if err != nil {
			return nil, nil, err
		}
		context.AfterFunc(ctx, stop)
		resends = append(resends, resend)
		go func() {
			for {
				select {
				case f := <-ch:
					select {
					case replies <- reply{Client: c, Frame: f, RTT: g.rttNow().Sub(start)}:
					case <-ctx.Done():
						return
					}
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	return replies, resends, nil
}

// collectState is the loss-adaptive resend schedule of collect.
type collectState struct {
	g     *Group
	o     CollectOptions
	start time.Time
	seen  map[replyKey]bool
	// round holds the responders heard since the latest copy was sent.
	// Loss, once seen, keeps the copies coming: a round complete among the
	// known responders says nothing of the targets missed so far.
	round              map[replyKey]bool
	lossy              bool
	retransmitsAtStart uint64
	out                []reply
	lastNew, lastSend  time.Time
	sends, next        int // copies sent; index in o.Resend
}

func (s *collectState) retransmits() (n uint64) {
	for _, c := range s.g.clients {
		n += c.stats.retransmits.Load()
	}
	return n
}

// due returns when the next copy is due: at the next scheduled time, or,
// after the schedule, ResendInterval after the last copy when that one
// showed loss; never once MaxSends copies went out (zero time).
func (s *collectState) due() time.Time {
	switch {
	case len(s.o.Resend) == 0 || s.sends >= s.o.MaxSends:
	case s.next < len(s.o.Resend):
		return s.start.Add(s.o.Resend[s.next])
	case s.lossy || len(s.round) < len(s.seen) || s.retransmits() > s.retransmitsAtStart:
		return s.lastSend.Add(s.o.ResendInterval)
	}
	return time.Time{}
}

func (s *collectState) resend(now time.Time, resends []func() error) {
	if (s.sends >= 2 && len(s.round) < len(s.seen)) || s.retransmits() > s.retransmitsAtStart {
		s.lossy = true
	}
	for _, resend := range resends {
		_ = resend() // the first copy went out; a failed resend is not fatal
	}
	s.lastSend, s.round = now, map[replyKey]bool{}
	s.sends++
	if s.next < len(s.o.Resend) {
		s.next++
	}
}

// add records a reply and reports whether it is new.
func (s *collectState) add(r reply) bool {
	k := r.key()
	s.round[k] = true
	if s.seen[k] {
		return false
	}
	s.seen[k] = true
	if s.sends >= 2 {
		s.lossy = true // a newcomer after the first copy: that copy was lost to it
	}
	s.out = append(s.out, r)
	s.lastNew = s.g.now()
	return true
}

// QueryConfig broadcasts a Query Config with arg to t's address on every
// interface (t's MAC is not used; Shelf and Slot may be the broadcast
// values, aoeaddr.BroadcastShelf and BroadcastSlot: every target; Tag as
// in Target), again at the Resend times
// (and more often under loss), and returns the answers in arrival order,
// one per path (interface, target MAC, address); onAnswer, if set, is
// called for each as it comes and ends the exchange by returning true. It
// ends when no new answer has come for Quiet after the last broadcast, or
// at Timeout, or when ctx is done: what came is returned, without error.
// When the answer is known to be incomplete (more than MaxReplies
// responders, or replies lost in the receive buffers) the answers come
// with an *IncompleteError. A test or prefix that does not match gets no
// answer. Refusals (such as ErrConfigStringPresent for a set) are answers
// with Err set. Each answer sets the answering target's window on the
// client that heard it (see Client.QueryConfig). Errors:
// ErrConfigStringTooLong, one when the group has no client, and those of
// sending (ErrSend, net.ErrClosed, a tag in use).
func (g *Group) QueryConfig(ctx context.Context, t Target, arg *wire.ConfigArg, opts CollectOptions, onAnswer func(ConfigReply) (stop bool)) ([]ConfigReply, error) {
	if len(arg.String) > wire.MaxConfigString {
		return nil, wire.ErrConfigStringTooLong
	}
	req := &wire.Frame{Shelf: t.Shelf, Slot: t.Slot, Tag: t.Tag, Command: wire.CommandQueryConfig, Arg: arg}
	var answers []ConfigReply
	_, err := g.collect(ctx, req, opts, func(r reply) bool {
		a, ok := configReply(r.Client.Interface(), r.Frame, r.RTT)
		if !ok {
			return false
		}
		r.Client.learnWindow(a)
		answers = append(answers, a)
		return onAnswer != nil && onAnswer(a)
	})
	return answers, err
}

// ClientFor returns the group's client on the named interface, or nil.
func (g *Group) ClientFor(iface string) *Client {
	for _, c := range g.clients {
		if c.Interface().Name == iface {
			return c
		}
	}
	return nil
}
