// Package nbd is a Network Block Device server (the NBD protocol, as
// NetworkBlockDevice/nbd doc/proto.md specifies it): the fixed newstyle
// handshake with NBD_OPT_GO, NBD_OPT_INFO (NBD_INFO_EXPORT and
// NBD_INFO_BLOCK_SIZE), NBD_OPT_LIST, NBD_OPT_ABORT and the old
// NBD_OPT_EXPORT_NAME; then READ, WRITE (with FUA), FLUSH and DISCONNECT
// with simple replies. It serves any io.ReaderAt/io.WriterAt: an AoE disk
// in production, a file or memory in tests.
package nbd

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Magic numbers and protocol constants (all big-endian on the wire).
const (
	magicNBD       = 0x4e42444d41474943 // "NBDMAGIC"
	magicIHaveOpt  = 0x49484156454f5054 // "IHAVEOPT"
	magicOptReply  = 0x0003e889045565a9
	magicRequest   = 0x25609513
	magicSimpleRep = 0x67446698

	// Handshake flags (server) and client flags.
	flagFixedNewstyle = 1 << 0
	flagNoZeroes      = 1 << 1

	// Options.
	optExportName      = 1
	optAbort           = 2
	optList            = 3
	optInfo            = 6
	optGo              = 7
	optStructuredReply = 8

	// Option reply types.
	repAck       = 1
	repServer    = 2
	repInfo      = 3
	repErrBit    = 1 << 31
	repErrUnsup  = repErrBit | 1
	repErrPolicy = repErrBit | 2
	repErrInval  = repErrBit | 3
	repErrUnknow = repErrBit | 6
	repErrTooBig = repErrBit | 9

	// Information types.
	infoExport    = 0
	infoName      = 1
	infoBlockSize = 3

	// Transmission flags.
	tflagHasFlags  = 1 << 0
	tflagReadOnly  = 1 << 1
	tflagSendFlush = 1 << 2
	tflagSendFUA   = 1 << 3
	// tflagCanMultiConn: a flush on one connection covers the writes
	// completed on all of them.
	tflagCanMultiConn = 1 << 8

	// Commands and command flags.
	cmdRead    = 0
	cmdWrite   = 1
	cmdDisc    = 2
	cmdFlush   = 3
	cmdFlagFUA = 1 << 0

	// Error values of replies (the protocol's, which are Linux errnos).
	errPerm     = 1
	errIO       = 5
	errInval    = 22
	errNoSpc    = 28
	errOverflow = 75
	errNotSup   = 95
)

// maxOptionLen bounds an option's data: the longest legitimate one is an
// NBD_OPT_GO with a 4096-byte name and a few information requests.
const maxOptionLen = 4096 + 4 + 2 + 2*64

// Errors of the protocol.
var (
	// ErrBadMagic is returned when a peer sends a wrong magic number.
	ErrBadMagic = errors.New("nbd: bad magic")
	// ErrNotFixedNewstyle is returned when a client does not speak the
	// fixed newstyle handshake.
	ErrNotFixedNewstyle = errors.New("nbd: client does not support the fixed newstyle handshake")
	// ErrOptionTooLong is returned for an option whose data passes
	// maxOptionLen.
	ErrOptionTooLong = errors.New("nbd: option data too long")
	// ErrAborted is returned by ServeConn when the client ends the
	// handshake with NBD_OPT_ABORT (or closes the connection in it).
	ErrAborted = errors.New("nbd: client aborted the handshake")
	// ErrHandshakeTimeout is returned by ServeConn when the client did not
	// choose an export within the server's HandshakeTimeout.
	ErrHandshakeTimeout = errors.New("nbd: handshake timed out")
	// ErrReplyTimeout is returned by ServeConn when the client left a
	// reply unread for the server's ReplyTimeout.
	ErrReplyTimeout = errors.New("nbd: client left a reply unread too long")
)

// option is one client option.
//
//	off size field
//	 0   8   IHAVEOPT magic
//	 8   4   option
//	12   4   data length n
//	16   n   data
type option struct {
	code uint32
	data []byte
}

// readOption reads one option. Data longer than maxOptionLen is not read:
// it fails with ErrOptionTooLong (the connection cannot go on).
func readOption(r io.Reader) (option, error) {
	var h [16]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return option{}, err
	}
	if binary.BigEndian.Uint64(h[0:8]) != magicIHaveOpt {
		return option{}, fmt.Errorf("%w in option header", ErrBadMagic)
	}
	o := option{code: binary.BigEndian.Uint32(h[8:12])}
	n := binary.BigEndian.Uint32(h[12:16])
	if n > maxOptionLen {
		return o, fmt.Errorf("%w: %d bytes", ErrOptionTooLong, n)
	}
	o.data = make([]byte, n)
	if _, err := io.ReadFull(r, o.data); err != nil {
		return option{}, err
	}
	return o, nil
}

// infoRequest is the data of NBD_OPT_INFO and NBD_OPT_GO.
//
//	off  size field
//	 0    4   name length n
//	 4    n   export name (UTF-8)
//	4+n   2   number of information requests k
//	6+n  2*k  information types
type infoRequest struct {
	name  string
	infos []uint16
}

var errShortOption = errors.New("nbd: option data does not match its lengths")

func parseInfoRequest(b []byte) (infoRequest, error) {
	if len(b) < 4 {
		return infoRequest{}, errShortOption
	}
	n := binary.BigEndian.Uint32(b[0:4])
	if uint64(n)+6 > uint64(len(b)) {
		return infoRequest{}, errShortOption
	}
	req := infoRequest{name: string(b[4 : 4+n])}
	rest := b[4+n:]
	k := int(binary.BigEndian.Uint16(rest[0:2]))
	rest = rest[2:]
	if len(rest) != 2*k {
		return infoRequest{}, errShortOption
	}
	for i := range k {
		req.infos = append(req.infos, binary.BigEndian.Uint16(rest[2*i:]))
	}
	return req, nil
}

// request is a transmission-phase request.
//
//	off size field
//	 0   4   request magic 0x25609513
//	 4   2   command flags
//	 6   2   type
//	 8   8   cookie (handle)
//	16   8   offset
//	24   4   length
//	28   ..  data (NBD_CMD_WRITE only)
type request struct {
	flags  uint16
	typ    uint16
	cookie uint64
	offset uint64
	length uint32
}

func readRequest(r io.Reader) (request, error) {
	if br, ok := r.(*bufio.Reader); ok {
		// In place in the reader's buffer: a local array passed to
		// an io.Reader would be an allocation per request.
		h, err := br.Peek(28)
		if err != nil {
			if errors.Is(err, io.EOF) && len(h) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return request{}, err
		}
		req, err := parseRequest(h)
		br.Discard(28)
		return req, err
	}
	var h [28]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return request{}, err
	}
	return parseRequest(h[:])
}

func parseRequest(h []byte) (request, error) {
	if binary.BigEndian.Uint32(h[0:4]) != magicRequest {
		return request{}, fmt.Errorf("%w in request", ErrBadMagic)
	}
	return request{
		flags:  binary.BigEndian.Uint16(h[4:6]),
		typ:    binary.BigEndian.Uint16(h[6:8]),
		cookie: binary.BigEndian.Uint64(h[8:16]),
		offset: binary.BigEndian.Uint64(h[16:24]),
		length: binary.BigEndian.Uint32(h[24:28]),
	}, nil
}

// simpleReply encodes a simple reply header.
//
//	off size field
//	 0   4   simple reply magic 0x67446698
//	 4   4   error (0 or an errno value)
//	 8   8   cookie
//	16   ..  data (successful NBD_CMD_READ)
func simpleReply(buf *[16]byte, errno uint32, cookie uint64) []byte {
	b := buf[:]
	binary.BigEndian.PutUint32(b[0:4], magicSimpleRep)
	binary.BigEndian.PutUint32(b[4:8], errno)
	binary.BigEndian.PutUint64(b[8:16], cookie)
	return b
}

// optionReply encodes an option reply.
//
//	off size field
//	 0   8   option reply magic 0x3e889045565a9
//	 8   4   the option answered
//	12   4   reply type
//	16   4   data length n
//	20   n   data
func optionReply(opt, typ uint32, data []byte) []byte {
	b := make([]byte, 20+len(data))
	binary.BigEndian.PutUint64(b[0:8], magicOptReply)
	binary.BigEndian.PutUint32(b[8:12], opt)
	binary.BigEndian.PutUint32(b[12:16], typ)
	binary.BigEndian.PutUint32(b[16:20], uint32(len(data)))
	copy(b[20:], data)
	return b
}
