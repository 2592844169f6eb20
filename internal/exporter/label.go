package exporter

import "github.com/goaoe/aoe/internal/safetext"

// maxLabelLen bounds a label value taken from sysfs or the wire.
const maxLabelLen = 128

// Label makes an untrusted string (from sysfs or the wire) safe as a label
// value: escaped as safetext.String does (control bytes, invalid UTF-8 and
// bidi controls as \xNN, a backslash as \\) and cut at 128 bytes.
func Label(s string) string { return safetext.Cut(s, maxLabelLen) }
