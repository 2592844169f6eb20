package cmd

import (
	"strings"

	"github.com/goaoe/aoe/discover"
)

// macList is a flag of MAC addresses, comma separated or repeated, where
// "self" is the MAC of the local interface a path is reached on. A bad
// entry fails the flag (a usage error) before anything is sent.
type macList []discover.MAC

func (l *macList) String() string {
	if len(*l) == 0 {
		return ""
	}
	var s []string
	for _, m := range *l {
		s = append(s, m.String())
	}
	return "[" + strings.Join(s, ",") + "]"
}

// Set parses and appends the MACs of one flag value.
func (l *macList) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		m, err := discover.ParseMAC(s)
		if err != nil {
			return err
		}
		*l = append(*l, m)
	}
	return nil
}

// Type names the flag type in help.
func (l *macList) Type() string { return "MACs" }
