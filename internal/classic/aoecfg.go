package classic

import (
	"github.com/goaoe/aoe/initiator/wire"
	"github.com/goaoe/aoe/internal/safetext"

	"errors"
	"fmt"
	"io"

	"github.com/goaoe/aoe/initiator"
)

// AoecfgUsage is aoecfg's usage message.
const AoecfgUsage = "usage: aoecfg [-c cmd] [-s cfgstr] [-t timeout] [shelf slot] [net]\n"

// aoecfgErrors are aoecfg's words for AoE error codes (index = code).
var aoecfgErrors = []string{"*GOK*", "*badcmd*", "*badarg*", "*baddev*", "*badcfg*", "*badvers*", "*GOK*"}

// AoecfgAnswer prints one answer as aoecfg does: the config string up to
// its first NUL (all of it, up to 1,024 bytes), or aoecfg's word for the
// AoE error of a refusal; alone when the command named shelf and slot
// (one), else after "shelf.slot<TAB>". Control bytes, invalid UTF-8 and
// invisible characters are escaped (\x1b: safetext.Classic), so that a
// target cannot drive the terminal or forge lines; printable strings are
// printed byte for byte.
func AoecfgAnswer(w io.Writer, r initiator.ConfigReply, one bool) {
	text := r.Config.String
	for i, c := range text {
		if c == 0 {
			text = text[:i]
			break
		}
	}
	var ec wire.ErrorCode
	if errors.As(r.Err, &ec) {
		text = []byte(aoecfgErrors[0])
		if int(ec) < len(aoecfgErrors) {
			text = []byte(aoecfgErrors[ec])
		}
	}
	shown := safetext.Classic(text)
	if one {
		fmt.Fprintf(w, "%s\n", shown)
		return
	}
	fmt.Fprintf(w, "%d.%d\t%s\n", r.Target.Shelf, r.Target.Slot, shown)
}
