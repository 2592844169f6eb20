package exporter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/exporter-toolkit/web"
)

// DefaultPort is the exporter's default TCP port. The Prometheus default
// port allocations 9100-9999 are exhausted; allocations continue above
// 10000, and 10085 ("aoe v85") was not taken there.
const DefaultPort = 10085

// DefaultListenAddress is the default --web.listen-address.
var DefaultListenAddress = fmt.Sprintf(":%d", DefaultPort)

// Registry returns a registry holding c; with process set it also holds the
// exporter's own Go runtime and process metrics (not wanted in a textfile,
// where node_exporter has its own).
func Registry(c *Collector, process bool) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	if process {
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	return reg
}

// ServeOptions configure Serve.
type ServeOptions struct {
	// ListenAddresses are the addresses to listen on (host:port, or
	// vsock://:port).
	ListenAddresses []string
	// SystemdSocket serves on the sockets systemd passes (socket
	// activation) instead of ListenAddresses.
	SystemdSocket bool
	// ConfigFile is the exporter-toolkit web configuration (TLS, basic
	// authentication); empty: plain HTTP.
	ConfigFile string
	// TelemetryPath is where the metrics are served ("/metrics").
	TelemetryPath string
	// Version is shown on the landing page.
	Version string
	// Logger receives the server's messages.
	Logger *slog.Logger
}

// ValidTelemetryPath checks a --web.telemetry-path: an absolute, clean URL
// path ("/metrics") of letters, digits and - . _ ~ / only, so that it is a
// literal route and a link that works (no wildcard, method, query, escape or
// "..").
func ValidTelemetryPath(p string) error {
	if !strings.HasPrefix(p, "/") {
		return fmt.Errorf("telemetry path %q does not start with /", p)
	}
	for _, r := range p {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-._~/", r)) {
			return fmt.Errorf("telemetry path %q: only letters, digits and - . _ ~ / are allowed", p)
		}
	}
	if path.Clean(p) != p {
		return fmt.Errorf("telemetry path %q is not clean (//, /./, /../ or a trailing /): try %q", p, path.Clean(p))
	}
	return nil
}

// ValidListenAddress checks a --web.listen-address: host:port with a port
// number (host empty: every address), or vsock://:port as exporter-toolkit
// takes it.
func ValidListenAddress(a string) error {
	hostport := strings.TrimPrefix(a, "vsock://")
	_, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return fmt.Errorf("listen address %q: %v", a, err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("listen address %q: port %q is not a number from 0 to 65535", a, port)
	}
	return nil
}

// Serve serves reg's metrics over HTTP until ctx is done, then shuts the
// server down. It returns the listener's error (an address in use, a bad
// web configuration file, no socket from systemd), an invalid telemetry
// path, or nil after ctx ended it.
func Serve(ctx context.Context, reg *prometheus.Registry, o ServeOptions) error {
	if o.TelemetryPath == "" {
		o.TelemetryPath = "/metrics"
	}
	if err := ValidTelemetryPath(o.TelemetryPath); err != nil {
		return err
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	mux := http.NewServeMux()
	mux.Handle(o.TelemetryPath, promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:            slog.NewLogLogger(o.Logger.Handler(), slog.LevelError),
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 4,
		Timeout:             30 * time.Second,
	}))
	if o.TelemetryPath != "/" {
		landing, err := web.NewLandingPage(web.LandingConfig{
			Name:        "aoe exporter",
			Description: "Prometheus exporter for ATA over Ethernet (the Linux aoe driver and the SAN's targets)",
			Version:     o.Version,
			Links:       []web.LandingLinks{{Address: o.TelemetryPath, Text: "Metrics"}},
			// No profiling links: the exporter does not serve
			// /debug/pprof (profiles are no business of a scraper).
			Profiling: "false",
		})
		if err != nil {
			return err
		}
		mux.Handle("/", landing)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	flags := &web.FlagConfig{WebListenAddresses: &o.ListenAddresses, WebSystemdSocket: &o.SystemdSocket, WebConfigFile: &o.ConfigFile}
	done := make(chan error, 1)
	go func() { done <- web.ListenAndServe(srv, flags, o.Logger) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
}

// WriteTextfile writes g's metrics in the text format to path for
// node_exporter's textfile collector, atomically: into a temporary file in
// the same directory, synced, made readable by all (0644), then renamed over
// path. It returns the error of gathering, writing or renaming; on error
// path is left as it was.
func WriteTextfile(path string, g prometheus.Gatherer) error {
	mfs, gerr := g.Gather()
	if gerr != nil && len(mfs) == 0 {
		return gerr
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after the rename: no such file, harmless
	enc := expfmt.NewEncoder(tmp, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err = enc.Encode(mf); err != nil {
			break
		}
	}
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
