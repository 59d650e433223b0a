// Turns the vcenter half of an estate into govmomi simulator inventory.
//
// Objects are created through govmomi's own object API against the in-process simulator
// (so vcsim's bookkeeping — folders, resource pools, device keys, snapshot trees — stays
// consistent), and what that API cannot express (host versions, connection states, mount
// access modes, datastore types and sizes, SDRS overrides, tools status) is then written
// directly onto the simulator objects before the server starts.
package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// inventory is what the patches need to know about the built world.
type inventory struct {
	datacenter types.ManagedObjectReference
	hostByName map[string]types.ManagedObjectReference
	hostEstate map[types.ManagedObjectReference]*estateHost
	dsByName   map[string]types.ManagedObjectReference
	dsDir      map[string]string
	vmByName   map[string]types.ManagedObjectReference
	// Per VM: task methods that must fail, and how long tasks stay "running".
	failTasks map[types.ManagedObjectReference]map[string]bool
	taskDelay map[types.ManagedObjectReference]int
}

// Keys of a VM's extra_config that steer the harness; they are taken out of the VM's
// extraConfig so the provider never sees them.
const (
	simFailTaskKey  = "failback.sim.failTask"
	simTaskDelayKey = "failback.sim.taskDelayMs"
)

// Task methods whose failure an estate can inject.
var failableTasks = []string{"ReconfigVM_Task", "RemoveAllSnapshots_Task", "PowerOnVM_Task", "PowerOffVM_Task", "CreateSnapshot_Task"}

// Build numbers of the ESXi releases estates use; others get a made-up build.
var esxiBuilds = map[string]string{
	"6.5.0": "5969303",
	"6.7.0": "17700523",
	"7.0.0": "15843807",
	"7.0.2": "17630552",
	"7.0.3": "21424296",
	"8.0.0": "20513097",
	"8.0.1": "21495797",
	"8.0.2": "22380479",
	"8.0.3": "24022510",
}

var vcenterBuilds = map[string]string{
	"6.7.0": "18010531",
	"7.0.3": "21477706",
	"8.0.2": "22385739",
	"8.0.3": "24022515",
}

func buildOf(builds map[string]string, version string) string {
	if b, ok := builds[version]; ok {
		return b
	}
	return "1000000"
}

// buildInventory creates the estate in the (already created, empty) simulator model.
// dataDir holds one directory per datastore for vcsim's VM files.
func buildInventory(ctx context.Context, c *vim25.Client, est *vcenterEstate, dataDir string) (*inventory, error) {
	inv := &inventory{
		hostByName: map[string]types.ManagedObjectReference{},
		hostEstate: map[types.ManagedObjectReference]*estateHost{},
		dsByName:   map[string]types.ManagedObjectReference{},
		dsDir:      map[string]string{},
		vmByName:   map[string]types.ManagedObjectReference{},
		failTasks:  map[types.ManagedObjectReference]map[string]bool{},
		taskDelay:  map[types.ManagedObjectReference]int{},
	}
	setVcenterVersion(est.Version)

	root := object.NewRootFolder(c)
	dc, err := root.CreateDatacenter(ctx, est.Datacenter)
	if err != nil {
		return nil, fmt.Errorf("create datacenter %s: %w", est.Datacenter, err)
	}
	inv.datacenter = dc.Reference()
	folders, err := dc.Folders(ctx)
	if err != nil {
		return nil, err
	}

	if err := buildHosts(ctx, c, est, folders, inv); err != nil {
		return nil, err
	}
	if err := buildDatastores(est, dataDir, inv); err != nil {
		return nil, err
	}
	pods, err := buildPods(ctx, c, est, folders, inv)
	if err != nil {
		return nil, err
	}
	if err := buildVMs(ctx, c, est, folders, inv); err != nil {
		return nil, err
	}
	finishDatastores(est, inv)
	finishPods(est, pods, inv)
	finishHosts(est, inv)
	return inv, nil
}

func setVcenterVersion(version string) {
	si := simulator.Map.Get(vim25.ServiceInstance).(*simulator.ServiceInstance)
	about := &si.Content.About
	about.Version = version
	about.Build = buildOf(vcenterBuilds, version)
	about.FullName = fmt.Sprintf("VMware vCenter Server %s build-%s", version, about.Build)
}

func buildHosts(ctx context.Context, c *vim25.Client, est *vcenterEstate, folders *object.DatacenterFolders, inv *inventory) error {
	clusters := map[string]*object.ClusterComputeResource{}
	for i := range est.Hosts {
		h := &est.Hosts[i]
		spec := types.HostConnectSpec{HostName: h.Name, UserName: "root", Password: "estate"}
		var task *object.Task
		var err error
		if h.Cluster != nil {
			cl, ok := clusters[*h.Cluster]
			if !ok {
				cl, err = folders.HostFolder.CreateCluster(ctx, *h.Cluster, types.ClusterConfigSpecEx{})
				if err != nil {
					return fmt.Errorf("create cluster %s: %w", *h.Cluster, err)
				}
				clusters[*h.Cluster] = cl
			}
			task, err = cl.AddHost(ctx, spec, true, nil, nil)
		} else {
			task, err = folders.HostFolder.AddStandaloneHost(ctx, spec, true, nil, nil)
		}
		if err != nil {
			return fmt.Errorf("add host %s: %w", h.Name, err)
		}
		res, err := task.WaitForResult(ctx, nil)
		if err != nil {
			return fmt.Errorf("add host %s: %w", h.Name, err)
		}
		ref, ok := res.Result.(types.ManagedObjectReference)
		if !ok {
			return fmt.Errorf("add host %s: unexpected result %T", h.Name, res.Result)
		}
		if ref.Type == "ComputeResource" {
			// Standalone hosts come back as their ComputeResource; the host is its only member.
			cr := simulator.Map.Get(ref).(*mo.ComputeResource)
			ref = cr.Host[0]
		}
		inv.hostByName[h.Name] = ref
		inv.hostEstate[ref] = h

		host := simulator.Map.Get(ref).(*simulator.HostSystem)
		// vcsim shares one AboutInfo between all hosts; give each its own.
		product := host.Config.Product
		product.Version = h.Version
		product.Build = buildOf(esxiBuilds, h.Version)
		product.FullName = fmt.Sprintf("VMware ESXi %s build-%s", h.Version, product.Build)
		parts := strings.Split(h.Version, ".")
		if len(parts) >= 2 {
			product.ApiVersion = parts[0] + "." + parts[1]
		}
		host.Config.Product = product
		host.Summary.Config.Product = &host.Config.Product
	}
	return nil
}

// buildDatastores creates every datastore by hand rather than through
// HostDatastoreSystem: vcsim would name them after their temp dir (`/tmp/x@folder-5`)
// and mount them on one host only, where a real vCenter has `datastore-N` and a mount
// per host.
func buildDatastores(est *vcenterEstate, dataDir string, inv *inventory) error {
	dcObj := simulator.Map.Get(inv.datacenter).(*simulator.Datacenter)
	folder := simulator.Map.Get(dcObj.DatastoreFolder).(*simulator.Folder)
	for i := range est.Datastores {
		e := &est.Datastores[i]
		dir := filepath.Join(dataDir, fmt.Sprintf("ds%d", i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("datastore %s: %w", e.Name, err)
		}
		ds := &simulator.Datastore{}
		ds.Name = e.Name
		base := types.DatastoreInfo{Name: e.Name, Url: dir}
		switch e.Type {
		case "NFS", "NFS41":
			ds.Info = &types.NasDatastoreInfo{DatastoreInfo: base, Nas: &types.HostNasVolume{
				HostFileSystemVolume: types.HostFileSystemVolume{Type: e.Type, Name: e.Name},
				RemoteHost:           "nfs.estate.local",
				RemotePath:           "/export/" + e.Name,
			}}
		case "vsan":
			ds.Info = &types.VsanDatastoreInfo{DatastoreInfo: base}
		default:
			ds.Info = &types.VmfsDatastoreInfo{DatastoreInfo: base, Vmfs: &types.HostVmfsVolume{
				HostFileSystemVolume: types.HostFileSystemVolume{Type: "VMFS", Name: e.Name},
				MajorVersion:         6,
				Version:              "6.82",
			}}
		}
		ds.Summary = types.DatastoreSummary{
			Name:            e.Name,
			Url:             "ds:///vmfs/volumes/" + e.Name + "/",
			Type:            e.Type,
			Accessible:      true,
			MaintenanceMode: string(types.DatastoreSummaryMaintenanceModeStateNormal),
		}
		ds.Capability = types.DatastoreCapability{
			DirectoryHierarchySupported:      true,
			PerFileThinProvisioningSupported: true,
			StorageIORMSupported:             types.NewBool(true),
			NativeSnapshotSupported:          types.NewBool(false),
			TopLevelDirectoryCreateSupported: types.NewBool(true),
			SeSparseSupported:                types.NewBool(true),
		}
		setDatastoreSpace(ds, e)
		simulator.Map.PutEntity(folder, ds)
		folder.ChildEntity = append(folder.ChildEntity, ds.Self)
		dcObj.Datastore = append(dcObj.Datastore, ds.Self)
		ds.Summary.Datastore = &ds.Self
		browser := &simulator.HostDatastoreBrowser{}
		browser.Datastore = []types.ManagedObjectReference{ds.Self}
		ds.Browser = simulator.Map.Put(browser).Reference()
		inv.dsByName[e.Name] = ds.Self
		inv.dsDir[e.Name] = dir

		mountPath := "/vmfs/volumes/" + e.Name
		for _, m := range e.Mounts {
			hostRef := inv.hostByName[m.Host]
			ds.Host = append(ds.Host, types.DatastoreHostMount{
				Key: hostRef,
				MountInfo: types.HostMountInfo{
					Path:       mountPath,
					AccessMode: m.AccessMode,
					Mounted:    types.NewBool(true),
					Accessible: types.NewBool(true),
				},
			})
			host := simulator.Map.Get(hostRef).(*simulator.HostSystem)
			host.Datastore = append(host.Datastore, ds.Self)
			if dss, ok := simulator.Map.Get(*host.ConfigManager.DatastoreSystem).(*simulator.HostDatastoreSystem); ok {
				dss.Datastore = append(dss.Datastore, ds.Self)
			}
			if host.Parent != nil {
				switch cr := simulator.Map.Get(*host.Parent).(type) {
				case *simulator.ClusterComputeResource:
					addRefOnce(&cr.Datastore, ds.Self)
				case *mo.ComputeResource:
					addRefOnce(&cr.Datastore, ds.Self)
				}
			}
		}
		ds.Summary.MultipleHostAccess = types.NewBool(len(e.Mounts) > 1)
	}
	return nil
}

func addRefOnce(list *[]types.ManagedObjectReference, ref types.ManagedObjectReference) {
	for _, r := range *list {
		if r == ref {
			return
		}
	}
	*list = append(*list, ref)
}

const gib = int64(1) << 30

func setDatastoreSpace(ds *simulator.Datastore, e *estateDS) {
	capacity := int64(e.CapacityGB) * gib
	free := int64(e.FreeGB) * gib
	ds.Summary.Capacity = capacity
	ds.Summary.FreeSpace = free
	info := ds.Info.GetDatastoreInfo()
	info.FreeSpace = free
	info.MaxFileSize = free
	info.MaxVirtualDiskCapacity = 62 * 1024 * gib
	info.MaxMemoryFileSize = free
	switch i := ds.Info.(type) {
	case *types.VmfsDatastoreInfo:
		i.Vmfs.Capacity = capacity
	case *types.NasDatastoreInfo:
		i.Nas.Capacity = capacity
	}
}

// finishDatastores puts back the estate's sizes: vcsim subtracts every created disk from
// the free space, but the estate states the free space as the user would see it.
func finishDatastores(est *vcenterEstate, inv *inventory) {
	for i := range est.Datastores {
		e := &est.Datastores[i]
		ds := simulator.Map.Get(inv.dsByName[e.Name]).(*simulator.Datastore)
		setDatastoreSpace(ds, e)
	}
}

func buildPods(ctx context.Context, c *vim25.Client, est *vcenterEstate, folders *object.DatacenterFolders, inv *inventory) (map[string]types.ManagedObjectReference, error) {
	pods := map[string]types.ManagedObjectReference{}
	for i := range est.StoragePods {
		p := &est.StoragePods[i]
		pod, err := folders.DatastoreFolder.CreateStoragePod(ctx, p.Name)
		if err != nil {
			return nil, fmt.Errorf("create storage pod %s: %w", p.Name, err)
		}
		var members []types.ManagedObjectReference
		for _, ds := range est.Datastores {
			if ds.StoragePod != nil && *ds.StoragePod == p.Name {
				members = append(members, inv.dsByName[ds.Name])
			}
		}
		if len(members) > 0 {
			task, err := pod.MoveInto(ctx, members)
			if err != nil {
				return nil, fmt.Errorf("move datastores into %s: %w", p.Name, err)
			}
			if err := task.Wait(ctx); err != nil {
				return nil, fmt.Errorf("move datastores into %s: %w", p.Name, err)
			}
		}
		pods[p.Name] = pod.Reference()
	}
	return pods, nil
}

// finishPods writes the SDRS configuration: the pod's settings and one vmConfig entry per
// VM whose sdrs_behavior overrides the pod (real vCenter lists overrides only).
func finishPods(est *vcenterEstate, pods map[string]types.ManagedObjectReference, inv *inventory) {
	dsPod := map[string]string{}
	for _, ds := range est.Datastores {
		if ds.StoragePod != nil {
			dsPod[ds.Name] = *ds.StoragePod
		}
	}
	for i := range est.StoragePods {
		p := &est.StoragePods[i]
		pod := simulator.Map.Get(pods[p.Name]).(*simulator.StoragePod)
		var vmConfig []types.StorageDrsVmConfigInfo
		for j := range est.VMs {
			vm := &est.VMs[j]
			if vm.SdrsBehavior == "default" || !vmInPod(vm, dsPod, p.Name) {
				continue
			}
			ref := inv.vmByName[vm.Name]
			entry := types.StorageDrsVmConfigInfo{Vm: &ref, Enabled: types.NewBool(vm.SdrsBehavior != "disabled")}
			if vm.SdrsBehavior != "disabled" {
				entry.Behavior = vm.SdrsBehavior
			}
			vmConfig = append(vmConfig, entry)
		}
		pod.PodStorageDrsEntry = &types.PodStorageDrsEntry{
			StorageDrsConfig: types.StorageDrsConfigInfo{
				PodConfig: types.StorageDrsPodConfigInfo{
					Enabled:                p.SdrsEnabled,
					IoLoadBalanceEnabled:   false,
					DefaultVmBehavior:      p.DefaultVMBehavior,
					DefaultIntraVmAffinity: types.NewBool(true),
				},
				VmConfig: vmConfig,
			},
		}
		var capacity, free int64
		for _, ref := range pod.ChildEntity {
			if ds, ok := simulator.Map.Get(ref).(*simulator.Datastore); ok {
				capacity += ds.Summary.Capacity
				free += ds.Summary.FreeSpace
			}
		}
		pod.Summary = &types.StoragePodSummary{Name: p.Name, Capacity: capacity, FreeSpace: free}
	}
}

func vmInPod(vm *estateVM, dsPod map[string]string, pod string) bool {
	if dsPod[vm.Datastore] == pod {
		return true
	}
	for _, d := range vm.Disks {
		if d.Datastore != nil && dsPod[*d.Datastore] == pod {
			return true
		}
	}
	return false
}

var scsiDeviceNames = map[string]string{
	"lsilogic":     "lsilogic",
	"lsilogic-sas": "lsilogic-sas",
	"pvscsi":       "pvscsi",
	"buslogic":     "buslogic",
}

func knownGuestID(id string) bool {
	for _, g := range simulator.GuestID {
		if string(g) == id {
			return true
		}
	}
	return false
}

// diskUUID is the estate's disk UUID or a deterministic one in VMware's 6000C29x form,
// so the same estate always shows the same UUIDs.
func diskUUID(vm string, index int) string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s/%d", vm, index)))
	h := fmt.Sprintf("%x", sum[:])
	return fmt.Sprintf("6000C29%s-%s-%s-%s-%s", h[0:1], h[1:5], h[5:9], h[9:13], h[13:25])
}

func buildVMs(ctx context.Context, c *vim25.Client, est *vcenterEstate, folders *object.DatacenterFolders, inv *inventory) error {
	finder := find.NewFinder(c, false)
	finder.SetDatacenter(object.NewDatacenter(c, inv.datacenter))
	pools := map[types.ManagedObjectReference]*object.ResourcePool{}
	for i := range est.VMs {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("interrupted after %d of %d VMs", i, len(est.VMs))
		}
		e := &est.VMs[i]
		hostRef := inv.hostByName[e.Host]
		host := simulator.Map.Get(hostRef).(*simulator.HostSystem)
		pool, ok := pools[hostRef]
		if !ok {
			var poolRef types.ManagedObjectReference
			switch cr := simulator.Map.Get(*host.Parent).(type) {
			case *simulator.ClusterComputeResource:
				poolRef = *cr.ResourcePool
			case *mo.ComputeResource:
				poolRef = *cr.ResourcePool
			default:
				return fmt.Errorf("host %s has no compute resource", e.Host)
			}
			pool = object.NewResourcePool(c, poolRef)
			pools[hostRef] = pool
		}

		var devices object.VirtualDeviceList
		ctrl, err := devices.CreateSCSIController(scsiDeviceNames[e.Scsi])
		if err != nil {
			return fmt.Errorf("VM %s: %w", e.Name, err)
		}
		devices = append(devices, ctrl)
		changes := []types.BaseVirtualDeviceConfigSpec{&types.VirtualDeviceConfigSpec{
			Operation: types.VirtualDeviceConfigSpecOperationAdd,
			Device:    ctrl,
		}}
		for j, d := range e.Disks {
			dsName := e.Datastore
			if d.Datastore != nil {
				dsName = *d.Datastore
			}
			if dsName != e.Datastore {
				// vcsim creates the VM's directory on its home datastore only.
				if err := os.MkdirAll(filepath.Join(inv.dsDir[dsName], e.Name), 0o755); err != nil {
					return fmt.Errorf("VM %s: %w", e.Name, err)
				}
			}
			disk := devices.CreateDisk(ctrl.(types.BaseVirtualController), inv.dsByName[dsName],
				fmt.Sprintf("[%s] %s/%s_%d.vmdk", dsName, e.Name, e.Name, j))
			disk.CapacityInKB = int64(d.SizeGB) * 1024 * 1024
			disk.CapacityInBytes = int64(d.SizeGB) * gib
			backing := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo)
			if d.UUID != nil {
				backing.Uuid = *d.UUID
			} else {
				backing.Uuid = diskUUID(e.Name, j)
			}
			devices = append(devices, disk)
			changes = append(changes, &types.VirtualDeviceConfigSpec{
				Operation:     types.VirtualDeviceConfigSpecOperationAdd,
				FileOperation: types.VirtualDeviceConfigSpecFileOperationCreate,
				Device:        disk,
			})
		}

		var extra []types.BaseOptionValue
		keys := make([]string, 0, len(e.ExtraConfig))
		for k := range e.ExtraConfig {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			v := e.ExtraConfig[k]
			switch k {
			case simFailTaskKey, simTaskDelayKey:
				continue
			}
			extra = append(extra, &types.OptionValue{Key: k, Value: v})
		}

		guest := e.GuestID
		if !knownGuestID(guest) {
			guest = "otherGuest64"
		}
		spec := types.VirtualMachineConfigSpec{
			Name:         e.Name,
			GuestId:      guest,
			NumCPUs:      2,
			MemoryMB:     4096,
			Files:        &types.VirtualMachineFileInfo{VmPathName: fmt.Sprintf("[%s]", e.Datastore)},
			DeviceChange: changes,
			ExtraConfig:  extra,
		}
		if e.BiosUUID != nil {
			spec.Uuid = *e.BiosUUID
		}
		task, err := folders.VmFolder.CreateVM(ctx, spec, pool, object.NewHostSystem(c, hostRef))
		if err != nil {
			return fmt.Errorf("create VM %s: %w", e.Name, err)
		}
		res, err := task.WaitForResult(ctx, nil)
		if err != nil {
			return fmt.Errorf("create VM %s: %w", e.Name, err)
		}
		ref := res.Result.(types.ManagedObjectReference)
		inv.vmByName[e.Name] = ref
		vm := object.NewVirtualMachine(c, ref)

		for _, name := range e.Snapshots {
			t, err := vm.CreateSnapshot(ctx, name, "", false, false)
			if err == nil {
				err = t.Wait(ctx)
			}
			if err != nil {
				return fmt.Errorf("VM %s: snapshot %s: %w", e.Name, name, err)
			}
		}
		if e.PowerState != "poweredOff" {
			t, err := vm.PowerOn(ctx)
			if err == nil {
				err = t.Wait(ctx)
			}
			if err == nil && e.PowerState == "suspended" {
				if t, err = vm.Suspend(ctx); err == nil {
					err = t.Wait(ctx)
				}
			}
			if err != nil {
				return fmt.Errorf("VM %s: power state %s: %w", e.Name, e.PowerState, err)
			}
		}

		obj := simulator.Map.Get(ref).(*simulator.VirtualMachine)
		// vcsim marks its VMs with govcsim=TRUE; a real vCenter has no such key.
		kept := obj.Config.ExtraConfig[:0]
		for _, o := range obj.Config.ExtraConfig {
			if o.GetOptionValue().Key != "govcsim" {
				kept = append(kept, o)
			}
		}
		obj.Config.ExtraConfig = kept
		if guest != e.GuestID {
			obj.Config.GuestId = e.GuestID
			obj.Config.GuestFullName = e.GuestID
			obj.Summary.Config.GuestId = e.GuestID
			obj.Summary.Config.GuestFullName = e.GuestID
			obj.Summary.Guest.GuestId = e.GuestID
			obj.Guest.GuestId = e.GuestID
		}
		obj.Guest.ToolsRunningStatus = e.ToolsRunningStatus
		obj.Guest.ToolsVersionStatus2 = string(types.VirtualMachineToolsVersionStatusGuestToolsCurrent)
		obj.Guest.ToolsVersionStatus = obj.Guest.ToolsVersionStatus2
		obj.Guest.ToolsVersion = "12352"
		if e.ToolsRunningStatus == "guestToolsNotRunning" {
			obj.Guest.ToolsStatus = types.VirtualMachineToolsStatusToolsNotRunning
		} else {
			obj.Guest.ToolsStatus = types.VirtualMachineToolsStatusToolsOk
		}
		obj.Summary.Guest.ToolsRunningStatus = obj.Guest.ToolsRunningStatus
		obj.Summary.Guest.ToolsStatus = obj.Guest.ToolsStatus
		obj.Summary.Guest.ToolsVersionStatus2 = obj.Guest.ToolsVersionStatus2

		if methods, ok := e.ExtraConfig[simFailTaskKey]; ok {
			set := map[string]bool{}
			for _, m := range strings.Split(methods, ",") {
				set[strings.TrimSpace(m)] = true
			}
			inv.failTasks[ref] = set
		}
		if d, ok := e.ExtraConfig[simTaskDelayKey]; ok {
			var ms int
			_, _ = fmt.Sscanf(d, "%d", &ms)
			inv.taskDelay[ref] = ms
		}
	}
	return nil
}

// finishHosts applies connection states last: vcsim cannot create VMs on a host that is
// not connected, and a real vCenter shows the VMs of such a host as disconnected too.
func finishHosts(est *vcenterEstate, inv *inventory) {
	for i := range est.Hosts {
		h := &est.Hosts[i]
		if h.ConnectionState == "connected" {
			continue
		}
		host := simulator.Map.Get(inv.hostByName[h.Name]).(*simulator.HostSystem)
		host.Runtime.ConnectionState = types.HostSystemConnectionState(h.ConnectionState)
		for _, ref := range host.Vm {
			if vm, ok := simulator.Map.Get(ref).(*simulator.VirtualMachine); ok {
				vm.Runtime.ConnectionState = types.VirtualMachineConnectionState(h.ConnectionState)
				vm.Summary.Runtime.ConnectionState = vm.Runtime.ConnectionState
			}
		}
	}
}

// hostOf tells whether an entity is a host known to the estate (for licence queries).
func (inv *inventory) hostOf(ref types.ManagedObjectReference) (*estateHost, bool) {
	h, ok := inv.hostEstate[ref]
	return h, ok
}
