package units

import "strings"

// Charset is what the user's locale lets a program print: UTF-8, or ASCII
// alone (the C and POSIX locales, and any locale whose codeset is not
// UTF-8). Every renderer of text for people asks it before printing a
// symbol that is not ASCII: the ellipsis of a cut cell, the micro sign of
// a duration.
type Charset struct {
	// UTF8 is true when the locale's codeset is UTF-8.
	UTF8 bool
}

// LocaleCharset returns the charset of the locale the environment
// selects, as setlocale(LC_CTYPE, "") does: the first of LC_ALL, LC_CTYPE
// and LANG that is set and not empty names it, and it is UTF-8 when its
// codeset (after the dot, before any @modifier) is UTF-8 or utf8, in any
// case. No locale at all is the C locale: ASCII. C.UTF-8 is UTF-8.
func LocaleCharset(getenv func(string) string) Charset {
	for _, k := range []string{"LC_ALL", "LC_CTYPE", "LANG"} {
		if v := getenv(k); v != "" {
			return Charset{UTF8: isUTF8Locale(v)}
		}
	}
	return Charset{}
}

func isUTF8Locale(name string) bool {
	_, codeset, ok := strings.Cut(name, ".")
	if !ok {
		return false
	}
	codeset, _, _ = strings.Cut(codeset, "@")
	switch strings.ToLower(codeset) {
	case "utf-8", "utf8":
		return true
	}
	return false
}

// Ellipsis is the mark of a cut text: "…", or "..." in ASCII.
func (c Charset) Ellipsis() string {
	if c.UTF8 {
		return "…"
	}
	return "..."
}

// asciiSymbols are the program's own non-ASCII symbols and their ASCII
// spellings.
var asciiSymbols = strings.NewReplacer("…", "...", "µs", "us", "μs", "us")

// Text returns s for printing: as it is in UTF-8; in ASCII, with the
// program's own symbols spelled in ASCII: "…" as "...", "µs" (the micro
// sign of a time.Duration, or the Greek mu) as "us". Other characters are
// left alone: they are data (a config string), which only an escape would
// change.
func (c Charset) Text(s string) string {
	if c.UTF8 || !strings.ContainsAny(s, "…µμ") {
		return s
	}
	return asciiSymbols.Replace(s)
}
