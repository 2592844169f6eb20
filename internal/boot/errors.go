package boot

import (
	"errors"
	"fmt"
)

// The errors of this package: sentinels are ErrXxx, matched with
// errors.Is; types are XxxError, matched with errors.As, and each says in
// its comment which sentinel it matches. The wait of Up times out with
// aoectl's *TimeoutError (matching aoectl.ErrTimeout), the one wait loop's.

var (
	// ErrNoDriver is returned when the aoe driver cannot be loaded, or its
	// control nodes do not appear.
	ErrNoDriver = errors.New("the aoe driver is not available")
	// ErrNoInterface is returned when a configured interface does not
	// exist.
	ErrNoInterface = errors.New("no such network interface")
)

// ErrSyntax is returned (wrapped in a *ParseError) when a configuration file
// has a line that is not KEY=VALUE, a bad quote, an unknown key, or a value
// out of its range.
var ErrSyntax = errors.New("syntax error")

// ParseError is a configuration error at a line of a file.
type ParseError struct {
	File string
	Line int
	Msg  string
}

func (e *ParseError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// Unwrap returns ErrSyntax.
func (e *ParseError) Unwrap() error { return ErrSyntax }

// ErrUnknownKey is returned by Config.Value for a key that aoe.conf does
// not have.
var ErrUnknownKey = errors.New("unknown key")
