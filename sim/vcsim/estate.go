// The vcenter half of an estate file (ESTATE.md), read strictly.
//
// The Rust model in sim/src/estate.rs is the contract; this file mirrors it field for field
// with the same defaults. Unknown fields and ill-typed values are rejected with their JSON
// path (`vcenter.hosts[0].colour`), like the Rust model does, so an estate that one
// simulator accepts the other does not silently read differently. The `vault` half is the
// ASR simulator's business and is ignored here.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"
)

type estateFile struct {
	Vcenter *vcenterEstate  `json:"vcenter"`
	Vault   json.RawMessage `json:"vault"`
}

type vcenterEstate struct {
	Datacenter  string       `json:"datacenter"`
	Version     string       `json:"version"`
	Users       []estateUser `json:"users"`
	Hosts       []estateHost `json:"hosts"`
	StoragePods []estatePod  `json:"storage_pods"`
	Datastores  []estateDS   `json:"datastores"`
	VMs         []estateVM   `json:"vms"`
}

type estateUser struct {
	Name       string   `json:"name"`
	Password   string   `json:"password"`
	Privileges []string `json:"privileges"`
	HideTypes  []string `json:"hide_types"`
	// VMPrivileges are permissions set on single VMs: on each named VM the user holds
	// exactly these privileges, whatever `privileges` grants from the root (in vSphere
	// a permission on an object overrides the one it would inherit).
	VMPrivileges map[string][]string `json:"vm_privileges"`
}

type estateHost struct {
	Name            string  `json:"name"`
	Cluster         *string `json:"cluster"`
	Version         string  `json:"version"`
	LicenseEdition  string  `json:"license_edition"`
	ConnectionState string  `json:"connection_state"`
}

type estatePod struct {
	Name              string `json:"name"`
	SdrsEnabled       bool   `json:"sdrs_enabled"`
	DefaultVMBehavior string `json:"default_vm_behavior"`
}

type estateDS struct {
	Name       string        `json:"name"`
	Type       string        `json:"type"`
	CapacityGB uint64        `json:"capacity_gb"`
	FreeGB     uint64        `json:"free_gb"`
	StoragePod *string       `json:"storage_pod"`
	Mounts     []estateMount `json:"mounts"`
}

type estateMount struct {
	Host       string `json:"host"`
	AccessMode string `json:"access_mode"`
}

type estateVM struct {
	Name               string            `json:"name"`
	GuestID            string            `json:"guest_id"`
	Host               string            `json:"host"`
	Datastore          string            `json:"datastore"`
	PowerState         string            `json:"power_state"`
	Scsi               string            `json:"scsi"`
	Disks              []estateDisk      `json:"disks"`
	BiosUUID           *string           `json:"bios_uuid"`
	ExtraConfig        map[string]string `json:"extra_config"`
	Snapshots          []string          `json:"snapshots"`
	ToolsRunningStatus string            `json:"tools_running_status"`
	SdrsBehavior       string            `json:"sdrs_behavior"`
}

type estateDisk struct {
	SizeGB    uint64  `json:"size_gb"`
	Datastore *string `json:"datastore"`
	UUID      *string `json:"uuid"`
}

// estateError is a problem in the estate file, at a JSON path.
type estateError struct {
	file, path, msg string
}

func (e *estateError) Error() string {
	if e.path == "" {
		return fmt.Sprintf("%s: %s", e.file, e.msg)
	}
	return fmt.Sprintf("%s: at `%s`: %s", e.file, e.path, e.msg)
}

// loadEstate reads, checks and defaults the vcenter half of an estate file.
func loadEstate(file string) (*vcenterEstate, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("cannot read estate %s: %w", file, err)
	}
	var generic interface{}
	if err := json.Unmarshal(data, &generic); err != nil {
		return nil, &estateError{file, "", "not valid JSON: " + err.Error()}
	}
	if path, msg := checkShape(reflect.TypeOf(estateFile{}), generic, "", true); msg != "" {
		return nil, &estateError{file, path, msg}
	}
	var doc estateFile
	if err := json.Unmarshal(data, &doc); err != nil {
		// checkShape has already matched every value against its field's type.
		return nil, &estateError{file, "", err.Error()}
	}
	if doc.Vcenter == nil {
		return nil, &estateError{file, "vcenter", "missing field `vcenter`"}
	}
	v := doc.Vcenter
	if path, msg := v.defaultAndValidate(); msg != "" {
		return nil, &estateError{file, path, msg}
	}
	return v, nil
}

// checkShape walks a decoded JSON value against the Go type it will be read into and
// reports the first unknown field or ill-typed value with its path. Only `vcenter` is
// walked below the top level: the vault half belongs to the ASR simulator.
func checkShape(t reflect.Type, v interface{}, path string, top bool) (string, string) {
	if v == nil {
		return "", ""
	}
	if t.Kind() == reflect.Ptr {
		t = t.Elem()
	}
	if t == reflect.TypeOf(json.RawMessage{}) {
		return "", ""
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]interface{})
		if !ok {
			return path, "invalid type: " + jsonKind(v) + ", expected a JSON object"
		}
		fields := map[string]reflect.StructField{}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name := strings.Split(f.Tag.Get("json"), ",")[0]
			fields[name] = f
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			f, ok := fields[k]
			sub := joinPath(path, k)
			if !ok {
				known := make([]string, 0, len(fields))
				for name := range fields {
					known = append(known, "`"+name+"`")
				}
				sort.Strings(known)
				return sub, fmt.Sprintf("unknown field `%s`, expected one of %s", k, strings.Join(known, ", "))
			}
			if p, m := checkShape(f.Type, obj[k], sub, false); m != "" {
				return p, m
			}
		}
	case reflect.Slice:
		arr, ok := v.([]interface{})
		if !ok {
			return path, "invalid type: " + jsonKind(v) + ", expected a JSON array"
		}
		for i, item := range arr {
			if p, m := checkShape(t.Elem(), item, fmt.Sprintf("%s[%d]", path, i), false); m != "" {
				return p, m
			}
		}
	case reflect.Map:
		obj, ok := v.(map[string]interface{})
		if !ok {
			return path, "invalid type: " + jsonKind(v) + ", expected a JSON object"
		}
		for k, item := range obj {
			if p, m := checkShape(t.Elem(), item, joinPath(path, k), false); m != "" {
				return p, m
			}
		}
	case reflect.String:
		if _, ok := v.(string); !ok {
			return path, "invalid type: " + jsonKind(v) + ", expected a string"
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			return path, "invalid type: " + jsonKind(v) + ", expected a boolean"
		}
	case reflect.Uint64:
		n, ok := v.(float64)
		if !ok || n < 0 || n != float64(uint64(n)) {
			return path, "invalid type: " + jsonKind(v) + ", expected a non-negative integer"
		}
	}
	return "", ""
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func jsonKind(v interface{}) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("string %q", x)
	case float64:
		return fmt.Sprintf("number %v", x)
	case bool:
		return fmt.Sprintf("boolean %v", x)
	case []interface{}:
		return "array"
	case map[string]interface{}:
		return "object"
	}
	return "null"
}

func oneOf(path, value string, allowed ...string) (string, string) {
	for _, a := range allowed {
		if value == a {
			return "", ""
		}
	}
	return path, fmt.Sprintf("unknown variant `%s`, expected one of `%s`", value, strings.Join(allowed, "`, `"))
}

// defaultAndValidate fills the defaults of sim/src/estate.rs and checks enumerations and
// cross references (a VM's host, a mount's host, a datastore's pod, ...).
func (v *vcenterEstate) defaultAndValidate() (string, string) {
	if v.Datacenter == "" {
		return "vcenter.datacenter", "missing or empty field `datacenter`"
	}
	if v.Version == "" {
		v.Version = "7.0.3"
	}
	users := map[string]bool{}
	for i := range v.Users {
		u := &v.Users[i]
		p := fmt.Sprintf("vcenter.users[%d]", i)
		if u.Name == "" {
			return p + ".name", "missing or empty field `name`"
		}
		if users[u.Name] {
			return p + ".name", fmt.Sprintf("duplicate user `%s`", u.Name)
		}
		users[u.Name] = true
		// Any managed object type name may be hidden (the Rust model takes free strings);
		// an empty one is surely a mistake.
		for j, t := range u.HideTypes {
			if t == "" {
				return fmt.Sprintf("%s.hide_types[%d]", p, j), "empty type name"
			}
		}
	}
	hosts := map[string]bool{}
	for i := range v.Hosts {
		h := &v.Hosts[i]
		p := fmt.Sprintf("vcenter.hosts[%d]", i)
		if h.Name == "" {
			return p + ".name", "missing or empty field `name`"
		}
		if hosts[h.Name] {
			return p + ".name", fmt.Sprintf("duplicate host `%s`", h.Name)
		}
		hosts[h.Name] = true
		if h.Version == "" {
			h.Version = "7.0.3"
		}
		if h.LicenseEdition == "" {
			h.LicenseEdition = "esx.enterprisePlus.cpuPackage"
		}
		if h.ConnectionState == "" {
			h.ConnectionState = "connected"
		}
		if path, msg := oneOf(p+".connection_state", h.ConnectionState, "connected", "disconnected", "notResponding"); msg != "" {
			return path, msg
		}
	}
	pods := map[string]bool{}
	for i := range v.StoragePods {
		sp := &v.StoragePods[i]
		p := fmt.Sprintf("vcenter.storage_pods[%d]", i)
		if sp.Name == "" {
			return p + ".name", "missing or empty field `name`"
		}
		if pods[sp.Name] {
			return p + ".name", fmt.Sprintf("duplicate storage pod `%s`", sp.Name)
		}
		pods[sp.Name] = true
		if sp.DefaultVMBehavior == "" {
			sp.DefaultVMBehavior = "automated"
		}
		if path, msg := oneOf(p+".default_vm_behavior", sp.DefaultVMBehavior, "automated", "manual"); msg != "" {
			return path, msg
		}
	}
	// mounted[datastore][host]
	mounted := map[string]map[string]bool{}
	for i := range v.Datastores {
		ds := &v.Datastores[i]
		p := fmt.Sprintf("vcenter.datastores[%d]", i)
		if ds.Name == "" {
			return p + ".name", "missing or empty field `name`"
		}
		if mounted[ds.Name] != nil {
			return p + ".name", fmt.Sprintf("duplicate datastore `%s`", ds.Name)
		}
		mounted[ds.Name] = map[string]bool{}
		if path, msg := oneOf(p+".type", ds.Type, "VMFS", "NFS", "NFS41", "vsan"); msg != "" {
			return path, msg
		}
		if ds.FreeGB > ds.CapacityGB {
			return p + ".free_gb", fmt.Sprintf("free_gb %d is larger than capacity_gb %d", ds.FreeGB, ds.CapacityGB)
		}
		if ds.StoragePod != nil && !pods[*ds.StoragePod] {
			return p + ".storage_pod", fmt.Sprintf("no storage pod named `%s` in vcenter.storage_pods", *ds.StoragePod)
		}
		if len(v.Hosts) == 0 {
			return p, "a datastore needs at least one host in vcenter.hosts to be created on"
		}
		for j := range ds.Mounts {
			m := &ds.Mounts[j]
			mp := fmt.Sprintf("%s.mounts[%d]", p, j)
			if !hosts[m.Host] {
				return mp + ".host", fmt.Sprintf("no host named `%s` in vcenter.hosts", m.Host)
			}
			if mounted[ds.Name][m.Host] {
				return mp + ".host", fmt.Sprintf("host `%s` is mounted twice", m.Host)
			}
			mounted[ds.Name][m.Host] = true
			if m.AccessMode == "" {
				m.AccessMode = "readWrite"
			}
			if path, msg := oneOf(mp+".access_mode", m.AccessMode, "readWrite", "readOnly"); msg != "" {
				return path, msg
			}
		}
	}
	vms := map[string]bool{}
	for i := range v.VMs {
		vm := &v.VMs[i]
		p := fmt.Sprintf("vcenter.vms[%d]", i)
		if vm.Name == "" {
			return p + ".name", "missing or empty field `name`"
		}
		if vms[vm.Name] {
			return p + ".name", fmt.Sprintf("duplicate VM `%s`", vm.Name)
		}
		vms[vm.Name] = true
		if vm.GuestID == "" {
			return p + ".guest_id", "missing or empty field `guest_id`"
		}
		if !hosts[vm.Host] {
			return p + ".host", fmt.Sprintf("no host named `%s` in vcenter.hosts", vm.Host)
		}
		checkDS := func(path, name string) (string, string) {
			m, ok := mounted[name]
			if !ok {
				return path, fmt.Sprintf("no datastore named `%s` in vcenter.datastores", name)
			}
			if !m[vm.Host] {
				return path, fmt.Sprintf("datastore `%s` is not mounted on the VM's host `%s` (add it to the datastore's mounts)", name, vm.Host)
			}
			return "", ""
		}
		if path, msg := checkDS(p+".datastore", vm.Datastore); msg != "" {
			return path, msg
		}
		for j, d := range vm.Disks {
			if d.Datastore != nil {
				if path, msg := checkDS(fmt.Sprintf("%s.disks[%d].datastore", p, j), *d.Datastore); msg != "" {
					return path, msg
				}
			}
			if d.SizeGB == 0 {
				return fmt.Sprintf("%s.disks[%d].size_gb", p, j), "a disk needs a size_gb above 0"
			}
		}
		if vm.PowerState == "" {
			vm.PowerState = "poweredOff"
		}
		if path, msg := oneOf(p+".power_state", vm.PowerState, "poweredOff", "poweredOn", "suspended"); msg != "" {
			return path, msg
		}
		if vm.Scsi == "" {
			vm.Scsi = "lsilogic"
		}
		if path, msg := oneOf(p+".scsi", vm.Scsi, "lsilogic", "lsilogic-sas", "pvscsi", "buslogic"); msg != "" {
			return path, msg
		}
		if vm.ToolsRunningStatus == "" {
			vm.ToolsRunningStatus = "guestToolsRunning"
		}
		if path, msg := oneOf(p+".tools_running_status", vm.ToolsRunningStatus, "guestToolsRunning", "guestToolsNotRunning", "guestToolsExecutingScripts"); msg != "" {
			return path, msg
		}
		if vm.SdrsBehavior == "" {
			vm.SdrsBehavior = "default"
		}
		if path, msg := oneOf(p+".sdrs_behavior", vm.SdrsBehavior, "default", "automated", "manual", "disabled"); msg != "" {
			return path, msg
		}
		for k, val := range vm.ExtraConfig {
			if k == simFailTaskKey {
				for _, method := range strings.Split(val, ",") {
					if path, msg := oneOf(p+".extra_config."+k, strings.TrimSpace(method), failableTasks...); msg != "" {
						return path, msg
					}
				}
			}
			if k == simTaskDelayKey {
				var ms uint
				if _, err := fmt.Sscanf(val, "%d", &ms); err != nil || ms > 60000 {
					return p + ".extra_config." + k, "expected a number of milliseconds between 0 and 60000"
				}
			}
		}
	}
	for i := range v.Users {
		for name := range v.Users[i].VMPrivileges {
			if !vms[name] {
				return fmt.Sprintf("vcenter.users[%d].vm_privileges.%s", i, name), fmt.Sprintf("no VM named `%s` in vcenter.vms", name)
			}
		}
	}
	return "", ""
}
