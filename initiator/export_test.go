package initiator

// Exported for the tests of package initiator_test only.
var (
	ResponseFilter = responseFilter
	ErrTagInUse    = errTagInUse
	ErrNoClients   = errNoClients
)

// TagUserspace is tag bit 31 (Target.Tag).
const TagUserspace = tagUserspace

// Tune changes c's Config after New: tests that change the timing of one
// client half-way.
func Tune(c *Client, f func(*Config)) { f(&c.cfg) }
