// Package logline is a log/slog handler for a command's messages on
// stderr: each record is one line, its message followed by its attributes
// as key=value, with no time and no level, handed to a print function (the
// command's, which adds "aoe up: " and fits the text to the locale). The
// libraries log through *slog.Logger (internal/boot, internal/events, the
// exporter); a command passes one made by New so that what it prints stays
// the plain lines it always printed.
package logline

import (
	"context"
	"log/slog"
	"strings"
)

// Handler prints each record of Level or above as one line through Print.
type Handler struct {
	print  func(line string)
	level  slog.Leveler
	prefix string // of attribute keys: the open groups, "g1.g2."
	attrs  string // the attributes of WithAttrs, formatted
}

// New returns a logger that prints each record of level Info or above as
// one line through print.
func New(print func(line string)) *slog.Logger {
	return slog.New(NewHandler(print, slog.LevelInfo))
}

// NewHandler returns a Handler printing records of level or above.
func NewHandler(print func(line string), level slog.Leveler) *Handler {
	return &Handler{print: print, level: level}
}

// Enabled reports whether records of level l are printed.
func (h *Handler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }

// Handle prints r: "message key=value key=value".
func (h *Handler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	b.WriteString(h.attrs)
	r.Attrs(func(a slog.Attr) bool {
		appendAttr(&b, h.prefix, a)
		return true
	})
	h.print(b.String())
	return nil
}

// WithAttrs returns a handler that prints attrs after every message.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	var b strings.Builder
	b.WriteString(h.attrs)
	for _, a := range attrs {
		appendAttr(&b, h.prefix, a)
	}
	h2 := *h
	h2.attrs = b.String()
	return &h2
}

// WithGroup returns a handler that prefixes the keys that follow with
// "name.".
func (h *Handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.prefix += name + "."
	return &h2
}

// appendAttr writes " key=value", a group's members each so with
// "group." before their keys.
func appendAttr(b *strings.Builder, prefix string, a slog.Attr) {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return
	}
	if a.Value.Kind() == slog.KindGroup {
		if a.Key != "" {
			prefix += a.Key + "."
		}
		for _, m := range a.Value.Group() {
			appendAttr(b, prefix, m)
		}
		return
	}
	b.WriteString(" " + prefix + a.Key + "=" + a.Value.String())
}
