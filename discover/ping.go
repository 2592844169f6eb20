package discover

import (
	"context"
	"errors"
	"time"

	"github.com/goaoe/aoe/initiator"
	"github.com/goaoe/aoe/initiator/aoeaddr"
	"github.com/goaoe/aoe/initiator/wire"
)

// PingOptions tune Ping.
type PingOptions struct {
	// Count is the number of requests (at least 1).
	Count int
	// Interval is the time from one request to the next.
	Interval time.Duration
	// Timeout is how long the replies to one request are awaited; a round
	// ends earlier once every path known from earlier rounds has answered.
	Timeout time.Duration
	// Identify asks every path for its IDENTIFY data at the end.
	Identify bool
	// Now is the clock the rounds are paced by (nil: time.Now); the
	// wait itself is a real timer.
	Now func() time.Time
}

// PingReply is one reply of a ping round.
type PingReply struct {
	Seq       int
	Target    initiator.Target
	Interface string
	RTT       time.Duration
	// Err is the AoE error of a reply with the error flag: the target
	// answered but refused, which is no successful ping.
	Err error
}

// PathIdentity is the IDENTIFY answer of one path, or why there is none.
type PathIdentity struct {
	Target    initiator.Target
	Interface string
	Identity  *wire.Identity
	// Data is the 512 bytes the Identity was decoded from.
	Data []byte
	Err  error
}

// PingResult is the outcome of a ping.
type PingResult struct {
	// Answered counts the requests with at least one reply without the
	// error flag; Refused those answered only with errors.
	Sent, Answered, Refused int
	// Replies are every reply, round by round.
	Replies []PingReply
	// Paths is the number of distinct paths that answered.
	Paths int
	// Dropped counts the frames the receive buffers lost during the
	// rounds (a flood on the segment): replies among them count as loss.
	Dropped uint64
	// Identities are the paths' IDENTIFY answers (Identify), in the order
	// the paths first answered.
	Identities []PathIdentity
}

// Ping sends Count Query Config requests to device a on every interface of
// the group, Interval apart, and collects the replies (several per request
// for a multipath target); onRound, if set, gets each round's replies as
// it ends. A reply with the AoE error flag is reported (PingReply.Err) but
// does not count as answered. With Identify it then asks every path for
// IDENTIFY. Errors: the context's (the rounds done so far are returned
// with it), and those of initiator.Group.QueryConfig.
func Ping(ctx context.Context, g *initiator.Group, a aoeaddr.Address, o PingOptions, onRound func(seq int, replies []PingReply)) (*PingResult, error) {
	res := &PingResult{Replies: []PingReply{}}
	known := map[string]bool{}
	var order []PingReply
	now := o.Now
	if now == nil {
		now = time.Now
	}
	for seq := 1; seq <= o.Count; seq++ {
		start := now()
		replies, err := pingRound(ctx, g, a, seq, o.Timeout, known)
		var ie *initiator.IncompleteError
		switch {
		case errors.As(err, &ie):
			res.Dropped += ie.Dropped // a lost reply is loss, which ping measures
		case err != nil:
			return res, err
		}
		res.Sent++
		switch ok := good(replies); {
		case ok > 0:
			res.Answered++
		case len(replies) > 0:
			res.Refused++
		}
		for _, r := range replies {
			if r.Err != nil {
				continue // no path: a refusal proves no working path
			}
			if k := r.Interface + "/" + string(r.Target.MAC); !known[k] {
				known[k] = true
				order = append(order, r)
			}
		}
		res.Replies = append(res.Replies, replies...)
		res.Paths = len(order)
		if onRound != nil {
			onRound(seq, replies)
		}
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		if seq < o.Count {
			select {
			case <-time.After(start.Add(o.Interval).Sub(now())):
			case <-ctx.Done():
				return res, ctx.Err()
			}
		}
	}
	if o.Identify {
		for _, p := range order {
			pi := PathIdentity{Target: p.Target, Interface: p.Interface}
			_, pi.Data, pi.Err = g.ClientFor(p.Interface).Identify(ctx, p.Target, 0)
			if pi.Err == nil {
				id, _ := wire.ParseIdentify(pi.Data)
				pi.Identity = &id
			}
			res.Identities = append(res.Identities, pi)
		}
	}
	return res, nil
}

// good counts the replies without the error flag.
func good(replies []PingReply) (n int) {
	for _, r := range replies {
		if r.Err == nil {
			n++
		}
	}
	return n
}

// pingRound sends one Query Config to a on every interface and returns the
// replies that come within timeout; it returns early once every path in
// known has answered.
func pingRound(ctx context.Context, g *initiator.Group, a aoeaddr.Address, seq int, timeout time.Duration, known map[string]bool) ([]PingReply, error) {
	var replies []PingReply
	seen := map[string]bool{}
	t := initiator.Target{Shelf: a.Shelf, Slot: a.Slot}
	_, err := g.QueryConfig(ctx, t, &wire.ConfigArg{}, initiator.CollectOptions{Timeout: timeout, Quiet: timeout, Resend: []time.Duration{}}, func(r initiator.ConfigReply) bool {
		k := r.Interface.Name + "/" + string(r.Target.MAC)
		seen[k] = true
		replies = append(replies, PingReply{Seq: seq, Target: r.Target, Interface: r.Interface.Name, RTT: r.RTT, Err: r.Err})
		if len(known) == 0 || len(seen) < len(known) {
			return false
		}
		for k := range known {
			if !seen[k] {
				return false
			}
		}
		return true
	})
	return replies, err
}
