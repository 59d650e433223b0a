// The HTTP front of the harness: it sees every SOAP request before vcsim does.
//
// Three behaviours cannot be patched on vcsim's objects and live here instead:
//   - Login checks the estate's user names and passwords (vcsim takes any pair) and
//     refuses others with InvalidLogin, as vCenter does;
//   - a VM task named in the VM's `failback.sim.failTask` extra_config ends in error with
//     a realistic vSphere fault instead of running (vcsim's VirtualMachine cannot be wrapped);
//   - with `failback.sim.taskDelayMs`, a VM task is reported `running` for that long before
//     its real outcome shows (vcsim finishes every task before answering).
//
// It also records which session key belongs to which user, for HasPrivilegeOnEntities,
// and refuses with NoPermission the VM tasks failback runs (ReconfigVM_Task with
// extraConfig, RemoveAllSnapshots_Task) when the user lacks their privilege on the VM.
package main

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

type front struct {
	next http.Handler
}

const maxRequestBytes = 64 << 20

func (f *front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/sdk" {
		f.next.ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBytes))
	_ = r.Body.Close()
	if err != nil {
		http.Error(w, "cannot read request", http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	method, err := simulator.UnmarshalBody(types.TypeFunc(), body)
	if err != nil {
		// vcsim answers malformed requests with its own fault.
		f.next.ServeHTTP(w, r)
		return
	}
	switch method.Name {
	case "Login":
		f.login(w, r, method)
		return
	case "Logout":
		if c, err := r.Cookie(soap.SessionCookieName); err == nil {
			h.mu.Lock()
			delete(h.sessions, c.Value)
			h.mu.Unlock()
		}
	}
	if method.This.Type == "VirtualMachine" && strings.HasSuffix(method.Name, "_Task") && f.authenticated(r) {
		if privilege := taskPrivilege(method); privilege != "" && !h.granted(f.sessionUser(r), method.This, privilege) {
			log.Printf("%s on %s refused: %s not granted", method.Name, method.This.Value, privilege)
			writeFault(w, "NoPermission", "Permission to perform this operation was denied.",
				fmt.Sprintf(`<object type="%s">%s</object><privilegeId>%s</privilegeId>`, method.This.Type, method.This.Value, privilege))
			return
		}
		if h.inv.failTasks[method.This][method.Name] {
			f.failTask(w, method)
			return
		}
		if ms := h.inv.taskDelay[method.This]; ms > 0 {
			f.delayTask(w, r, ms)
			return
		}
	}
	f.next.ServeHTTP(w, r)
}

func (f *front) authenticated(r *http.Request) bool {
	return f.sessionUser(r) != ""
}

// sessionUser is the estate user logged in with the request's session cookie, or "".
func (f *front) sessionUser(r *http.Request) string {
	c, err := r.Cookie(soap.SessionCookieName)
	if err != nil {
		return ""
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.sessions[c.Value]
}

// taskPrivilege is the privilege vCenter checks on the VM before the VM task failback
// runs: setting an advanced parameter (ReconfigVM_Task with extraConfig) or removing
// snapshots. Other tasks are not checked (vcsim checks none).
func taskPrivilege(method *simulator.Method) string {
	switch body := method.Body.(type) {
	case *types.ReconfigVM_Task:
		if len(body.Spec.ExtraConfig) > 0 {
			return "VirtualMachine.Config.AdvancedConfig"
		}
	case *types.RemoveAllSnapshots_Task:
		return "VirtualMachine.State.RemoveSnapshot"
	}
	return ""
}

func (f *front) login(w http.ResponseWriter, r *http.Request, method *simulator.Method) {
	req, ok := method.Body.(*types.Login)
	if !ok || !h.checkPassword(req.UserName, req.Password) {
		if ok {
			log.Printf("login refused for user %q", req.UserName)
		}
		writeFault(w, "InvalidLogin", "Cannot complete login due to an incorrect user name or password.", "")
		return
	}
	rec := httptest.NewRecorder()
	f.next.ServeHTTP(rec, r)
	if rec.Code == http.StatusOK {
		for _, c := range rec.Result().Cookies() {
			if c.Name == soap.SessionCookieName {
				h.mu.Lock()
				h.sessions[c.Value] = req.UserName
				h.mu.Unlock()
			}
		}
	}
	copyResponse(w, rec)
}

func copyResponse(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// writeFault answers with a SOAP fault shaped like vcsim's and vCenter's own.
func writeFault(w http.ResponseWriter, name, message, detail string) {
	var msg bytes.Buffer
	_ = xml.EscapeText(&msg, []byte(message))
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/" xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>%s</faultstring><detail><%sFault xmlns="urn:vim25" xsi:type="%s">%s</%sFault></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>`,
		msg.String(), name, name, detail, name)
}

// injectedFault is what an injected task failure reports, per method: faults and
// messages as vSphere words them.
func injectedFault(method string) (types.BaseMethodFault, string) {
	switch method {
	case "ReconfigVM_Task":
		return &types.TaskInProgress{}, "Another task is already in progress."
	case "RemoveAllSnapshots_Task":
		msg := "An error occurred while consolidating disks: Could not open/create change tracking file."
		return &types.GenericVmConfigFault{Reason: msg}, msg
	case "PowerOnVM_Task":
		return &types.InsufficientResourcesFault{}, "The available Memory resources in the parent resource pool are insufficient for the operation."
	case "PowerOffVM_Task":
		return &types.InvalidPowerState{ExistingState: types.VirtualMachinePowerStatePoweredOff}, "The attempted operation cannot be performed in the current state (Powered off)."
	default:
		msg := "An error occurred while saving the snapshot: Failed to quiesce the virtual machine."
		return &types.GenericVmConfigFault{Reason: msg}, msg
	}
}

// taskID turns a WSDL method name into vcsim's task name ("ReconfigVM_Task" -> "reconfigVm").
func taskID(method string) string {
	switch method {
	case "ReconfigVM_Task":
		return "reconfigVm"
	case "PowerOnVM_Task":
		return "powerOn"
	case "PowerOffVM_Task":
		return "powerOff"
	}
	id := strings.TrimSuffix(method, "_Task")
	return strings.ToLower(id[:1]) + id[1:]
}

func (f *front) failTask(w http.ResponseWriter, method *simulator.Method) {
	vmName := method.This.Value
	if vm, ok := simulator.Map.Get(method.This).(*simulator.VirtualMachine); ok {
		vmName = vm.Name
	}
	task := simulator.CreateTask(method.This, taskID(method.Name), func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
		return nil, nil
	})
	fault, msg := injectedFault(method.Name)
	start := time.Now()
	simulator.Map.WithLock(task, func() {
		task.Info.EntityName = vmName
		simulator.Map.Update(task, []types.PropertyChange{
			{Name: "info.startTime", Val: start},
			{Name: "info.state", Val: types.TaskInfoStateRunning},
		})
	})
	finish := func() {
		simulator.Map.WithLock(task, func() {
			simulator.Map.Update(task, []types.PropertyChange{
				{Name: "info.completeTime", Val: time.Now()},
				{Name: "info.state", Val: types.TaskInfoStateError},
				{Name: "info.error", Val: types.LocalizedMethodFault{Fault: fault, LocalizedMessage: msg}},
			})
		})
	}
	if ms := h.inv.taskDelay[method.This]; ms > 0 {
		time.AfterFunc(time.Duration(ms)*time.Millisecond, finish)
	} else {
		finish()
	}
	log.Printf("injected failure of %s on %s (%s)", method.Name, vmName, task.Self.Value)
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/" xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><%sResponse xmlns="urn:vim25"><returnval type="Task">%s</returnval></%sResponse></soapenv:Body></soapenv:Envelope>`,
		method.Name, task.Self.Value, method.Name)
}

var taskRefPattern = regexp.MustCompile(`<returnval type="Task">([^<]+)</returnval>`)

// delayTask lets vcsim run the task, then shows it as running for ms milliseconds before
// its real outcome, so clients exercise their polling.
func (f *front) delayTask(w http.ResponseWriter, r *http.Request, ms int) {
	rec := httptest.NewRecorder()
	f.next.ServeHTTP(rec, r)
	m := taskRefPattern.FindSubmatch(rec.Body.Bytes())
	if rec.Code == http.StatusOK && m != nil {
		ref := types.ManagedObjectReference{Type: "Task", Value: string(m[1])}
		if task, ok := simulator.Map.Get(ref).(*simulator.Task); ok {
			var final types.TaskInfo
			simulator.Map.WithLock(task, func() {
				final = task.Info
				task.Info.State = types.TaskInfoStateRunning
				task.Info.CompleteTime = nil
				task.Info.Progress = 50
				task.Info.Result = nil
				task.Info.Error = nil
			})
			time.AfterFunc(time.Duration(ms)*time.Millisecond, func() {
				simulator.Map.WithLock(task, func() {
					changes := []types.PropertyChange{
						{Name: "info.progress", Val: int32(100)},
						{Name: "info.completeTime", Val: time.Now()},
						{Name: "info.state", Val: final.State},
					}
					if final.Result != nil {
						changes = append(changes, types.PropertyChange{Name: "info.result", Val: final.Result})
					}
					if final.Error != nil {
						changes = append(changes, types.PropertyChange{Name: "info.error", Val: *final.Error})
					}
					simulator.Map.Update(task, changes)
				})
			})
		}
	}
	copyResponse(w, rec)
}
