//! The vim25 client: the service content, sessions (login, logout), container views and
//! the paged property collector every read goes through.
//!
//! Each discovery or action runs in its own short session, logged out at the end even
//! when the work failed, so parallel actions never share a cookie and nothing is left
//! logged in on vCenter (which limits sessions per user).

use std::fmt::{self, Write as _};
use std::sync::Arc;

use failback_engine::config::model::Sensitive;
use failback_engine::observe::vcenter::About;
use tokio::sync::OnceCell;

use crate::error::VcenterError;
use crate::settings::VcenterSettings;
use crate::soap::{RawAnswer, SoapResponse, Transport, moref, text_element};
use crate::xml::Node;

/// A managed object reference: type and id (`VirtualMachine`, `vm-42`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MoRef {
    pub kind: String,
    pub id: String,
}

impl MoRef {
    pub fn new(kind: impl Into<String>, id: impl Into<String>) -> MoRef {
        MoRef {
            kind: kind.into(),
            id: id.into(),
        }
    }

    /// Reads a reference element (`<x type="Folder">group-d1</x>`).
    pub fn from_node(node: Node<'_>) -> Option<MoRef> {
        let id = node.text().trim();
        if id.is_empty() {
            return None;
        }
        Some(MoRef::new(node.mo_type().unwrap_or(""), id))
    }

    pub fn write(&self, out: &mut String, element: &str) {
        moref(out, element, &self.kind, &self.id);
    }
}

/// The parts of `ServiceContent` failback uses.
#[derive(Debug, Clone)]
pub struct ServiceContent {
    pub root_folder: MoRef,
    pub property_collector: MoRef,
    pub view_manager: MoRef,
    pub session_manager: MoRef,
    pub authorization_manager: Option<MoRef>,
    pub license_manager: Option<MoRef>,
    pub about: About,
}

impl ServiceContent {
    fn parse(returnval: Node<'_>) -> Result<ServiceContent, VcenterError> {
        let required = |name: &str| {
            returnval
                .child(name)
                .and_then(MoRef::from_node)
                .ok_or_else(|| VcenterError::Protocol {
                    method: "RetrieveServiceContent".into(),
                    detail: format!("the service content has no `{name}`; is this a vCenter or ESXi SDK endpoint?"),
                })
        };
        let about = returnval.child("about");
        let about_text = |name: &str| {
            about
                .and_then(|about| about.child_text(name))
                .unwrap_or("")
                .to_string()
        };
        Ok(ServiceContent {
            root_folder: required("rootFolder")?,
            property_collector: required("propertyCollector")?,
            view_manager: required("viewManager")?,
            session_manager: required("sessionManager")?,
            authorization_manager: returnval
                .child("authorizationManager")
                .and_then(MoRef::from_node),
            license_manager: returnval.child("licenseManager").and_then(MoRef::from_node),
            about: About {
                name: about_text("name"),
                full_name: about_text("fullName"),
                version: about_text("version"),
                api_type: about_text("apiType"),
                instance_uuid: about_text("instanceUuid"),
            },
        })
    }
}

/// A client for one vCenter. Cheap to share; sessions are opened per operation.
pub struct VcenterClient {
    settings: VcenterSettings,
    transport: Arc<Transport>,
    content: OnceCell<ServiceContent>,
}

impl fmt::Debug for VcenterClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `settings` holds the password inside a redacting type; listing fields one by
        // one keeps it that way even if the settings type grows.
        f.debug_struct("VcenterClient")
            .field("url", &self.settings.url.as_str())
            .field("username", &self.settings.username)
            .field("password", &self.settings.password)
            .field("tls", &self.settings.tls)
            .field("round_trips", &self.transport.round_trips())
            .finish()
    }
}

impl VcenterClient {
    pub fn new(settings: VcenterSettings) -> Result<VcenterClient, VcenterError> {
        let transport = Arc::new(Transport::new(&settings)?);
        Ok(VcenterClient {
            settings,
            transport,
            content: OnceCell::new(),
        })
    }

    pub fn settings(&self) -> &VcenterSettings {
        &self.settings
    }

    /// HTTP round trips made so far by this client (all sessions).
    pub fn round_trips(&self) -> u64 {
        self.transport.round_trips()
    }

    /// `host:port` of the server.
    pub fn server(&self) -> &str {
        self.transport.server()
    }

    /// The service content, fetched once per client.
    pub async fn service_content(&self) -> Result<&ServiceContent, VcenterError> {
        self.content
            .get_or_try_init(|| async {
                let mut inner = String::new();
                moref(&mut inner, "_this", "ServiceInstance", "ServiceInstance");
                let (response, _) = self
                    .transport
                    .call(None, "RetrieveServiceContent", &inner)
                    .await?;
                let returnval = response
                    .result()
                    .and_then(|result| result.child("returnval"))
                    .ok_or_else(|| VcenterError::Protocol {
                        method: "RetrieveServiceContent".into(),
                        detail: "no returnval".into(),
                    })?;
                ServiceContent::parse(returnval)
            })
            .await
    }

    /// Logs in. The caller must [`Session::logout`] when done.
    pub async fn login(&self) -> Result<Session<'_>, VcenterError> {
        let content = self.service_content().await?;
        let mut inner = String::new();
        content.session_manager.write(&mut inner, "_this");
        text_element(&mut inner, "userName", &self.settings.username);
        text_element(&mut inner, "password", self.settings.password.expose());
        let (response, cookie) = match self.transport.call(None, "Login", &inner).await {
            Ok(answer) => answer,
            Err(VcenterError::Fault { fault, message, .. })
                if fault == "InvalidLogin" || fault == "NoPermission" =>
            {
                return Err(VcenterError::Login {
                    user: self.settings.username.clone(),
                    message: if message.is_empty() { fault } else { message },
                });
            }
            Err(other) => return Err(other),
        };
        let cookie = cookie.ok_or_else(|| VcenterError::Protocol {
            method: "Login".into(),
            detail: "vCenter accepted the login but set no vmware_soap_session cookie".into(),
        })?;
        let returnval = response
            .result()
            .and_then(|result| result.child("returnval"));
        let key = returnval
            .and_then(|session| session.child_text("key"))
            .unwrap_or("")
            .to_string();
        let user = returnval
            .and_then(|session| session.child_text("userName"))
            .filter(|user| !user.is_empty())
            .unwrap_or(&self.settings.username)
            .to_string();
        tracing::debug!(server = %self.server(), %user, "logged in");
        Ok(Session {
            client: self,
            content,
            cookie,
            key: Sensitive::new(key),
            user,
        })
    }
}

/// A logged-in session.
pub struct Session<'c> {
    client: &'c VcenterClient,
    pub content: &'c ServiceContent,
    cookie: Sensitive<String>,
    /// `UserSession.key`, needed by `HasPrivilegeOnEntities`.
    pub key: Sensitive<String>,
    pub user: String,
}

impl fmt::Debug for Session<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl<'c> Session<'c> {
    pub fn client(&self) -> &'c VcenterClient {
        self.client
    }

    /// One call in this session.
    pub async fn call(&self, method: &str, inner: &str) -> Result<SoapResponse, VcenterError> {
        let (response, _) = self
            .client
            .transport
            .call(Some(&self.cookie), method, inner)
            .await?;
        Ok(response)
    }

    /// Ends the session. Failures are logged, not returned: the work is done by then,
    /// and vCenter expires abandoned sessions on its own.
    pub async fn logout(self) {
        let mut inner = String::new();
        self.content.session_manager.write(&mut inner, "_this");
        if let Err(err) = self.call("Logout", &inner).await {
            tracing::warn!(server = %self.client.server(), "logout failed: {err}");
        }
    }

    /// A recursive container view of these types under the root folder.
    pub async fn create_container_view(&self, types: &[&str]) -> Result<MoRef, VcenterError> {
        let mut inner = String::new();
        self.content.view_manager.write(&mut inner, "_this");
        self.content.root_folder.write(&mut inner, "container");
        for kind in types {
            text_element(&mut inner, "type", kind);
        }
        inner.push_str("<recursive>true</recursive>");
        let response = self.call("CreateContainerView", &inner).await?;
        response
            .result()
            .and_then(|result| result.child("returnval"))
            .and_then(MoRef::from_node)
            .ok_or_else(|| VcenterError::Protocol {
                method: "CreateContainerView".into(),
                detail: "no view reference in the answer".into(),
            })
    }

    pub async fn destroy_view(&self, view: &MoRef) -> Result<(), VcenterError> {
        let mut inner = String::new();
        view.write(&mut inner, "_this");
        self.call("DestroyView", &inner).await.map(|_| ())
    }

    /// One call in this session, answered but not parsed yet.
    async fn fetch(&self, method: &str, inner: &str) -> Result<RawAnswer, VcenterError> {
        self.client
            .transport
            .fetch(Some(&self.cookie), method, inner)
            .await
    }

    /// `RetrievePropertiesEx` with one filter spec (the XML inside `<specSet>`), then
    /// `ContinueRetrievePropertiesEx` while a token comes back. Each returned
    /// `<objects>` element is handed to `each`, page by page, so a large inventory is
    /// never held as XML all at once.
    ///
    /// Pages are pipelined: when a page's token can be read before parsing it, the next
    /// page is asked for at once and this one is parsed on a blocking thread meanwhile,
    /// so vCenter builds page n+1 while failback parses page n. Still one request per
    /// page, and at most two pages in memory.
    pub async fn retrieve(
        &self,
        spec: &str,
        max_objects: Option<u32>,
        mut each: impl FnMut(Node<'_>) -> Result<(), VcenterError>,
    ) -> Result<(), VcenterError> {
        const CONTINUE: &str = "ContinueRetrievePropertiesEx";
        let collector = &self.content.property_collector;
        let continue_call = |token: &str| {
            let mut next = String::new();
            collector.write(&mut next, "_this");
            text_element(&mut next, "token", token);
            next
        };
        let mut inner = String::with_capacity(spec.len() + 200);
        collector.write(&mut inner, "_this");
        inner.push_str("<specSet>");
        inner.push_str(spec);
        inner.push_str("</specSet><options>");
        if let Some(max) = max_objects {
            let _ = write!(inner, "<maxObjects>{}</maxObjects>", max.max(1));
        }
        inner.push_str("</options>");
        let mut method = "RetrievePropertiesEx";
        let mut answer = self.fetch(method, &inner).await?;
        loop {
            let hint = answer.token_hint();
            let (decoded, ahead) = match &hint {
                Some(token) => {
                    let parse = tokio::task::spawn_blocking(move || answer.decode());
                    let next = continue_call(token);
                    let (parsed, ahead) = tokio::join!(parse, self.fetch(CONTINUE, &next));
                    let decoded = match parsed {
                        Ok(decoded) => decoded,
                        Err(join) if join.is_panic() => {
                            std::panic::resume_unwind(join.into_panic())
                        }
                        Err(join) => {
                            return Err(VcenterError::Protocol {
                                method: method.into(),
                                detail: format!("parsing the answer was interrupted: {join}"),
                            });
                        }
                    };
                    (decoded, Some(ahead))
                }
                None => (answer.decode(), None),
            };
            let (response, _) = decoded?;
            let token = {
                let Some(result) = response.result() else {
                    return Err(VcenterError::Protocol {
                        method: method.into(),
                        detail: "empty SOAP body".into(),
                    });
                };
                // No returnval at all means no objects matched.
                let Some(returnval) = result.child("returnval") else {
                    return Ok(());
                };
                for object in returnval.children_named("objects") {
                    each(object)?;
                }
                returnval.child_text("token").map(str::to_string)
            };
            drop(response);
            let Some(token) = token.filter(|token| !token.is_empty()) else {
                return Ok(());
            };
            method = CONTINUE;
            answer = match ahead {
                Some(ahead) if hint.as_deref() == Some(token.as_str()) => ahead?,
                // Not read ahead, or with a token the parsed page contradicts: ask now.
                _ => self.fetch(method, &continue_call(&token)).await?,
            };
        }
    }
}

/// The `val` of each `propSet` of an `<objects>` element, by property name.
pub fn properties<'d>(object: Node<'d>) -> impl Iterator<Item = (&'d str, Node<'d>)> {
    object.children_named("propSet").filter_map(|prop| {
        let name = prop.child_text("name")?;
        let val = prop.child("val")?;
        Some((name, val))
    })
}
