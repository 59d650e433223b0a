// Patches for the places where govmomi 0.24.2's simulator does not behave like a real
// vCenter (vsphere-api-notes.md §4), so the provider is tested against what it will meet.
//
// vcsim dispatches a SOAP call by reflection on whatever object the registry holds for
// the `_this` reference, so a wrapper type that embeds the simulator type *by value* (the
// pointer form crashes vcsim's SearchIndex) and defines a method of the same name replaces
// that method. VirtualMachine objects are never wrapped: vcsim type-asserts them
// internally; their fixes go through a registry handler or the HTTP front (front.go).
package main

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/google/uuid"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// harness is the state the patches share. vcsim itself is process-global, so is this.
type harness struct {
	inv   *inventory
	users map[string]*estateUser
	admin bool // the estate has no users: one administrator with every privilege
	// roles maps each estate user to the custom role holding exactly its privileges.
	roles map[string]int32

	mu sync.Mutex
	// sessions maps a session key (the vmware_soap_session cookie) to its user.
	sessions map[string]string
	// pages holds the rest of a paged RetrievePropertiesEx, by session key and token.
	pages map[string]*pendingPages
}

type pendingPages struct {
	session string
	max     int
	objects []types.ObjectContent
}

var h *harness

// firstEstateRole is the id of the first per-user role; vCenter numbers custom roles
// from 1 up, system roles are negative.
const firstEstateRole = int32(1001)

const defaultAdmin = "administrator@vsphere.local"
const defaultAdminPassword = "VMware1!"

func newHarness(inv *inventory, est *vcenterEstate) *harness {
	hs := &harness{
		inv:      inv,
		users:    map[string]*estateUser{},
		sessions: map[string]string{},
		pages:    map[string]*pendingPages{},
	}
	hs.roles = map[string]int32{}
	for i := range est.Users {
		hs.users[est.Users[i].Name] = &est.Users[i]
		hs.roles[est.Users[i].Name] = firstEstateRole + int32(i)
	}
	if len(est.Users) == 0 {
		hs.admin = true
	}
	return hs
}

// userNames lists who may log in, for the ready line.
func (hs *harness) userNames() []string {
	if hs.admin {
		return []string{defaultAdmin}
	}
	names := make([]string, 0, len(hs.users))
	for n := range hs.users {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (hs *harness) checkPassword(user, password string) bool {
	if hs.admin {
		return user == defaultAdmin && password == defaultAdminPassword
	}
	u, ok := hs.users[user]
	return ok && u.Password == password
}

// hidden tells whether objects of type kind are invisible to the user.
func (hs *harness) hidden(user, kind string) bool {
	u, ok := hs.users[user]
	if !ok {
		return false
	}
	for _, t := range u.HideTypes {
		if t == kind {
			return true
		}
	}
	return false
}

func (hs *harness) granted(user string, entity types.ManagedObjectReference, priv string) bool {
	if hs.admin && user == defaultAdmin {
		return true
	}
	for _, p := range hs.privilegesOn(user, entity) {
		if p == priv {
			return true
		}
	}
	return false
}

// privilegesOn is what an estate user holds on one object: the permission set on the
// VM itself when the estate gives one, else the user's privileges from the root.
func (hs *harness) privilegesOn(user string, entity types.ManagedObjectReference) []string {
	u, ok := hs.users[user]
	if !ok || hs.hidden(user, entity.Type) {
		return nil
	}
	if entity.Type == "VirtualMachine" && len(u.VMPrivileges) > 0 {
		if vm, ok := simulator.Map.Get(entity).(*simulator.VirtualMachine); ok {
			if privileges, ok := u.VMPrivileges[vm.Name]; ok {
				return privileges
			}
		}
	}
	return u.Privileges
}

func (hs *harness) userOfSession(ctx *simulator.Context, sessionID string) string {
	if sessionID != "" {
		hs.mu.Lock()
		user, ok := hs.sessions[sessionID]
		hs.mu.Unlock()
		if ok {
			return user
		}
		if ctx.Session == nil || ctx.Session.Key != sessionID {
			return ""
		}
	}
	if ctx.Session == nil {
		return ""
	}
	return ctx.Session.UserName
}

func install(hs *harness) {
	h = hs
	content := simulator.Map.Get(vim25.ServiceInstance).(*simulator.ServiceInstance).Content

	auth := simulator.Map.Get(*content.AuthorizationManager).(*simulator.AuthorizationManager)
	wrapped := &authorizationManager{*auth}
	for name, id := range hs.roles {
		wrapped.RoleList = append(wrapped.RoleList, types.AuthorizationRole{
			RoleId:    id,
			Name:      "failback-estate-" + name,
			Info:      &types.Description{Label: "Estate role of " + name, Summary: "The privileges the estate gives " + name},
			Privilege: hs.users[name].Privileges,
		})
	}
	simulator.Map.Put(wrapped)

	lm := simulator.Map.Get(*content.LicenseManager).(*simulator.LicenseManager)
	if lm.LicenseAssignmentManager != nil {
		lam := simulator.Map.Get(*lm.LicenseAssignmentManager).(*simulator.LicenseAssignmentManager)
		simulator.Map.Put(&licenseAssignmentManager{*lam})
	}

	vm := simulator.Map.Get(*content.ViewManager).(*simulator.ViewManager)
	simulator.Map.Put(&viewManager{*vm})

	pc := &pagingCollector{}
	pc.Self = content.PropertyCollector
	simulator.Map.Put(pc)

	simulator.Map.AddHandler(&extraConfigFix{Self: types.ManagedObjectReference{Type: "FailbackHarness", Value: "extraconfig"}})
}

// authorizationManager answers privilege questions from the estate's users.
type authorizationManager struct {
	simulator.AuthorizationManager
}

func (m *authorizationManager) entityPrivileges(user string, entities []types.ManagedObjectReference, privs []string) []types.EntityPrivilege {
	var out []types.EntityPrivilege
	for _, e := range entities {
		p := types.EntityPrivilege{Entity: e}
		for _, id := range privs {
			p.PrivAvailability = append(p.PrivAvailability, types.PrivilegeAvailability{
				PrivId:    id,
				IsGranted: h.granted(user, e, id),
			})
		}
		out = append(out, p)
	}
	return out
}

func (m *authorizationManager) HasPrivilegeOnEntities(ctx *simulator.Context, req *types.HasPrivilegeOnEntities) soap.HasFault {
	user := h.userOfSession(ctx, req.SessionId)
	if user == "" {
		return &methods.HasPrivilegeOnEntitiesBody{Fault_: simulator.Fault("The session ID is not valid", &types.InvalidArgument{InvalidProperty: "sessionId"})}
	}
	return &methods.HasPrivilegeOnEntitiesBody{Res: &types.HasPrivilegeOnEntitiesResponse{
		Returnval: m.entityPrivileges(user, req.Entity, req.PrivId),
	}}
}

func (m *authorizationManager) HasPrivilegeOnEntity(ctx *simulator.Context, req *types.HasPrivilegeOnEntity) soap.HasFault {
	user := h.userOfSession(ctx, req.SessionId)
	if user == "" {
		return &methods.HasPrivilegeOnEntityBody{Fault_: simulator.Fault("The session ID is not valid", &types.InvalidArgument{InvalidProperty: "sessionId"})}
	}
	res := make([]bool, len(req.PrivId))
	for i, id := range req.PrivId {
		res[i] = h.granted(user, req.Entity, id)
	}
	return &methods.HasPrivilegeOnEntityBody{Res: &types.HasPrivilegeOnEntityResponse{Returnval: res}}
}

func (m *authorizationManager) HasUserPrivilegeOnEntities(req *types.HasUserPrivilegeOnEntities) soap.HasFault {
	return &methods.HasUserPrivilegeOnEntitiesBody{Res: &types.HasUserPrivilegeOnEntitiesResponse{
		Returnval: m.entityPrivileges(req.UserName, req.Entities, req.PrivId),
	}}
}

func (m *authorizationManager) FetchUserPrivilegeOnEntities(req *types.FetchUserPrivilegeOnEntities) soap.HasFault {
	var out []types.UserPrivilegeResult
	for _, e := range req.Entities {
		r := types.UserPrivilegeResult{Entity: e}
		switch {
		case h.admin && req.UserName == defaultAdmin:
			r.Privileges = append(r.Privileges, adminPrivileges(m)...)
		default:
			r.Privileges = append(r.Privileges, h.privilegesOn(req.UserName, e)...)
		}
		out = append(out, r)
	}
	return &methods.FetchUserPrivilegeOnEntitiesBody{Res: &types.FetchUserPrivilegeOnEntitiesResponse{Returnval: out}}
}

func adminPrivileges(m *authorizationManager) []string {
	for _, role := range m.RoleList {
		if role.Name == "Admin" {
			return role.Privilege
		}
	}
	return nil
}

// licenseAssignmentManager reports each host's licence edition from the estate (vcsim
// reports "eval" for everything).
type licenseAssignmentManager struct {
	simulator.LicenseAssignmentManager
}

var editionNames = map[string]string{
	"esx.enterprisePlus.cpuPackage": "VMware vSphere 7 Enterprise Plus",
	"esx.enterprise.cpuPackage":     "VMware vSphere 7 Enterprise",
	"esx.standard.cpuPackage":       "VMware vSphere 7 Standard",
	"esx.essentialsPlus.cpuPackage": "VMware vSphere 7 Essentials Plus",
	"esx.essentials.cpuPackage":     "VMware vSphere 7 Essentials",
	"esx.vsphere.essentials":        "VMware vSphere Essentials",
	"esx.hypervisor.cpuPackage":     "VMware vSphere 7 Hypervisor",
	"esxBasic":                      "VMware vSphere Hypervisor",
	"eval":                          "Evaluation Mode",
	"vc.standard.instance":          "VMware vCenter Server 7 Standard",
}

func licenceInfo(edition, seed string) types.LicenseManagerLicenseInfo {
	name, ok := editionNames[edition]
	if !ok {
		name = edition
	}
	key := "00000-00000-00000-00000-00000"
	if edition != "eval" {
		sum := strings.ToUpper(strings.ReplaceAll(uuid.NewSHA1(uuid.NameSpaceOID, []byte(edition+seed)).String(), "-", ""))
		key = fmt.Sprintf("%s-%s-%s-%s-%s", sum[0:5], sum[5:10], sum[10:15], sum[15:20], sum[20:25])
	}
	unit := "cpuPackage"
	if strings.HasSuffix(edition, ".instance") {
		unit = "server"
	}
	return types.LicenseManagerLicenseInfo{
		LicenseKey: key,
		EditionKey: edition,
		Name:       name,
		Total:      0,
		CostUnit:   unit,
	}
}

func (m *licenseAssignmentManager) QueryAssignedLicenses(req *types.QueryAssignedLicenses) soap.HasFault {
	content := simulator.Map.Get(vim25.ServiceInstance).(*simulator.ServiceInstance).Content
	vcUUID := content.About.InstanceUuid
	var out []types.LicenseAssignmentManagerLicenseAssignment
	addHost := func(ref types.ManagedObjectReference, est *estateHost) {
		out = append(out, types.LicenseAssignmentManagerLicenseAssignment{
			EntityId:          ref.Value,
			Scope:             vcUUID,
			EntityDisplayName: est.Name,
			AssignedLicense:   licenceInfo(est.LicenseEdition, est.Name),
		})
	}
	addVC := func() {
		out = append(out, types.LicenseAssignmentManagerLicenseAssignment{
			EntityId:          vcUUID,
			EntityDisplayName: content.About.Name,
			AssignedLicense:   licenceInfo("vc.standard.instance", vcUUID),
		})
	}
	switch req.EntityId {
	case "":
		addVC()
		refs := make([]types.ManagedObjectReference, 0, len(h.inv.hostEstate))
		for ref := range h.inv.hostEstate {
			refs = append(refs, ref)
		}
		sort.Slice(refs, func(i, j int) bool { return refs[i].Value < refs[j].Value })
		for _, ref := range refs {
			addHost(ref, h.inv.hostEstate[ref])
		}
	case vcUUID:
		addVC()
	default:
		ref := types.ManagedObjectReference{Type: "HostSystem", Value: req.EntityId}
		if est, ok := h.inv.hostOf(ref); ok {
			addHost(ref, est)
		}
	}
	return &methods.QueryAssignedLicensesBody{Res: &types.QueryAssignedLicensesResponse{Returnval: out}}
}

// viewManager makes recursive container views include the datastores inside storage pods
// (vcsim < 0.31 skips them) and drops the types the calling user may not see.
type viewManager struct {
	simulator.ViewManager
}

func (m *viewManager) CreateContainerView(ctx *simulator.Context, req *types.CreateContainerView) soap.HasFault {
	res := m.ViewManager.CreateContainerView(ctx, req)
	body, ok := res.(*methods.CreateContainerViewBody)
	if !ok || body.Res == nil || ctx.Session == nil {
		return res
	}
	cv, ok := ctx.Session.Get(body.Res.Returnval).(*simulator.ContainerView)
	if !ok {
		return res
	}
	if req.Recursive && wantsType(req.Type, "Datastore") {
		seen := map[types.ManagedObjectReference]bool{}
		for _, ref := range cv.View {
			seen[ref] = true
		}
		for _, e := range simulator.Map.All("StoragePod") {
			pod, ok := e.(*simulator.StoragePod)
			if !ok || !inside(pod.Self, req.Container) {
				continue
			}
			for _, child := range pod.ChildEntity {
				if child.Type == "Datastore" && !seen[child] {
					seen[child] = true
					cv.View = append(cv.View, child)
				}
			}
		}
	}
	user := ctx.Session.UserName
	view := cv.View[:0]
	for _, ref := range cv.View {
		if !h.hidden(user, ref.Type) {
			view = append(view, ref)
		}
	}
	cv.View = view
	return res
}

func wantsType(kinds []string, kind string) bool {
	if len(kinds) == 0 {
		return true
	}
	for _, k := range kinds {
		if k == kind || k == "ManagedEntity" {
			return true
		}
	}
	return false
}

// inside tells whether ref sits below container in the inventory tree.
func inside(ref, container types.ManagedObjectReference) bool {
	for depth := 0; depth < 64; depth++ {
		if ref == container {
			return true
		}
		obj := simulator.Map.Get(ref)
		e, ok := obj.(mo.Entity)
		if !ok || e.Entity().Parent == nil {
			return false
		}
		ref = *e.Entity().Parent
	}
	return false
}

// pagingCollector honours RetrieveOptions.maxObjects, serves ContinueRetrievePropertiesEx
// and CancelRetrievePropertiesEx (vcsim has neither), and leaves out objects of the types
// the calling user may not see.
type pagingCollector struct {
	simulator.PropertyCollector
}

func (h *harness) visible(ctx *simulator.Context, objects []types.ObjectContent) []types.ObjectContent {
	if ctx.Session == nil {
		return objects
	}
	user := ctx.Session.UserName
	role, custom := h.roles[user]
	out := objects[:0]
	for _, o := range objects {
		if h.hidden(user, o.Obj.Type) {
			continue
		}
		if custom {
			// vcsim reports Admin (-1) everywhere; vCenter reports the caller's role.
			for i := range o.PropSet {
				if o.PropSet[i].Name == "effectiveRole" {
					o.PropSet[i].Val = types.ArrayOfInt{Int: []int32{role}}
				}
			}
		}
		out = append(out, o)
	}
	return out
}

func (pc *pagingCollector) RetrievePropertiesEx(ctx *simulator.Context, r *types.RetrievePropertiesEx) soap.HasFault {
	if r.Options.MaxObjects < 0 {
		return &methods.RetrievePropertiesExBody{Fault_: simulator.Fault("A specified parameter was not correct: options.maxObjects", &types.InvalidArgument{InvalidProperty: "options.maxObjects"})}
	}
	res := pc.PropertyCollector.RetrievePropertiesEx(ctx, r)
	body, ok := res.(*methods.RetrievePropertiesExBody)
	if !ok || body.Res == nil || body.Res.Returnval == nil {
		return res
	}
	objects := h.visible(ctx, body.Res.Returnval.Objects)
	body.Res.Returnval = h.page(ctx, objects, int(r.Options.MaxObjects))
	return body
}

// page returns the first page and parks the rest under a fresh token.
func (h *harness) page(ctx *simulator.Context, objects []types.ObjectContent, max int) *types.RetrieveResult {
	if len(objects) == 0 {
		return nil
	}
	if max <= 0 || len(objects) <= max || ctx.Session == nil {
		return &types.RetrieveResult{Objects: objects}
	}
	token := uuid.New().String()
	h.mu.Lock()
	h.pages[token] = &pendingPages{session: ctx.Session.Key, max: max, objects: objects[max:]}
	h.mu.Unlock()
	return &types.RetrieveResult{Token: token, Objects: objects[:max]}
}

func (h *harness) takePages(ctx *simulator.Context, token string) (*pendingPages, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p, ok := h.pages[token]
	if !ok || ctx.Session == nil || p.session != ctx.Session.Key {
		return nil, false
	}
	delete(h.pages, token)
	return p, true
}

func (pc *pagingCollector) ContinueRetrievePropertiesEx(ctx *simulator.Context, r *types.ContinueRetrievePropertiesEx) soap.HasFault {
	p, ok := h.takePages(ctx, r.Token)
	if !ok {
		return &methods.ContinueRetrievePropertiesExBody{Fault_: simulator.Fault("A specified parameter was not correct: token", &types.InvalidArgument{InvalidProperty: "token"})}
	}
	result := h.page(ctx, p.objects, p.max)
	if result == nil {
		result = &types.RetrieveResult{}
	}
	return &methods.ContinueRetrievePropertiesExBody{Res: &types.ContinueRetrievePropertiesExResponse{Returnval: *result}}
}

func (pc *pagingCollector) CancelRetrievePropertiesEx(ctx *simulator.Context, r *types.CancelRetrievePropertiesEx) soap.HasFault {
	if _, ok := h.takePages(ctx, r.Token); !ok {
		return &methods.CancelRetrievePropertiesExBody{Fault_: simulator.Fault("A specified parameter was not correct: token", &types.InvalidArgument{InvalidProperty: "token"})}
	}
	return &methods.CancelRetrievePropertiesExBody{Res: &types.CancelRetrievePropertiesExResponse{}}
}

func (pc *pagingCollector) RetrieveProperties(ctx *simulator.Context, r *types.RetrieveProperties) soap.HasFault {
	res := pc.PropertyCollector.RetrieveProperties(ctx, r)
	if body, ok := res.(*methods.RetrievePropertiesBody); ok && body.Res != nil {
		body.Res.Returnval = h.visible(ctx, body.Res.Returnval)
	}
	return res
}

// extraConfigFix gives ReconfigVM_Task the documented extraConfig semantics: a key that
// is already present is replaced and a key set to "" is removed (vcsim 0.24.2 appends).
// It runs inside the reconfigure task, which vcsim runs synchronously under the VM's lock.
type extraConfigFix struct {
	Self types.ManagedObjectReference
}

func (f *extraConfigFix) Reference() types.ManagedObjectReference   { return f.Self }
func (f *extraConfigFix) PutObject(mo.Reference)                    {}
func (f *extraConfigFix) RemoveObject(types.ManagedObjectReference) {}

func (f *extraConfigFix) UpdateObject(obj mo.Reference, changes []types.PropertyChange) {
	task, ok := obj.(*mo.Task)
	if !ok || task.Info.DescriptionId != "VirtualMachine.reconfigVm" || task.Info.State != types.TaskInfoStateSuccess || task.Info.Entity == nil {
		return
	}
	done := false
	for _, c := range changes {
		if c.Name == "info.state" {
			done = true
		}
	}
	if !done {
		return
	}
	vm, ok := simulator.Map.Get(*task.Info.Entity).(*simulator.VirtualMachine)
	if !ok || vm.Config == nil {
		return
	}
	last := map[string]int{}
	for i, o := range vm.Config.ExtraConfig {
		last[o.GetOptionValue().Key] = i
	}
	var merged []types.BaseOptionValue
	for i, o := range vm.Config.ExtraConfig {
		v := o.GetOptionValue()
		if last[v.Key] != i {
			continue
		}
		if s, isString := v.Value.(string); isString && s == "" {
			continue
		}
		merged = append(merged, o)
	}
	vm.Config.ExtraConfig = merged
}
