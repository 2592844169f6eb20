// Package exporter exposes the state of the Linux aoe driver, and optionally
// of the AoE targets on the wire, as Prometheus metrics.
//
// The Collector reads sysfs at every scrape (nothing is cached); the Prober,
// when enabled, probes the SAN in the background and the Collector serves its
// latest result. Metric and label names follow the Prometheus naming guide:
// base units (bytes, seconds), _total only on counters.
package exporter

import (
	"errors"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/goaoe/aoe/internal/inuse"
	"github.com/goaoe/aoe/sysfs"
	"github.com/prometheus/client_golang/prometheus"
)

// DefaultMaxDevices is the default cap on the devices given per-device
// series; devices beyond it (in shelf.slot order) are counted in
// aoe_devices_truncated instead.
const DefaultMaxDevices = 10000

// Options configure a Collector.
type Options struct {
	// SysfsRoot is the sysfs mount point (sysfs.DefaultRoot).
	SysfsRoot string
	// ProcRoot is the procfs whose self/mountinfo tells whether a device
	// is mounted (/proc); empty: not consulted.
	ProcRoot string
	// MaxDevices caps the devices with per-device series
	// (DefaultMaxDevices when 0).
	MaxDevices int
	// Prober, when set, adds the metrics of its latest probe.
	Prober *Prober
	// Version is the exporter's version, the version label of
	// aoe_exporter_build_info ("unknown" when empty).
	Version string
}

// Collector is a prometheus.Collector reading the aoe driver's state from
// sysfs at each Collect.
type Collector struct {
	opts     Options
	revision string
}

// NewCollector returns a Collector with opts.
func NewCollector(opts Options) *Collector {
	if opts.SysfsRoot == "" {
		opts.SysfsRoot = sysfs.DefaultRoot
	}
	if opts.MaxDevices <= 0 {
		opts.MaxDevices = DefaultMaxDevices
	}
	if opts.Version == "" {
		opts.Version = "unknown"
	}
	return &Collector{opts: opts, revision: Label(buildRevision())}
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	descDriverInfo     = desc("aoe_driver_info", "The aoe driver's version (/sys/module/aoe/version); 1 when the driver is loaded.", "version")
	descDriverLoaded   = desc("aoe_driver_loaded", "1 when the aoe driver is loaded (/sys/module/aoe exists), else 0.")
	descIfAllowed      = desc("aoe_interfaces_allowed", "Interfaces the driver may use (aoe_iflist); interface=\"*\" when the list is empty (every interface).", "interface")
	descIfListReadable = desc("aoe_interfaces_list_readable", "1 when aoe_iflist could be read (it is readable by root only), else 0.")
	descDevices        = desc("aoe_devices", "AoE devices in sysfs, whether or not they have per-device series.")
	descDevicesTrunc   = desc("aoe_devices_truncated", "AoE devices left out of the per-device series because of the device cap (--max-devices).")
	descDevInfo        = desc("aoe_device_info", "An AoE device and its address, first path MAC and firmware; always 1.", "device", "shelf", "slot", "mac", "firmware")
	descDevUp          = desc("aoe_device_up", "1 when the driver says the device is up, else 0.", "device")
	descDevState       = desc("aoe_device_state", "The device's state attribute as the driver writes it (up, down, down,closewait, up,kickme); always 1.", "device", "state")
	descDevSize        = desc("aoe_device_size_bytes", "The device's capacity in bytes (0 while down).", "device")
	descDevPayload     = desc("aoe_device_payload_bytes", "Data bytes per ATA frame on the device's paths (the smallest).", "device")
	descDevIfaces      = desc("aoe_device_interfaces", "Local interfaces the device is reached through (its paths' interfaces).", "device")
	descDevOpen        = desc("aoe_device_open", "1 when the device is in use: held open while down (closewait), held by a holder (device-mapper, md), or mounted.", "device")
	descScrapeDuration = desc("aoe_scrape_duration_seconds", "Time taken to read the driver's state from sysfs for this scrape.")
	descScrapeSuccess  = desc("aoe_scrape_success", "1 when the driver's state (the device list and every device) could be read from sysfs in this scrape, else 0.")
	descBuildInfo      = desc("aoe_exporter_build_info", "The exporter's version, VCS revision and Go version; always 1.", "version", "revision", "goversion", "goos", "goarch")
)

// buildRevision is the VCS revision the binary was built from, as the Go
// toolchain recorded it ("unknown" when it did not: go build -buildvcs=false,
// or a build outside a repository); "-dirty" marks local changes.
func buildRevision() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	rev, dirty := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "unknown"
	}
	if dirty {
		rev += "-dirty"
	}
	return rev
}

// Describe sends the descriptors of the sysfs metrics and, with a Prober,
// of the probe metrics.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descDriverInfo, descDriverLoaded, descIfAllowed, descIfListReadable,
		descDevices, descDevicesTrunc, descDevInfo, descDevUp, descDevState, descDevSize, descDevPayload,
		descDevIfaces, descDevOpen, descScrapeDuration, descScrapeSuccess, descBuildInfo} {
		ch <- d
	}
	if c.opts.Prober != nil {
		c.opts.Prober.describe(ch)
	}
}

// Collect reads sysfs and sends the metrics.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	start := time.Now()
	readErr := c.collectSysfs(ch)
	ch <- gauge(descScrapeSuccess, b2f(!readErr))
	ch <- gauge(descScrapeDuration, time.Since(start).Seconds())
	ch <- gauge(descBuildInfo, 1, Label(c.opts.Version), c.revision, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if c.opts.Prober != nil {
		c.opts.Prober.collect(ch)
	}
}

// collectSysfs sends the driver and device metrics. It reports whether the
// device list could not be read.
func (c *Collector) collectSysfs(ch chan<- prometheus.Metric) bool {
	fs, err := sysfs.NewFS(c.opts.SysfsRoot)
	loaded := err == nil && fs.ModuleLoaded()
	ch <- gauge(descDriverLoaded, b2f(loaded))
	if err != nil {
		return true
	}
	if loaded {
		if v, err := fs.ModuleVersion(); err == nil {
			ch <- gauge(descDriverInfo, 1, Label(v))
		}
		list, err := fs.InterfaceList()
		ch <- gauge(descIfListReadable, b2f(err == nil))
		if err == nil {
			if len(list) == 0 {
				list = []string{"*"}
			}
			seen := map[string]bool{}
			for _, name := range list {
				if l := Label(name); !seen[l] { // the driver takes a name given twice once
					seen[l] = true
					ch <- gauge(descIfAllowed, 1, l)
				}
			}
		}
	}
	names, err := fs.DeviceNames()
	if err != nil {
		return true
	}
	sysfs.SortNames(names)
	ch <- gauge(descDevices, float64(len(names)))
	shown := names
	if len(shown) > c.opts.MaxDevices {
		shown = shown[:c.opts.MaxDevices]
	}
	ch <- gauge(descDevicesTrunc, float64(len(names)-len(shown)))
	mounts, _ := inuse.Mounts(c.opts.ProcRoot) // unreadable: nothing is mounted
	devs, failed := readDevices(fs, shown)
	for _, d := range devs {
		collectDevice(ch, d, mounts)
	}
	return failed
}

// readDevices reads the named devices in order; devices that went away
// meanwhile are left out, and failed reports a device that could not be
// read for another reason. (Reading several at once did not help: a scrape
// is bound by the CPU time of the many small reads.)
func readDevices(fs sysfs.FS, names []string) (devs []sysfs.Device, failed bool) {
	devs = make([]sysfs.Device, 0, len(names))
	for _, name := range names {
		d, err := fs.Device(name)
		switch {
		case err == nil:
			devs = append(devs, d)
		case !errors.Is(err, os.ErrNotExist):
			failed = true
		}
	}
	return devs, failed
}

func collectDevice(ch chan<- prometheus.Metric, d sysfs.Device, mounts map[string]string) {
	name := d.Name
	mac, _ := d.MACAddr()
	ch <- gauge(descDevInfo, 1, name, itoa(int(d.Addr.Shelf)), itoa(int(d.Addr.Slot)), Label(mac), Label(deref(d.Firmware)))
	ch <- gauge(descDevUp, b2f(d.Up()), name)
	if d.State != nil {
		ch <- gauge(descDevState, 1, name, Label(strings.TrimSpace(*d.State)))
	}
	if n, ok := d.Bytes(); ok {
		ch <- gauge(descDevSize, float64(n), name)
	}
	if n, ok := d.PayloadBytes(); ok {
		ch <- gauge(descDevPayload, float64(n), name)
	}
	if d.NetIf != nil {
		ch <- gauge(descDevIfaces, float64(len(d.NetIfs())), name)
	}
	ch <- gauge(descDevOpen, b2f(inuse.Seen(d, mounts) != nil), name)
}

// gauge makes a constant gauge; a label value that is not valid UTF-8
// cannot reach here (see Label).
func gauge(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return strings.TrimSpace(*s)
}

func itoa(n int) string { return strconv.Itoa(n) }
