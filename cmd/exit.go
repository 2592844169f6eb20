package cmd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/goaoe/aoe/initiator"
	"github.com/goaoe/aoe/internal/aoectl"
)

// Exit codes of the aoe command (documented in aoe(8)). Under the classic
// aoetools names the codes are aoetools' own: 0, 1, and 2 for usage errors of
// aoe-stat (grep's code).
//
// The commands that move data (read, write, bench, nbd) follow one rule,
// so that the same mistake gives the same code whatever the command:
//
//   - an offset, a length, a span or an input outside the disk is the
//     user's mistake: ExitUsage (2), said before any I/O when the size is
//     known (blockio.ErrOutOfRange; a flag value that does not parse, such
//     as a size that overflows, too);
//   - a disk that fails mid-I/O (an ATA or AoE error, a bad reply, the disk
//     ending early), different disks answering for one address, or a target
//     that did not answer the Query Config: ExitFailure (1);
//   - a request that no path answered before --deadline
//     (initiator.ErrDeadline), or no reply at all (initiator.ErrTimeout):
//     ExitTimeout (5).
//
// Timeouts are the packages' own errors, mapped here (exitCode):
// initiator.ErrTimeout and ErrDeadline, aoectl.ErrTimeout (aoe up) and
// *aoectl.TimeoutError (discover --wait); cmd declares none of its own.
const (
	ExitOK         = 0   // success
	ExitFailure    = 1   // the command failed, or found nothing to show
	ExitUsage      = 2   // bad flags or arguments
	ExitNoDriver   = 3   // the aoe driver is not loaded or its control nodes are missing
	ExitPermission = 4   // not allowed: run as root (or with CAP_NET_RAW for raw AoE)
	ExitTimeout    = 5   // the awaited devices or answers did not come in time
	ExitCanceled   = 130 // interrupted (SIGINT); SIGTERM gives 143
)

// Sentinel errors that select an exit code.
var (
	ErrUsage      = errors.New("usage error")
	ErrNoDriver   = errors.New("the aoe driver is not loaded")
	ErrPermission = errors.New("permission denied")
	// ErrNothing means the command ran but found nothing to show; it is not
	// printed as an error.
	ErrNothing = errors.New("nothing found")
)

// exitError carries an exit code for an error whose message, if any, the
// command already printed (the classic commands print aoetools' messages
// themselves).
type exitError struct {
	code int
}

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// silentExit returns an error that makes Main exit with code without printing
// anything.
func silentExit(code int) error { return exitError{code: code} }

// exitCode maps an error to the process exit code.
func exitCode(err error) int {
	var ee exitError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ee):
		return ee.code
	case errors.Is(err, context.Canceled):
		return ExitCanceled
	case errors.Is(err, ErrUsage):
		return ExitUsage
	case errors.Is(err, ErrNoDriver):
		return ExitNoDriver
	case errors.Is(err, ErrPermission), errors.Is(err, os.ErrPermission):
		return ExitPermission
	case errors.Is(err, initiator.ErrTimeout), errors.Is(err, initiator.ErrDeadline),
		errors.Is(err, aoectl.ErrTimeout), errors.As(err, new(*aoectl.TimeoutError)):
		return ExitTimeout
	default:
		return ExitFailure
	}
}

// printable reports whether Main should print err.
func printable(err error) bool {
	var ee exitError
	// A canceled command (SIGINT, SIGTERM) says nothing: the exit code
	// tells.
	return err != nil && !errors.As(err, &ee) && !errors.Is(err, ErrNothing) && !errors.Is(err, context.Canceled)
}

// kindError is an error with its own message that selects the exit code of
// kind (ErrNoDriver, ErrPermission).
type kindError struct {
	kind error
	msg  string
}

func (e kindError) Error() string        { return e.msg }
func (e kindError) Is(target error) bool { return target == e.kind }

// kindErrorf returns an error with the message and the exit code of kind.
func kindErrorf(kind error, format string, args ...any) error {
	return kindError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// usageError is a bad flag or argument (exit 2).
type usageError struct{ msg string }

func (e usageError) Error() string        { return e.msg }
func (e usageError) Is(target error) bool { return target == ErrUsage }

// usageErrorf returns a usage error (exit 2).
func usageErrorf(format string, args ...any) error {
	return usageError{msg: fmt.Sprintf(format, args...)}
}

// SignalError is the cause of a command's cancellation by a signal: the
// process then exits with 128 + the signal's number (130 for SIGINT, 143
// for SIGTERM), as shells report it. It matches context.Canceled with
// errors.Is.
type SignalError struct {
	Signal syscall.Signal
}

func (e *SignalError) Error() string { return e.Signal.String() }

// Is makes errors.Is(err, context.Canceled) true.
func (e *SignalError) Is(target error) bool { return target == context.Canceled }

// Code is the exit code for the signal.
func (e *SignalError) Code() int { return 128 + int(e.Signal) }

// signalCode turns the canceled exit code into the code of the signal that
// canceled ctx, if one did.
func signalCode(ctx context.Context, code int) int {
	var se *SignalError
	if code == ExitCanceled && errors.As(context.Cause(ctx), &se) {
		return se.Code()
	}
	return code
}
