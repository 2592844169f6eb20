package cmd

import (
	"context"
	"fmt"
	"time"

	"github.com/goaoe/aoe/internal/exporter"
	"github.com/prometheus/common/promslog"
	"github.com/spf13/cobra"
)

type exporterOptions struct {
	*globalOptions
	listen        []string
	systemdSocket bool
	webConfig     string
	telemetryPath string
	logLevel      *promslog.Level
	logFormat     *promslog.Format
	textfile      string
	maxDevices    int
	probeInterval time.Duration
	probeTimeout  time.Duration
	probeIfaces   []string
	maxTargets    int
}

// promslogValue makes a promslog flag value (Level, Format) a pflag.Value.
type promslogValue struct {
	stringSetter
	typ string
}

type stringSetter interface {
	String() string
	Set(string) error
}

func (v promslogValue) Type() string { return v.typ }

func newExporterCmd(g *globalOptions) *cobra.Command {
	o := &exporterOptions{globalOptions: g, logLevel: promslog.NewLevel(), logFormat: promslog.NewFormat()}
	_ = o.logLevel.Set("info")
	_ = o.logFormat.Set("logfmt")
	cmd := &cobra.Command{
		Use:   "exporter",
		Short: "Serve AoE metrics to Prometheus",
		Long: fmt.Sprintf(`exporter serves the state of the aoe driver as Prometheus metrics over HTTP
(default port %d, path /metrics), like node_exporter. Every scrape reads
SYSFS afresh: nothing is cached. An AoE address eX.Y is the label device
on every metric.

Metrics from the driver: aoe_driver_loaded, aoe_driver_info{version},
aoe_interfaces_allowed{interface} (aoe_iflist, root only; interface="*" when
every interface is allowed), aoe_devices and aoe_devices_truncated, and per
device aoe_device_info{device,shelf,slot,mac,firmware}, aoe_device_up,
aoe_device_state{state}, aoe_device_size_bytes, aoe_device_payload_bytes,
aoe_device_interfaces (count), aoe_device_open (held open while down,
held by device-mapper or md, or mounted). At most --max-devices devices get
per-device series; aoe_devices_truncated counts the others.
aoe_scrape_success is 0 when sysfs could not be read;
aoe_exporter_build_info{version,revision,goversion,goos,goarch} is 1.

With --probe.interval (at least %v, at most %v) the exporter also probes
the SAN from userspace in the background (needs root or CAP_NET_RAW; off by
default), on the interfaces of --probe.interface, else aoe_iflist, else
every up Ethernet interface, and serves the latest probe. Per target and
path: aoe_target_up{device,mac,interface} is 1 only when the path answered
the latest probe, and 0 when it did not, when the probe could not send on
its interface (down, no carrier) or when the probe failed or was incomplete
(a path that stays silent is forgotten after an hour);
aoe_target_rtt_seconds (histogram of a unicast Query Config's round trip),
aoe_target_buffers; per target aoe_target_conflict (different disks answer
for one address). Of the probe: aoe_probe_success (1: sent on every
interface and read a complete answer), aoe_probe_last_success_timestamp_seconds,
aoe_probe_interface_up{interface}, aoe_probe_incomplete,
aoe_probe_duration_seconds, aoe_probe_truncated (targets over
--probe.max-targets), aoe_probes_total, aoe_probe_failures_total,
aoe_probe_retransmits_total{interface},
aoe_probe_bad_replies_total{interface,reason} (malformed, forged, bad_ata:
frames dropped as bad). Probe failures are logged when they
start and end, and every 10 minutes while they last.

--web.config.file takes the exporter-toolkit web configuration (TLS, basic
authentication), and --web.systemd-socket serves on the sockets of a systemd
socket unit instead of --web.listen-address, as node_exporter does. Logs go
to standard error (--log.level, --log.format).

With --textfile PATH it writes the same metrics once to PATH for
node_exporter's textfile collector (atomically: a temporary file in the same
directory, renamed) and exits.`, exporter.DefaultPort, roundDuration(exporter.MinProbeInterval), roundDuration(exporter.MaxProbeInterval)) + exitCodesHelp,
		Example: `  aoe exporter
  aoe exporter --web.listen-address 127.0.0.1:10085 \
      --web.config.file /etc/aoe/web.yml
  sudo aoe exporter --probe.interval 30s --probe.interface eth2,eth3
  aoe exporter --textfile /var/lib/prometheus/node-exporter/aoe.prom`,
		Args: argsCheck(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error { return runExporter(cmd, o) },
	}
	f := cmd.Flags()
	f.StringSliceVar(&o.listen, "web.listen-address", []string{exporter.DefaultListenAddress}, "addresses to listen on, host:port or vsock://:port (repeat or separate with commas)")
	f.BoolVar(&o.systemdSocket, "web.systemd-socket", false, "serve on the sockets systemd passes (socket activation) instead of --web.listen-address")
	f.StringVar(&o.webConfig, "web.config.file", "", "web configuration file for TLS and basic authentication (exporter-toolkit format)")
	f.StringVar(&o.telemetryPath, "web.telemetry-path", "/metrics", "path under which the metrics are served (absolute: starts with /)")
	f.Var(promslogValue{o.logLevel, "level"}, "log.level", "only log messages of this severity or above: debug, info, warn or error")
	f.Var(promslogValue{o.logFormat, "format"}, "log.format", "format of log messages: logfmt or json")
	f.StringVar(&o.textfile, "textfile", "", "write the metrics once to this file (node_exporter textfile collector) and exit")
	f.IntVar(&o.maxDevices, "max-devices", exporter.DefaultMaxDevices, "at most this many devices get per-device series")
	f.DurationVar(&o.probeInterval, "probe.interval", 0, fmt.Sprintf("probe the SAN from userspace this often, %s to %s (0: no probing; needs CAP_NET_RAW)", roundDuration(exporter.MinProbeInterval), roundDuration(exporter.MaxProbeInterval)))
	f.DurationVar(&o.probeTimeout, "probe.timeout", 0, fmt.Sprintf("time limit of each probe, %v to the interval (default: the interval, at most 5s)", exporter.MinProbeTimeout))
	f.StringSliceVar(&o.probeIfaces, "probe.interface", nil, "interfaces to probe on (default: aoe_iflist, else every up Ethernet interface)")
	f.IntVar(&o.maxTargets, "probe.max-targets", exporter.DefaultMaxTargets, "at most this many targets get per-target series")
	return cmd
}

// roundDuration writes a whole number of hours or minutes as 1h or 5m
// rather than 1h0m0s.
func roundDuration(d time.Duration) string {
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d >= time.Minute && d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.String()
}

// check validates the flags: a usage error (exit 2) names the first bad one.
func (o *exporterOptions) check() error {
	switch {
	case o.maxDevices < 1:
		return usageErrorf("--max-devices must be at least 1")
	case o.maxTargets < 1:
		return usageErrorf("--probe.max-targets must be at least 1")
	case o.probeInterval < 0 || o.probeInterval > 0 && o.probeInterval < exporter.MinProbeInterval || o.probeInterval > exporter.MaxProbeInterval:
		return usageErrorf("--probe.interval %v: 0 (no probing) or from %s to %s", o.probeInterval, roundDuration(exporter.MinProbeInterval), roundDuration(exporter.MaxProbeInterval))
	case o.probeTimeout < 0 || o.probeTimeout > 0 && o.probeTimeout < exporter.MinProbeTimeout:
		return usageErrorf("--probe.timeout %v: at least %v", o.probeTimeout, exporter.MinProbeTimeout)
	case o.probeTimeout > 0 && o.probeInterval > 0 && o.probeTimeout > o.probeInterval:
		return usageErrorf("--probe.timeout %v is longer than --probe.interval %v", o.probeTimeout, o.probeInterval)
	}
	for _, name := range o.probeIfaces {
		if name == "" {
			return usageErrorf("--probe.interface: an empty interface name")
		}
	}
	if o.textfile != "" {
		return nil // the web flags do not matter
	}
	if err := exporter.ValidTelemetryPath(o.telemetryPath); err != nil {
		return usageErrorf("--web.telemetry-path: %v", err)
	}
	if !o.systemdSocket {
		if len(o.listen) == 0 {
			return usageErrorf("--web.listen-address: no address (or use --web.systemd-socket)")
		}
		for _, a := range o.listen {
			if err := exporter.ValidListenAddress(a); err != nil {
				return usageErrorf("--web.listen-address: %v", err)
			}
		}
	}
	return nil
}

func runExporter(cmd *cobra.Command, o *exporterOptions) error {
	if err := o.check(); err != nil {
		return err
	}
	ctx := cmd.Context()
	logger := promslog.New(&promslog.Config{Level: o.logLevel, Format: o.logFormat, Writer: o.stderr()})
	copts := exporter.Options{SysfsRoot: o.sysfsDir(cmd), ProcRoot: o.host(cmd).Proc, MaxDevices: o.maxDevices, Version: o.env.Version}
	if o.probeInterval > 0 {
		g, err := o.openGroup(cmd, o.probeIfaces)
		if err != nil {
			return err
		}
		defer g.Close()
		p, err := exporter.NewProber(exporter.ProberOptions{Group: g, Interval: o.probeInterval,
			Timeout: o.probeTimeout, MaxTargets: o.maxTargets, Logger: logger})
		if err != nil {
			return err
		}
		copts.Prober = p
		if o.textfile != "" {
			_ = p.ProbeOnce(ctx) // a failure is logged and shows in aoe_probe_success
		} else {
			pctx, cancel := context.WithCancel(ctx)
			defer cancel()
			go p.Run(pctx)
		}
	}
	c := exporter.NewCollector(copts)
	if o.textfile != "" {
		return exporter.WriteTextfile(o.textfile, exporter.Registry(c, false))
	}
	logger.Info("Starting aoe exporter", "version", o.env.Version, "probe_interval", o.probeInterval)
	return exporter.Serve(ctx, exporter.Registry(c, true), exporter.ServeOptions{
		ListenAddresses: o.listen, SystemdSocket: o.systemdSocket, ConfigFile: o.webConfig,
		TelemetryPath: o.telemetryPath, Version: o.env.Version, Logger: logger,
	})
}
