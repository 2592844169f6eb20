package events

import "errors"

// The errors of this package: sentinels are ErrXxx, matched with
// errors.Is; types are XxxError, matched with errors.As.

// ErrNotErrNode is returned when the err node is not the aoe driver's
// (character device 152:2).
var ErrNotErrNode = errors.New("is not the aoe driver's err device (char 152:2)")

// ErrInterval is returned by Watch for an interval below MinInterval
// (negative included).
var ErrInterval = errors.New("polling interval out of range")
