// Command aoefloor runs the floor reader (package floor) once and prints
// what it did: the yardstick make bench-vm runs in its guest beside aoe
// and the kernel driver.
//
//	aoefloor -i eth0 -target 02:ae:00:01:02:01 -e 1.2 -length 128M
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/goaoe/aoe/internal/aoelab/floor"
)

func main() {
	var o floor.Options
	var target, dev, length string
	flag.StringVar(&o.Interface, "i", "eth0", "interface")
	flag.StringVar(&target, "target", "", "the target's MAC address")
	flag.StringVar(&dev, "e", "", "the target's address SHELF.SLOT")
	flag.StringVar(&length, "length", "128M", "bytes to read (suffix K, M, G: powers of 1024)")
	flag.IntVar(&o.Sectors, "sectors", 0, "sectors per frame (default: what the MTU carries)")
	flag.IntVar(&o.Window, "window", 16, "frames outstanding")
	flag.Parse()
	mac, err := net.ParseMAC(target)
	if err != nil {
		fail(err)
	}
	o.Target = mac
	shelf, slot, ok := strings.Cut(dev, ".")
	sh, err1 := strconv.ParseUint(shelf, 10, 16)
	sl, err2 := strconv.ParseUint(slot, 10, 8)
	if !ok || err1 != nil || err2 != nil {
		fail(fmt.Errorf("-e %q: want SHELF.SLOT", dev))
	}
	o.Shelf, o.Slot = uint16(sh), uint8(sl)
	mult := int64(1)
	switch {
	case strings.HasSuffix(length, "K"):
		mult = 1 << 10
	case strings.HasSuffix(length, "M"):
		mult = 1 << 20
	case strings.HasSuffix(length, "G"):
		mult = 1 << 30
	}
	n, err := strconv.ParseInt(strings.TrimRight(length, "KMG"), 10, 64)
	if err != nil {
		fail(err)
	}
	o.Length = n * mult
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
