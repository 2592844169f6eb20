package classic

import (
	"fmt"
	"regexp"
	"strings"
)

// CompileBRE compiles a POSIX basic regular expression, with GNU grep's
// extensions, as aoetools' aoe-stat hands its argument to grep. It rewrites
// it into Go's syntax: in a BRE, ( ) { } | + ? are ordinary characters and
// their backslashed forms are the operators; * is literal at the start of an
// expression; ^ and $ are anchors only at its ends; a backslash inside a
// bracket expression is literal. Back-references are not supported.
func CompileBRE(bre string) (*regexp.Regexp, error) {
	var b strings.Builder
	atStart := true // at the start of an expression: * is literal
	for i := 0; i < len(bre); i++ {
		c := bre[i]
		start := atStart
		atStart = false
		switch c {
		case '\\':
			if i+1 == len(bre) {
				return nil, fmt.Errorf("trailing backslash")
			}
			i++
			n := bre[i]
			switch n {
			case '(':
				b.WriteByte('(')
				atStart = true
			case ')', '{', '}', '+', '?':
				b.WriteByte(n)
			case '|':
				b.WriteByte('|')
				atStart = true
			case '<', '>':
				b.WriteString(`\b`)
			case 'b', 'B', 'w', 'W', 's', 'S':
				b.WriteByte('\\')
				b.WriteByte(n)
			case '`':
				b.WriteString(`\A`)
			case '\'':
				b.WriteString(`\z`)
			default:
				if n >= '1' && n <= '9' {
					return nil, fmt.Errorf("back-references (\\%c) are not supported", n)
				}
				b.WriteString(regexp.QuoteMeta(string(n)))
			}
		case '*':
			if start {
				b.WriteString(`\*`)
			} else {
				b.WriteByte('*')
			}
		case '^':
			if start {
				b.WriteByte('^')
				atStart = true
			} else {
				b.WriteString(`\^`)
			}
		case '$':
			if i+1 == len(bre) || strings.HasPrefix(bre[i+1:], `\)`) || strings.HasPrefix(bre[i+1:], `\|`) {
				b.WriteByte('$')
			} else {
				b.WriteString(`\$`)
			}
		case '.':
			b.WriteByte('.')
		case '(', ')', '{', '}', '|', '+', '?':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '[':
			end, class, err := bracket(bre, i)
			if err != nil {
				return nil, err
			}
			b.WriteString(class)
			i = end
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	return regexp.Compile(b.String())
}

// bracket translates the bracket expression that starts at bre[i] and
// returns the index of its closing ']'.
func bracket(bre string, i int) (int, string, error) {
	var b strings.Builder
	b.WriteByte('[')
	j := i + 1
	if j < len(bre) && bre[j] == '^' {
		b.WriteByte('^')
		j++
	}
	if j < len(bre) && bre[j] == ']' {
		b.WriteString(`\]`)
		j++
	}
	for ; j < len(bre); j++ {
		c := bre[j]
		switch {
		case c == ']':
			b.WriteByte(']')
			return j, b.String(), nil
		case c == '[' && j+1 < len(bre) && (bre[j+1] == ':' || bre[j+1] == '.' || bre[j+1] == '='):
			close := strings.Index(bre[j+2:], string(bre[j+1])+"]")
			if close < 0 {
				return 0, "", fmt.Errorf("unmatched [ in %q", bre)
			}
			elem := bre[j : j+2+close+2]
			if bre[j+1] != ':' {
				// [.c.] and [=c=] name one character.
				inner := elem[2 : len(elem)-2]
				if len(inner) != 1 {
					return 0, "", fmt.Errorf("unsupported collating element %s", elem)
				}
				b.WriteString(regexp.QuoteMeta(inner))
			} else {
				b.WriteString(elem)
			}
			j += len(elem) - 1
		case c == '\\' || c == '[':
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return 0, "", fmt.Errorf("unmatched [ in %q", bre)
}
