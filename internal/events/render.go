package events

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/goaoe/aoe/internal/safetext"
)

// Escape writes an untrusted string visibly (safetext.String): control
// bytes, invalid UTF-8 and bidi controls as \xNN, a backslash as \\.
func Escape(s string) string { return safetext.String(s) }

// timeFormat is the events' timestamp: RFC 3339 in UTC with milliseconds.
const timeFormat = "2006-01-02T15:04:05.000Z07:00"

// WriteHuman writes e as one line: time, device, what happened.
func WriteHuman(w io.Writer, e Event) error {
	dev := e.Device
	if dev == "" {
		dev = "-"
	}
	var what string
	switch e.Kind {
	case KindState, KindPayload, KindSize, KindMAC:
		what = fmt.Sprintf("%s %s -> %s", e.Kind, orNone(e.Old), orNone(e.New))
	case KindAppeared, KindPresent:
		what = fmt.Sprintf("%s (%s)", e.Kind, orNone(e.New))
	case KindRemoved:
		what = fmt.Sprintf("%s (was %s)", e.Kind, orNone(e.Old))
	case KindInterfaceAdded, KindInterfaceLost:
		what = e.Kind + " " + Escape(e.Interface)
	case KindDriverLoaded, KindDriverUnloaded:
		what = e.Kind
	default:
		what = e.Kind + ": " + Escape(e.Message)
	}
	_, err := fmt.Fprintf(w, "%s %s %s\n", e.Time.UTC().Format(timeFormat), dev, what)
	return err
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return Escape(s)
}

// jsonEvent is an event of `aoe events --json` (docs/json.md): every
// field is always there, null when the event has none (a driver-wide
// event has no device; old is null for an attribute that was not there).
type jsonEvent struct {
	Time      string  `json:"time"`
	Event     string  `json:"event"`
	Device    *string `json:"device"`
	Old       *string `json:"old"`
	New       *string `json:"new"`
	Interface *string `json:"interface"`
	Message   *string `json:"message"`
	Source    string  `json:"source"`
}

// orNull is s escaped as by Escape, or nil (null) when it is empty.
func orNull(s string) *string {
	if s == "" {
		return nil
	}
	e := Escape(s)
	return &e
}

// WriteJSON writes e as one JSON object on one line. Untrusted strings are
// escaped as by Escape, so that the object is valid JSON and a jq -r of a
// field cannot put a control byte on a terminal.
func WriteJSON(w io.Writer, e Event) error {
	b, err := json.Marshal(jsonEvent{
		Time: e.Time.UTC().Format(time.RFC3339Nano), Event: e.Kind, Device: orNull(e.Device),
		Old: orNull(e.Old), New: orNull(e.New), Interface: orNull(e.Interface),
		Message: orNull(e.Message), Source: e.Source,
	})
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
