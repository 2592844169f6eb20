package initiator

import (
	"context"

	"github.com/goaoe/aoe/initiator/wire"
)

// Exported for the tests of package initiator_test only.
var (
	ResponseFilter = responseFilter
	ErrTagInUse    = errTagInUse
)

// Tune changes c's Config after New: tests that change the timing of one
// client half-way.
func Tune(c *Client, f func(*Config)) { f(&c.cfg) }

// TestConfig (tests only: no command uses it) asks t whether its config string is s (prefix: starts with
// s). A target answers only on a match: the reply is returned; ErrTimeout
// means no match (or no target). Other errors as QueryConfig.
func (c *Client) TestConfig(ctx context.Context, t Target, s []byte, prefix bool) (*ConfigReply, error) {
	cmd := wire.ConfigTest
	if prefix {
		cmd = wire.ConfigTestPrefix
	}
	return c.config(ctx, t, &wire.ConfigArg{Command: cmd, String: s})
}
