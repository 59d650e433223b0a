// failback-vcsim-anchor is the efficiency anchor for failback's vCenter discovery: the
// same inventory read done the way a careful govmomi user does it (Debian's govmomi
// 0.24.2), with view.Manager + ContainerView.Retrieve — one batched property read per
// object kind — rather than terraform-provider-vsphere's per-VM calls.
//
//	failback-vcsim-anchor -url https://127.0.0.1:PORT/sdk -user U -password P [-ca-file F | -insecure]
//
// It prints one line on stdout, `anchor vms=N round_trips=R wall_s=S`, where R counts
// every HTTP request from RetrieveServiceContent to Logout and S is the wall time of that
// whole session; details go to stderr. The password may also come from VSPHERE_PASSWORD.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"sync/atomic"
	"time"

	"github.com/vmware/govmomi/license"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// countingTransport counts HTTP round trips.
type countingTransport struct {
	next  http.RoundTripper
	count int64
}

func (t *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	atomic.AddInt64(&t.count, 1)
	return t.next.RoundTrip(r)
}

// The properties failback's rules read (vsphere-api-notes.md §3.4).
var (
	vmProps = []string{"name", "config.uuid", "config.instanceUuid", "config.guestId", "config.guestFullName",
		"guest.guestFamily", "guest.toolsRunningStatus", "guest.toolsVersionStatus2", "runtime.powerState",
		"runtime.host", "runtime.connectionState", "snapshot", "config.extraConfig", "config.hardware.device",
		"datastore", "disabledMethod"}
	hostProps = []string{"name", "runtime.connectionState", "runtime.inMaintenanceMode", "summary.config.product",
		"datastore", "parent"}
	dsProps  = []string{"name", "summary", "host", "parent"}
	podProps = []string{"name", "childEntity", "summary", "podStorageDrsEntry"}
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "failback-vcsim-anchor: error: %s\n", err)
		os.Exit(1)
	}
}

func run() error {
	rawURL := flag.String("url", "", "SDK URL, e.g. https://127.0.0.1:8989/sdk")
	user := flag.String("user", "", "user name")
	password := flag.String("password", "", "password (default: $VSPHERE_PASSWORD)")
	caFile := flag.String("ca-file", "", "PEM file of the CA to trust")
	insecure := flag.Bool("insecure", false, "skip certificate verification")
	timeout := flag.Duration("timeout", 10*time.Minute, "give up after this long")
	flag.Parse()
	if *rawURL == "" || *user == "" {
		return fmt.Errorf("-url and -user are required")
	}
	if *password == "" {
		*password = os.Getenv("VSPHERE_PASSWORD")
	}
	u, err := url.Parse(*rawURL)
	if err != nil {
		return fmt.Errorf("-url: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	sc := soap.NewClient(u, *insecure)
	if *caFile != "" {
		if err := sc.SetRootCAs(*caFile); err != nil {
			return fmt.Errorf("-ca-file: %w", err)
		}
	}
	counter := &countingTransport{next: sc.Client.Transport}
	sc.Client.Transport = counter

	start := time.Now()
	c, err := vim25.NewClient(ctx, sc)
	if err != nil {
		return err
	}
	sm := session.NewManager(c)
	if err := sm.Login(ctx, url.UserPassword(*user, *password)); err != nil {
		return fmt.Errorf("login: %w", err)
	}

	m := view.NewManager(c)
	v, err := m.CreateContainerView(ctx, c.ServiceContent.RootFolder,
		[]string{"VirtualMachine", "HostSystem", "Datastore", "StoragePod"}, true)
	if err != nil {
		return err
	}
	var vms []mo.VirtualMachine
	var hosts []mo.HostSystem
	var datastores []mo.Datastore
	var pods []mo.StoragePod
	if err := v.Retrieve(ctx, []string{"VirtualMachine"}, vmProps, &vms); err != nil {
		return fmt.Errorf("retrieve VMs: %w", err)
	}
	if err := v.Retrieve(ctx, []string{"HostSystem"}, hostProps, &hosts); err != nil {
		return fmt.Errorf("retrieve hosts: %w", err)
	}
	if err := v.Retrieve(ctx, []string{"Datastore"}, dsProps, &datastores); err != nil {
		return fmt.Errorf("retrieve datastores: %w", err)
	}
	if err := v.Retrieve(ctx, []string{"StoragePod"}, podProps, &pods); err != nil {
		return fmt.Errorf("retrieve storage pods: %w", err)
	}
	if err := v.Destroy(ctx); err != nil {
		return err
	}

	// Licence editions of all hosts in one call, and the session's privileges on every
	// discovered entity in one call: what failback's plan also reads.
	lm := license.NewManager(c)
	am, err := lm.AssignmentManager(ctx)
	if err != nil {
		return err
	}
	if _, err := am.QueryAssigned(ctx, ""); err != nil {
		return fmt.Errorf("licences: %w", err)
	}
	var entities []types.ManagedObjectReference
	for _, x := range vms {
		entities = append(entities, x.Self)
	}
	for _, x := range datastores {
		entities = append(entities, x.Self)
	}
	us, err := sm.UserSession(ctx)
	if err != nil {
		return err
	}
	if _, err := methods.HasPrivilegeOnEntities(ctx, c, &types.HasPrivilegeOnEntities{
		This:      *c.ServiceContent.AuthorizationManager,
		Entity:    entities,
		SessionId: us.Key,
		PrivId:    []string{"System.Read", "VirtualMachine.Config.AdvancedConfig", "VirtualMachine.State.RemoveSnapshot", "Datastore.Browse"},
	}); err != nil {
		return fmt.Errorf("privileges: %w", err)
	}
	if err := sm.Logout(ctx); err != nil {
		return err
	}
	wall := time.Since(start)

	disks := 0
	for _, x := range vms {
		if x.Config != nil {
			disks += len(object.VirtualDeviceList(x.Config.Hardware.Device).SelectByType((*types.VirtualDisk)(nil)))
		}
	}
	fmt.Fprintf(os.Stderr, "failback-vcsim-anchor: %d VMs (%d disks), %d hosts, %d datastores, %d storage pods\n",
		len(vms), disks, len(hosts), len(datastores), len(pods))
	fmt.Printf("anchor vms=%d round_trips=%d wall_s=%.3f\n", len(vms), atomic.LoadInt64(&counter.count), wall.Seconds())
	return nil
}
