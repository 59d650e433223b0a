//! The changes failback makes in vCenter, each idempotent and each waiting for its
//! vSphere task: set an advanced configuration parameter (`disk.EnableUUID = TRUE`,
//! rule FB107) and remove all snapshots of a VM (rules FB102, FB115).
//!
//! Every action first reads the VM: if the effect is already there it changes nothing
//! and says so. A running task is polled through the property collector, with a
//! growing interval and an overall time limit, and its progress is reported.

use std::time::{Duration, Instant};

use failback_engine::provider::{ActionOutcome, Progress, ProgressSink};

use crate::client::{MoRef, Session, properties};
use crate::error::VcenterError;
use crate::soap::text_element;
use crate::xml::{self, Node};

/// Finds a VM by name (or, when no VM has that name, by managed object id).
pub async fn find_vm(session: &Session<'_>, vm: &str) -> Result<MoRef, VcenterError> {
    let view = session.create_container_view(&["VirtualMachine"]).await?;
    let mut spec = String::new();
    spec.push_str(
        "<propSet><type>VirtualMachine</type><pathSet>name</pathSet></propSet><objectSet>",
    );
    view.write(&mut spec, "obj");
    spec.push_str(
        "<skip>true</skip><selectSet xsi:type=\"TraversalSpec\"><name>traverseView</name>\
         <type>ContainerView</type><path>view</path><skip>false</skip></selectSet></objectSet>",
    );
    let mut matches = Vec::new();
    let mut id_exists = false;
    let listed = session
        .retrieve(
            &spec,
            Some(session.client().settings().page_size),
            |object| {
                if let Some(obj) = object.child("obj").and_then(MoRef::from_node) {
                    let name = properties(object)
                        .find(|(name, _)| *name == "name")
                        .map(|(_, val)| val.text());
                    if name == Some(vm) {
                        matches.push(obj);
                    } else if obj.id == vm {
                        id_exists = true;
                    }
                }
                Ok(())
            },
        )
        .await;
    if let Err(err) = session.destroy_view(&view).await {
        tracing::debug!("DestroyView failed: {err}");
    }
    listed?;
    match matches.len() {
        1 => Ok(matches.remove(0)),
        0 if id_exists => Ok(MoRef::new("VirtualMachine", vm)),
        0 => Err(VcenterError::NotFound {
            kind: "VM".into(),
            name: vm.into(),
        }),
        count => Err(VcenterError::Ambiguous {
            kind: "VM".into(),
            name: vm.into(),
            count,
            ids: matches
                .iter()
                .map(|m| m.id.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// What an action needs to know about a VM before deciding.
#[derive(Debug, Default)]
struct VmState {
    extra_config: Vec<(String, String)>,
    has_snapshots: bool,
}

async fn read_vm(
    session: &Session<'_>,
    vm: &MoRef,
    paths: &[&str],
) -> Result<VmState, VcenterError> {
    let mut spec = String::new();
    spec.push_str("<propSet><type>VirtualMachine</type>");
    for path in paths {
        text_element(&mut spec, "pathSet", path);
    }
    spec.push_str("</propSet><objectSet>");
    vm.write(&mut spec, "obj");
    spec.push_str("</objectSet>");
    let mut state = VmState::default();
    session
        .retrieve(&spec, None, |object| {
            for (name, val) in properties(object) {
                match name {
                    "config.extraConfig" => {
                        for option in val.children() {
                            if let Some(key) = option.child_text("key") {
                                let value = option.child_text("value").unwrap_or("");
                                state
                                    .extra_config
                                    .push((key.to_string(), value.to_string()));
                            }
                        }
                    }
                    "snapshot" => {
                        state.has_snapshots = val.child("rootSnapshotList").is_some();
                    }
                    _ => {}
                }
            }
            Ok(())
        })
        .await?;
    Ok(state)
}

/// Whether two extraConfig values mean the same. vSphere reads boolean parameters
/// case-insensitively (`TRUE`, `true`), other values exactly.
fn same_value(current: &str, wanted: &str) -> bool {
    let booleans = ["true", "false"];
    if booleans.contains(&wanted.to_ascii_lowercase().as_str()) {
        current.eq_ignore_ascii_case(wanted)
    } else {
        current == wanted
    }
}

/// Sets one advanced configuration parameter on a VM (ReconfigVM_Task).
pub async fn set_extra_config(
    session: &Session<'_>,
    vm_name: &str,
    key: &str,
    value: &str,
    task_timeout: Duration,
    progress: &dyn ProgressSink,
) -> Result<ActionOutcome, VcenterError> {
    let vm = find_vm(session, vm_name).await?;
    let state = read_vm(session, &vm, &["config.extraConfig"]).await?;
    // The last occurrence wins, as in vSphere (and old vcsim appends duplicates).
    let current = state
        .extra_config
        .iter()
        .rev()
        .find(|(existing, _)| existing == key)
        .map(|(_, value)| value.as_str());
    if current.is_some_and(|current| same_value(current, value)) {
        return Ok(ActionOutcome::AlreadyDone);
    }
    let mut inner = String::new();
    vm.write(&mut inner, "_this");
    inner.push_str("<spec><extraConfig>");
    text_element(&mut inner, "key", key);
    inner.push_str("<value xsi:type=\"xsd:string\">");
    inner.push_str(&xml::escape(value));
    inner.push_str("</value></extraConfig></spec>");
    let task = start_task(session, "ReconfigVM_Task", &inner).await?;
    let description = format!("set {key} = {value} on VM {vm_name}");
    wait_for_task(session, &task, &description, task_timeout, progress).await?;
    Ok(ActionOutcome::Applied {
        remote_ids: vec![task.id],
    })
}

/// Removes every snapshot of a VM and consolidates its disks (RemoveAllSnapshots_Task).
pub async fn remove_all_snapshots(
    session: &Session<'_>,
    vm_name: &str,
    task_timeout: Duration,
    progress: &dyn ProgressSink,
) -> Result<ActionOutcome, VcenterError> {
    let vm = find_vm(session, vm_name).await?;
    let state = read_vm(session, &vm, &["snapshot"]).await?;
    if !state.has_snapshots {
        return Ok(ActionOutcome::AlreadyDone);
    }
    let mut inner = String::new();
    vm.write(&mut inner, "_this");
    inner.push_str("<consolidate>true</consolidate>");
    let task = start_task(session, "RemoveAllSnapshots_Task", &inner).await?;
    let description = format!("remove all snapshots of VM {vm_name}");
    wait_for_task(session, &task, &description, task_timeout, progress).await?;
    Ok(ActionOutcome::Applied {
        remote_ids: vec![task.id],
    })
}

async fn start_task(
    session: &Session<'_>,
    method: &str,
    inner: &str,
) -> Result<MoRef, VcenterError> {
    let response = session.call(method, inner).await?;
    response
        .result()
        .and_then(|result| result.child("returnval"))
        .and_then(MoRef::from_node)
        .ok_or_else(|| VcenterError::Protocol {
            method: method.into(),
            detail: "no task reference in the answer".into(),
        })
}

/// The state of a task as one poll saw it.
#[derive(Debug, Default, PartialEq)]
pub struct TaskInfo {
    pub state: String,
    pub progress: Option<u8>,
    /// Fault type and localized message, when the task failed.
    pub error: Option<(String, String)>,
}

/// Reads a task's `info.*` properties from one `<objects>` element.
pub fn parse_task_info(object: Node<'_>) -> TaskInfo {
    let mut info = TaskInfo::default();
    for (name, val) in properties(object) {
        match name {
            "info.state" => info.state = val.text().trim().to_string(),
            "info.progress" => {
                info.progress = val
                    .text()
                    .trim()
                    .parse::<u32>()
                    .ok()
                    .map(|p| p.min(100) as u8);
            }
            "info.error" => {
                let fault = val
                    .child("fault")
                    .map(|fault| fault.xsi_type().unwrap_or(fault.name()).to_string())
                    .unwrap_or_else(|| "TaskError".into());
                let message = val
                    .child_text("localizedMessage")
                    .map(str::trim)
                    .filter(|message| !message.is_empty())
                    .unwrap_or("the task failed without a message")
                    .to_string();
                info.error = Some((fault, message));
            }
            _ => {}
        }
    }
    info
}

/// Polls a task until it succeeds, fails or the time limit passes.
pub async fn wait_for_task(
    session: &Session<'_>,
    task: &MoRef,
    description: &str,
    timeout: Duration,
    progress: &dyn ProgressSink,
) -> Result<(), VcenterError> {
    let started = Instant::now();
    let mut spec = String::new();
    spec.push_str(
        "<propSet><type>Task</type><pathSet>info.state</pathSet><pathSet>info.progress</pathSet>\
         <pathSet>info.error</pathSet></propSet><objectSet>",
    );
    task.write(&mut spec, "obj");
    spec.push_str("</objectSet>");
    progress.report(Progress {
        remote_id: Some(task.id.clone()),
        percent: None,
        message: format!("{description}: started"),
    });
    let mut interval = Duration::from_millis(50);
    let mut last_reported: Option<(String, Option<u8>)> = None;
    loop {
        let mut info = None;
        session
            .retrieve(&spec, None, |object| {
                info = Some(parse_task_info(object));
                Ok(())
            })
            .await?;
        let info = info.ok_or_else(|| VcenterError::Protocol {
            method: "RetrievePropertiesEx".into(),
            detail: format!("task {} disappeared while waiting for it", task.id),
        })?;
        let seen = (info.state.clone(), info.progress);
        if last_reported.as_ref() != Some(&seen) {
            progress.report(Progress {
                remote_id: Some(task.id.clone()),
                percent: if info.state == "success" {
                    Some(100)
                } else {
                    info.progress
                },
                message: format!("{description}: {}", info.state),
            });
            last_reported = Some(seen);
        }
        match info.state.as_str() {
            "success" => return Ok(()),
            "error" => {
                let (fault, message) = info.error.unwrap_or_else(|| {
                    (
                        "TaskError".into(),
                        "the task failed without a message".into(),
                    )
                });
                return Err(VcenterError::TaskFailed {
                    task: task.id.clone(),
                    description: description.into(),
                    fault,
                    message,
                });
            }
            _ => {}
        }
        let elapsed = started.elapsed();
        if elapsed >= timeout {
            return Err(VcenterError::TaskTimeout {
                task: task.id.clone(),
                description: description.into(),
                after: timeout,
            });
        }
        tokio::time::sleep(interval.min(timeout - elapsed)).await;
        interval = (interval * 2).min(Duration::from_secs(2));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::XmlDoc;

    #[test]
    fn task_error_carries_fault_type_and_localized_message() {
        let xml = r#"<objects xmlns:XMLSchema-instance="http://www.w3.org/2001/XMLSchema-instance"><obj type="Task">task-57</obj>
          <propSet><name>info.state</name><val XMLSchema-instance:type="TaskInfoState">error</val></propSet>
          <propSet><name>info.error</name><val XMLSchema-instance:type="LocalizedMethodFault">
            <fault XMLSchema-instance:type="InvalidPowerState"><requestedState>poweredOn</requestedState></fault>
            <localizedMessage>The attempted operation cannot be performed in the current state (Powered on).</localizedMessage></val></propSet>
        </objects>"#;
        let doc = XmlDoc::parse(xml).unwrap();
        let info = parse_task_info(doc.root());
        assert_eq!(info.state, "error");
        assert_eq!(
            info.error,
            Some((
                "InvalidPowerState".into(),
                "The attempted operation cannot be performed in the current state (Powered on)."
                    .into()
            ))
        );
    }

    #[test]
    fn boolean_parameters_compare_case_insensitively() {
        assert!(same_value("true", "TRUE"));
        assert!(!same_value("FALSE", "TRUE"));
        assert!(same_value("abc", "abc"));
        assert!(!same_value("ABC", "abc"));
    }
}
