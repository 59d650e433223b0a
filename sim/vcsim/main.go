// failback-vcsim serves the vcenter half of an estate file through govmomi's vCenter
// simulator (vcsim), patched where vcsim 0.24.2 differs from a real vCenter.
//
//	failback-vcsim --estate FILE [--listen 127.0.0.1:0] [--no-tls] [--cert-dir DIR] [--trace]
//
// When ready it prints exactly one JSON line on stdout (url, ca_file, thumbprints,
// datacenter, users, pid); everything else goes to stderr. It exits cleanly on SIGTERM,
// SIGINT, and when its stdin is a pipe that closes (so a parent's death stops it).
// See docs/vcsim.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
)

type readyLine struct {
	URL              string   `json:"url"`
	CAFile           *string  `json:"ca_file"`
	ThumbprintSHA256 *string  `json:"thumbprint_sha256"`
	ThumbprintSHA1   *string  `json:"thumbprint_sha1"`
	Datacenter       string   `json:"datacenter"`
	Users            []string `json:"users"`
	PID              int      `json:"pid"`
	StartupMS        int64    `json:"startup_ms"`
}

func main() {
	log.SetPrefix("failback-vcsim: ")
	log.SetFlags(log.Ltime | log.Lmicroseconds)
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "failback-vcsim: error: %s\n", err)
		os.Exit(2)
	}
}

func run() error {
	started := time.Now()
	// Catch signals from the start: a parent may stop us the moment it reads the ready line.
	stop := make(chan string, 2)
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	var serving atomic.Bool
	ctx, interrupt := context.WithCancel(context.Background())
	defer interrupt()
	halt := func(why string) {
		if !serving.Load() {
			// Still laying out the estate: stop that; run returns and cleans up.
			log.Printf("stopping during startup: %s", why)
			interrupt()
		}
		stop <- why
	}
	go func() { halt((<-signals).String()) }()
	if fi, err := os.Stdin.Stat(); err == nil && fi.Mode()&os.ModeNamedPipe != 0 {
		// A parent that started us with a pipe on stdin stops us by closing it, or by dying.
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			halt("stdin closed")
		}()
	}
	estatePath := flag.String("estate", "", "estate JSON file (its `vcenter` half is served)")
	listen := flag.String("listen", "127.0.0.1:0", "loopback address to listen on (port 0 picks a free one)")
	noTLS := flag.Bool("no-tls", false, "serve plain HTTP instead of HTTPS")
	certDir := flag.String("cert-dir", "", "where to write ca.pem and server.pem (default: a temp dir, removed at exit)")
	trace := flag.Bool("trace", false, "log every SOAP request and response to stderr")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the startup to this file")
	workDirFlag := flag.String("work-dir", "", "directory for the simulated datastores' files, left for the caller to remove (default: a temp dir, removed at exit)")
	flag.Parse()
	if *estatePath == "" {
		return errors.New("--estate FILE is required")
	}
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", flag.Arg(0))
	}
	addr, err := net.ResolveTCPAddr("tcp", *listen)
	if err != nil {
		return fmt.Errorf("--listen %s: %w", *listen, err)
	}
	if addr.IP == nil || !addr.IP.IsLoopback() {
		return fmt.Errorf("--listen %s: only loopback addresses (127.0.0.1) are allowed", *listen)
	}

	est, err := loadEstate(*estatePath)
	if err != nil {
		return err
	}

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer f.Close()
	}

	// vcsim writes a few files per VM; on tmpfs that costs no disk I/O. A caller that may
	// have to kill us hard passes --work-dir inside a directory it cleans up itself.
	workDir := *workDirFlag
	if workDir == "" {
		workDir, err = os.MkdirTemp(scratchDir(), "failback-vcsim-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(workDir)
	} else if err := os.MkdirAll(workDir, 0o700); err != nil {
		return fmt.Errorf("--work-dir %s: %w", workDir, err)
	}

	simulator.Trace = *trace
	model := simulator.VPX()
	model.Datacenter, model.Host, model.Cluster, model.ClusterHost = 0, 0, 0, 0
	model.Datastore, model.Machine, model.Portgroup, model.Pool = 0, 0, 0, 0
	model.Autostart = false
	if err := model.Create(); err != nil {
		return fmt.Errorf("create simulator model: %w", err)
	}
	defer model.Remove()

	client, err := vim25.NewClient(ctx, model.Service)
	if err != nil {
		return err
	}
	// Laying out a large estate allocates heavily and keeps nearly all of it: collect
	// garbage less often until it is done.
	oldGC := debug.SetGCPercent(400)
	inv, err := buildInventory(ctx, client, est, workDir)
	debug.SetGCPercent(oldGC)
	if err != nil {
		return fmt.Errorf("estate %s: %w", *estatePath, err)
	}
	pprof.StopCPUProfile()
	hs := newHarness(inv, est)
	install(hs)

	ln, err := net.ListenTCP("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *listen, err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	hostPort := fmt.Sprintf("127.0.0.1:%d", port)

	svc := model.Service
	svc.Listen = &url.URL{Host: hostPort}
	svc.RegisterSDK(simulator.Map)
	svc.ServeMux.HandleFunc(simulator.Map.Path+"/vimServiceVersions.xml", svc.ServiceVersions)
	svc.ServeMux.HandleFunc("/about", svc.About)
	simulator.Map.SessionManager().ServiceHostName = hostPort

	server := &http.Server{
		Handler:           &front{next: svc.ServeMux},
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          log.New(os.Stderr, "failback-vcsim: http: ", log.Ltime),
	}
	ready := readyLine{
		Datacenter: est.Datacenter,
		Users:      hs.userNames(),
		PID:        os.Getpid(),
	}
	serveErr := make(chan error, 1)
	if *noTLS {
		ready.URL = fmt.Sprintf("http://%s/sdk", hostPort)
		go func() { serveErr <- server.Serve(ln) }()
	} else {
		dir := *certDir
		if dir == "" {
			dir = workDir
		}
		st, err := newServerTLS(dir)
		if err != nil {
			return fmt.Errorf("TLS certificate: %w", err)
		}
		server.TLSConfig = st.config
		ready.URL = fmt.Sprintf("https://%s/sdk", hostPort)
		ready.CAFile = &st.caFile
		ready.ThumbprintSHA256 = &st.thumbprintSHA256
		ready.ThumbprintSHA1 = &st.thumbprintSHA1
		go func() { serveErr <- server.ServeTLS(ln, "", "") }()
	}

	serving.Store(true)
	ready.StartupMS = time.Since(started).Milliseconds()
	line, err := json.Marshal(ready)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(os.Stdout, "%s\n", line); err != nil {
		return err
	}
	log.Printf("serving %s (%d hosts, %d datastores, %d VMs) in %d ms",
		ready.URL, len(est.Hosts), len(est.Datastores), len(est.VMs), ready.StartupMS)

	select {
	case why := <-stop:
		log.Printf("stopping: %s", why)
	case err := <-serveErr:
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve: %w", err)
		}
	}
	// Abruptly, not gracefully: a stopped vCenter drops in-flight calls (long polls
	// included), which is what tests of "server gone" expect to see.
	_ = server.Close()
	return nil
}

// scratchDir is where the simulated datastores' files go: /dev/shm when it is usable and
// TMPDIR is not set, else the usual temp dir.
func scratchDir() string {
	if os.Getenv("TMPDIR") == "" {
		if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
			if f, err := os.CreateTemp("/dev/shm", ".failback-vcsim-probe-"); err == nil {
				name := f.Name()
				_ = f.Close()
				_ = os.Remove(name)
				return "/dev/shm"
			}
		}
	}
	return os.TempDir()
}
