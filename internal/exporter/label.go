package exporter

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// maxLabelLen bounds a label value taken from sysfs or the wire.
const maxLabelLen = 128

// Label makes an untrusted string (from sysfs or the wire) safe as a label
// value: control bytes and bytes that are not UTF-8 are written visibly as
// \xNN, a backslash as \\, and the result is cut at 128 bytes.
func Label(s string) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < maxLabelLen; {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			for _, c := range []byte(s[i : i+size]) {
				fmt.Fprintf(&b, `\x%02x`, c)
			}
		case r == '\\':
			b.WriteString(`\\`)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}
