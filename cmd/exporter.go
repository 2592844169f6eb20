package cmd

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/goaoe/aoe/internal/exporter"
	"github.com/spf13/cobra"
)

type exporterOptions struct {
	*globalOptions
	listen        []string
	webConfig     string
	telemetryPath string
	textfile      string
	maxDevices    int
	probeInterval time.Duration
	probeTimeout  time.Duration
	probeIfaces   []string
	maxTargets    int
}

func newExporterCmd(g *globalOptions) *cobra.Command {
	o := &exporterOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "exporter",
		Short: "Serve AoE metrics to Prometheus",
		Long: fmt.Sprintf(`exporter serves the state of the aoe driver as Prometheus metrics over HTTP
(default port %d, path /metrics), like node_exporter. Every scrape reads
SYSFS afresh: nothing is cached.

Metrics from the driver: aoe_driver_loaded, aoe_driver_info{version},
aoe_interfaces_allowed{interface} (aoe_iflist, root only; interface="*" when
every interface is allowed), aoe_devices and aoe_devices_truncated, and per
device aoe_device_info{device,shelf,slot,mac,firmware}, aoe_device_up,
aoe_device_state{state}, aoe_device_size_bytes, aoe_device_payload_bytes,
aoe_device_interfaces (count), aoe_device_open (held open while down,
held by device-mapper or md, or mounted). At most --max-devices devices get
per-device series; aoe_devices_truncated counts the others.

With --probe.interval the exporter also probes the SAN from userspace in the
background (needs root or CAP_NET_RAW; off by default), on the interfaces of
--probe.interface, else aoe_iflist, else every up Ethernet interface, and
serves the latest probe: per target and path aoe_target_up{target,mac,
interface} (0 once a path seen before stops answering, forgotten after an
hour), aoe_target_rtt_seconds (histogram of a unicast Query Config's round
trip), aoe_target_buffers; per target aoe_target_conflict (different
disks answer for one address); aoe_probe_duration_seconds,
aoe_probe_timestamp_seconds (when the latest probe ended), aoe_probe_truncated
(targets over --probe.max-targets), aoe_probes_total,
aoe_probe_failures_total, aoe_probe_retransmits_total{interface}.

--web.config.file takes the exporter-toolkit web configuration (TLS, basic
authentication), as node_exporter does.

With --textfile PATH it writes the same metrics once to PATH for
node_exporter's textfile collector (atomically: a temporary file in the same
directory, renamed) and exits.`, exporter.DefaultPort) + exitCodesHelp,
		Example: `  aoe exporter
  aoe exporter --web.listen-address 127.0.0.1:10085 --web.config.file /etc/aoe/web.yml
  sudo aoe exporter --probe.interval 30s --probe.interface eth2,eth3
  aoe exporter --textfile /var/lib/prometheus/node-exporter/aoe.prom`,
		Args: argsCheck(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error { return runExporter(cmd, o) },
	}
	f := cmd.Flags()
	f.StringSliceVar(&o.listen, "web.listen-address", []string{exporter.DefaultListenAddress}, "addresses to listen on (repeat or separate with commas)")
	f.StringVar(&o.webConfig, "web.config.file", "", "web configuration file for TLS and basic authentication (exporter-toolkit format)")
	f.StringVar(&o.telemetryPath, "web.telemetry-path", "/metrics", "path under which the metrics are served")
	f.StringVar(&o.textfile, "textfile", "", "write the metrics once to this file (node_exporter textfile collector) and exit")
	f.IntVar(&o.maxDevices, "max-devices", exporter.DefaultMaxDevices, "at most this many devices get per-device series")
	f.DurationVar(&o.probeInterval, "probe.interval", 0, "probe the SAN from userspace this often (0: no probing; needs CAP_NET_RAW)")
	f.DurationVar(&o.probeTimeout, "probe.timeout", 0, "time limit of each probe (default: the interval, at most 5s)")
	f.StringSliceVar(&o.probeIfaces, "probe.interface", nil, "interfaces to probe on (default: aoe_iflist, else every up Ethernet interface)")
	f.IntVar(&o.maxTargets, "probe.max-targets", exporter.DefaultMaxTargets, "at most this many targets get per-target series")
	return cmd
}

func runExporter(cmd *cobra.Command, o *exporterOptions) error {
	if o.maxDevices < 1 || o.maxTargets < 1 || o.probeInterval < 0 || o.probeTimeout < 0 {
		return usageErrorf("--max-devices and --probe.max-targets must be at least 1, durations not negative")
	}
	ctx := cmd.Context()
	copts := exporter.Options{SysfsRoot: o.sysfsDir(cmd), ProcRoot: o.host(cmd).Proc, MaxDevices: o.maxDevices}
	if o.probeInterval > 0 {
		g, err := o.openGroup(cmd, o.probeIfaces)
		if err != nil {
			return err
		}
		defer g.Close()
		p, err := exporter.NewProber(exporter.ProberOptions{Group: g, Interval: o.probeInterval,
			Timeout: o.probeTimeout, MaxTargets: o.maxTargets})
		if err != nil {
			return err
		}
		copts.Prober = p
		if o.textfile != "" {
			_ = p.ProbeOnce(ctx) // a failure shows in aoe_probe_failures_total
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
	logger := slog.New(slog.NewTextHandler(o.stderr(), nil))
	return exporter.Serve(ctx, exporter.Registry(c, true), exporter.ServeOptions{
		ListenAddresses: o.listen, ConfigFile: o.webConfig, TelemetryPath: o.telemetryPath,
		Version: o.env.Version, Logger: logger,
	})
}
