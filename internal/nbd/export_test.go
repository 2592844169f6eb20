package nbd

import (
	"context"
	"log/slog"
)

// Test hooks: the server's accounting, not part of its API.

// InflightBytes returns the request data the server holds now, the most it
// ever held at once, and its limit.
func (s *Server) InflightBytes() (used, peak, limit int64) {
	s.setup()
	used, peak = s.budget.stats()
	return used, peak, s.budget.limit
}

// BudgetWaiters returns how many connections wait for their next request's
// share of the budget.
func (s *Server) BudgetWaiters() int {
	s.setup()
	s.budget.mu.Lock()
	defer s.budget.mu.Unlock()
	return len(s.budget.waiters)
}

// Conns returns how many connections Serve serves now.
func (s *Server) Conns() int64 { return s.conns.Load() }

// logTo is a logger that passes each message (its text only) to f, as
// t.Logf.
func logTo(f func(format string, args ...any)) *slog.Logger { return slog.New(funcHandler(f)) }

type funcHandler func(format string, args ...any)

func (h funcHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h funcHandler) Handle(_ context.Context, r slog.Record) error {
	h("%s", r.Message)
	return nil
}
func (h funcHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h funcHandler) WithGroup(string) slog.Handler      { return h }
