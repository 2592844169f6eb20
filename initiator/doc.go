// Package initiator speaks ATA over Ethernet (AoE, protocol revision 11)
// from userspace, in three layers:
//
//   - the wire format, in package initiator/wire (frames, the arguments
//     of the four commands, ATA, IDENTIFY, error codes), and the address
//     eSHELF.SLOT, in package initiator/aoeaddr; neither knows sockets;
//   - the transport, here: a Client has one operation per AoE command
//     (QueryConfig, ATA, Mask, Reserve; Identify) on one interface (a raw
//     packet socket, or any net.PacketConn); it matches the replies by
//     tag, source MAC, address and command, retransmits unicast requests
//     and keeps within each target's buffer count, learnt from its Query
//     Config answers; a Group broadcasts Query Config on every interface
//     and collects the answers (QueryConfig, the same Target and argument
//     as the Client's); Stats count what a client did, lost replies
//     included;
//   - the disk engine, here too: a Disk (OpenDisk) reads and writes a
//     target's sectors over all its paths, verifying every path's IDENTIFY
//     and every reply before its data is used, with a window per path that
//     adapts to loss. It uses the transport through a small unexported
//     interface (transport.go), never the Client's internals. It stays in
//     this package, not a package of its own, because a separate package
//     would need that interface exported: a public surface for the
//     engine's plumbing, which is what this package keeps small.
//
// # Time
//
// Every "now" the package reads comes from an injectable clock (nil:
// time.Now): Config.Now for a client's operations, Group.Clock for a
// broadcast's resend schedule, DiskOptions.Now for the disk engine.
// Timers stay real timers, armed for the difference between two readings
// of the clock. Group.RTTClock only stamps the round-trip times a Group
// reports, so that a display can show fixed times while the schedule runs
// on real time (the commands' golden transcripts do).
//
// # Stability
//
// initiator, initiator/wire, initiator/aoeaddr and discover are the public
// library of module github.com/goaoe/aoe (they live at the top level, not
// under internal/, for tools that speak AoE without the aoe command). What
// is stable: every exported name, the meaning of the errors (the sentinel
// values and error types in each package's errors.go, matched with
// errors.Is and errors.As), the option structs (Config, DiskOptions,
// CollectOptions: a zero value keeps meaning the defaults) and the
// concurrency guarantees documented on each type. They change only
// compatibly; error strings, Stats counters' exact values and timing
// defaults may be tuned. initiator/aoetest is a test kit, stable with
// them but for tests only.
//
// # Surface
//
// initiator, initiator/wire and initiator/aoeaddr export 118 identifiers
// together (top-level names and methods of exported types; aoetest
// aside). A name is exported only when code outside its package that is
// not a test uses it (directly or through an interface such as error,
// fmt.Stringer or io.ReaderAt), or when it is the protocol's vocabulary a
// caller needs to build or read a frame; the rest (the request
// primitives under the operations, the ATA command set in the module's
// internal/ata, tag bit 31, a closed client's error, which matches
// net.ErrClosed) stays unexported. Tests reach what they need through
// export_test.go.
package initiator
