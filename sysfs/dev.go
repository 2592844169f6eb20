package sysfs

// The driver's device nodes. The block nodes are DIR/eX.Y and DIR/eX.YpN;
// the character nodes below are its control and error channels (writing
// them is package internal/aoectl's, reading err is internal/events').

// DefaultDevDir is where the driver's character devices appear (the aoe
// class devnode callback names them etherd/NAME).
const DefaultDevDir = "/dev/etherd"

// The driver's character devices, all of major 152 (drivers/block/aoe/aoechr.c).
const (
	NodeErr        = "err"
	NodeDiscover   = "discover"
	NodeInterfaces = "interfaces"
	NodeRevalidate = "revalidate"
	NodeFlush      = "flush"
)

// Major is the block and character major number of the aoe driver.
const Major = 152

// NodeMinor gives the minor number of each character node.
var NodeMinor = map[string]uint32{
	NodeErr:        2,
	NodeDiscover:   3,
	NodeInterfaces: 4,
	NodeRevalidate: 5,
	NodeFlush:      6,
}
