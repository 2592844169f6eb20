// Package safetext shows untrusted bytes — config strings, IDENTIFY model,
// serial and firmware, interface names: anything a peer on the segment or
// a sysfs file can set — without letting them act on a terminal. Control
// bytes (C0, DEL, C1 such as CSI 0x9b), invalid UTF-8 and invisible or
// reordering characters (bidi overrides and isolates, zero-width marks,
// line separators) are written as visible escapes (\x1b, \xe2\x80\xae);
// printable text passes unchanged.
package safetext

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Bytes returns b with every unsafe byte escaped as \xHH and every
// backslash doubled, so that the result reads back unambiguously.
func Bytes(b []byte) string { return escape(b, true) }

// String is Bytes for a string.
func String(s string) string { return escape([]byte(s), true) }

// Cut returns String(s) cut to at most n bytes at a character boundary
// of the escaped text, so that the result is valid UTF-8.
func Cut(s string, n int) string {
	e := String(s)
	if len(e) <= n {
		return e
	}
	for n > 0 && !utf8.RuneStart(e[n]) {
		n--
	}
	return e[:n]
}

// Classic returns b with every unsafe byte escaped as \xHH but backslashes
// as they are: aoetools' outputs print printable strings byte for byte,
// and so do the classic renderers.
func Classic(b []byte) string { return escape(b, false) }

func escape(b []byte, backslash bool) string {
	clean := true
	for _, c := range b {
		if c < 0x20 || c >= 0x7f || (c == '\\' && backslash) {
			clean = false
			break
		}
	}
	if clean {
		return string(b) // printable ASCII: the common case, no work
	}
	var s strings.Builder
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		switch {
		case r == '\\' && backslash:
			s.WriteString(`\\`)
		case (r == utf8.RuneError && n <= 1) || !unicode.IsPrint(r):
			for _, c := range b[:n] {
				fmt.Fprintf(&s, `\x%02x`, c)
			}
		default:
			s.Write(b[:n])
		}
		b = b[n:]
	}
	return s.String()
}

// JSON rewrites encoded JSON so that it stays valid and means the same but
// no character that Bytes escapes appears raw: encoding/json already
// escapes C0 controls and U+2028/U+2029, not DEL, C1 controls
// (U+0080-U+009F) or bidi controls (U+202E, U+2066-U+2069, U+200E/F, U+061C); those
// become \uXXXX. Outside strings, JSON is ASCII, so the rewrite only
// touches string contents. Invalid UTF-8 (which encoding/json never
// writes) is replaced by \ufffd.
func JSON(b []byte) []byte {
	i := 0
	for i < len(b) && b[i] < utf8.RuneSelf && b[i] != 0x7f {
		i++
	}
	if i == len(b) {
		return b
	}
	out := make([]byte, 0, len(b)+16)
	out = append(out, b[:i]...)
	for b = b[i:]; len(b) > 0; {
		r, n := utf8.DecodeRune(b)
		switch {
		case (r < utf8.RuneSelf && r != 0x7f) || (n > 1 && unicode.IsPrint(r)):
			out = append(out, b[:n]...)
		case r > 0xffff:
			r1, r2 := utf16Pair(r)
			out = fmt.Appendf(out, `\u%04x\u%04x`, r1, r2)
		default:
			out = fmt.Appendf(out, `\u%04x`, r) // RuneError for invalid bytes
		}
		b = b[n:]
	}
	return out
}

func utf16Pair(r rune) (rune, rune) {
	r -= 0x10000
	return 0xd800 + (r>>10)&0x3ff, 0xdc00 + r&0x3ff
}
