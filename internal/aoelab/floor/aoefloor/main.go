// Command aoefloor runs the floor reader (package floor) once and prints
// what it did: the yardstick make bench-vm runs in its guest beside aoe
// and the kernel driver.
//
//	aoefloor -i eth0 -target 02:ae:00:01:02:01 -e e1.2 -length 128M [-transport ring-v2]
package main

import (
	"flag"
	"fmt"
	"net"
	"os"

	"github.com/goaoe/aoe/initiator/aoeaddr"
	"github.com/goaoe/aoe/internal/aoelab/floor"
	"github.com/goaoe/aoe/internal/blockio"
)

func main() {
	var o floor.Options
	var target, length, transport, buffer string
	var dev aoeaddr.Address
	flag.StringVar(&o.Interface, "i", "eth0", "interface")
	flag.StringVar(&target, "target", "", "the target's MAC address")
	flag.Var(&dev, "e", "the target's address eSHELF.SLOT")
	flag.StringVar(&length, "length", "128M", "bytes to read (K, M, G: powers of 1024; KB, MB, GB: of 1000)")
	flag.IntVar(&o.Sectors, "sectors", 0, "sectors per frame (default: what the MTU carries)")
	flag.IntVar(&o.Window, "window", 16, "frames outstanding")
	flag.StringVar(&transport, "transport", "socket", "how replies are received: socket, ring-v2 or ring-v3")
	flag.StringVar(&buffer, "buffer", "", "copy the data round a buffer this large, not kept (default: all of it, in memory)")
	flag.IntVar(&o.BlockSize, "block-size", 0, "ring-v3's block size (default: the fewest pages holding a frame)")
	flag.Parse()
	tr, err := floor.ParseTransport(transport)
	if err != nil {
		fail(err)
	}
	o.Transport = tr
	mac, err := net.ParseMAC(target)
	if err != nil {
		fail(err)
	}
	o.Target = mac
	o.Shelf, o.Slot = dev.Shelf, dev.Slot
	if o.Length, err = blockio.ParseSize(length); err != nil {
		fail(err)
	}
	if buffer != "" {
		if o.Buffer, err = blockio.ParseSize(buffer); err != nil {
			fail(err)
		}
	}
	_, res, err := floor.Read(o)
	if err != nil {
		fail(err)
	}
	fmt.Println(res)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "aoefloor:", err)
	os.Exit(1)
}
