package exporter

import "errors"

// The errors of this package: sentinels are ErrXxx, matched with
// errors.Is; types are XxxError, matched with errors.As.

// ErrNoInterface is returned by NewProber when it is given no client.
var ErrNoInterface = errors.New("exporter: probing needs at least one interface")
