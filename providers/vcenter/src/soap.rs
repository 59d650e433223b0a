//! The SOAP transport: one HTTPS POST per vim25 call, with time limits, the session
//! cookie, a round-trip counter, and SOAP faults turned into typed errors.

use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use failback_engine::config::model::Sensitive;
use reqwest::header::{CONTENT_TYPE, COOKIE, HeaderValue, SET_COOKIE};
use url::Url;

use crate::error::VcenterError;
use crate::settings::{VcenterSettings, server_label};
use crate::tls::{self, HandshakeLog};
use crate::xml::{Node, XmlDoc};

/// The session cookie vCenter sets at login.
const SESSION_COOKIE: &str = "vmware_soap_session";

/// The API version failback speaks. 6.5 is the oldest vCenter still met in the field,
/// and every call and property failback uses exists there; newer servers accept it.
const SOAP_ACTION: &str = "\"urn:vim25/6.5\"";

/// The shared HTTP side of all sessions to one vCenter.
pub struct Transport {
    http: reqwest::Client,
    url: Url,
    server: String,
    handshakes: HandshakeLog,
    request_timeout: Duration,
    round_trips: AtomicU64,
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport")
            .field("url", &self.url.as_str())
            .field("round_trips", &self.round_trips())
            .finish()
    }
}

/// A parsed successful answer.
#[derive(Debug)]
pub struct SoapResponse {
    doc: XmlDoc,
}

impl SoapResponse {
    /// The `<MethodResponse>` element inside the SOAP body.
    pub fn result(&self) -> Option<Node<'_>> {
        let body = self.doc.root().child("Body")?;
        body.children().next()
    }
}

/// An answer as it came off the wire, not parsed yet. Parsing a property collector
/// page of a thousand VMs takes long enough that discovery does it while the next page
/// is on its way; [`RawAnswer::decode`] is plain CPU work and may run on any thread.
pub struct RawAnswer {
    method: String,
    success: bool,
    status: u16,
    set_cookie: Option<Sensitive<String>>,
    body: Vec<u8>,
}

impl fmt::Debug for RawAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawAnswer")
            .field("method", &self.method)
            .field("status", &self.status)
            .field("bytes", &self.body.len())
            .finish_non_exhaustive()
    }
}

impl RawAnswer {
    /// The text of the first `<token>` element, read without parsing the answer, when
    /// it comes before the first `<objects>` (as vim25's `RetrieveResult` orders
    /// them) and needs no unescaping. Only a hint for fetching ahead: the parsed
    /// answer's token decides.
    pub fn token_hint(&self) -> Option<String> {
        if !self.success {
            return None;
        }
        let body = self.body.as_slice();
        let head = match find(body, b"<objects") {
            Some(end) => &body[..end],
            None => body,
        };
        let start = find(head, b"<token>")? + b"<token>".len();
        let length = find(&head[start..], b"</token>")?;
        let token = std::str::from_utf8(&head[start..start + length])
            .ok()?
            .trim();
        if token.is_empty() || token.contains(['&', '<']) {
            return None;
        }
        Some(token.to_owned())
    }

    /// Parses the answer: the response, or the SOAP fault or HTTP error it carries.
    pub fn decode(self) -> Result<(SoapResponse, Option<Sensitive<String>>), VcenterError> {
        let method = self.method.as_str();
        let text = std::str::from_utf8(&self.body).map_err(|_| VcenterError::Protocol {
            method: method.into(),
            detail: "the answer is not UTF-8".into(),
        })?;
        let parsed = XmlDoc::parse(text);
        if self.success {
            let doc = parsed.map_err(|err| VcenterError::Protocol {
                method: method.into(),
                detail: err.to_string(),
            })?;
            let response = SoapResponse { doc };
            if let Some(fault) = response.result().filter(|node| node.name() == "Fault") {
                return Err(fault_error(method, fault));
            }
            return Ok((response, self.set_cookie));
        }
        if let Ok(doc) = parsed
            && let Some(fault) = doc
                .root()
                .child("Body")
                .and_then(|body| body.child("Fault"))
        {
            return Err(fault_error(method, fault));
        }
        Err(VcenterError::Http {
            method: method.into(),
            status: self.status,
            excerpt: excerpt(text),
        })
    }
}

/// Where `needle` first occurs in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

impl Transport {
    pub fn new(settings: &VcenterSettings) -> Result<Transport, VcenterError> {
        let (tls_config, handshakes) = tls::client_config(&settings.tls)?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls_config)
            .connect_timeout(settings.timeouts.connect)
            .timeout(settings.timeouts.request)
            .pool_idle_timeout(Duration::from_secs(30))
            .user_agent(concat!("failback/", env!("CARGO_PKG_VERSION")))
            .no_proxy()
            .build()
            .map_err(|err| {
                VcenterError::Settings(format!("cannot set up the HTTP client: {err}"))
            })?;
        Ok(Transport {
            http,
            url: settings.url.clone(),
            server: server_label(&settings.url),
            handshakes,
            request_timeout: settings.timeouts.request,
            round_trips: AtomicU64::new(0),
        })
    }

    /// How many HTTP requests were sent so far.
    pub fn round_trips(&self) -> u64 {
        self.round_trips.load(Ordering::Relaxed)
    }

    pub fn server(&self) -> &str {
        &self.server
    }

    /// The digests of the server certificate seen in the latest handshake.
    pub fn handshakes(&self) -> &HandshakeLog {
        &self.handshakes
    }

    /// Sends one call. `inner` is the XML of the method's parameters (`_this` first).
    /// Returns the answer and the session cookie the server set, if it set one.
    pub async fn call(
        &self,
        cookie: Option<&Sensitive<String>>,
        method: &str,
        inner: &str,
    ) -> Result<(SoapResponse, Option<Sensitive<String>>), VcenterError> {
        self.fetch(cookie, method, inner).await?.decode()
    }

    /// Sends one call and reads the whole answer, without parsing it: see
    /// [`RawAnswer::decode`].
    pub async fn fetch(
        &self,
        cookie: Option<&Sensitive<String>>,
        method: &str,
        inner: &str,
    ) -> Result<RawAnswer, VcenterError> {
        let envelope = envelope(method, inner);
        let mut request = self
            .http
            .post(self.url.clone())
            .header(CONTENT_TYPE, "text/xml; charset=utf-8")
            .header("SOAPAction", SOAP_ACTION)
            .body(envelope);
        if let Some(cookie) = cookie {
            let mut value =
                HeaderValue::from_str(cookie.expose()).map_err(|_| VcenterError::Protocol {
                    method: method.into(),
                    detail: "the session cookie holds characters not allowed in a header".into(),
                })?;
            value.set_sensitive(true);
            request = request.header(COOKIE, value);
        }
        self.round_trips.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(method, server = %self.server, "vim25 call");
        let response = request
            .send()
            .await
            .map_err(|err| self.transport_error(method, &err))?;
        let status = response.status();
        let set_cookie = response
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .find_map(session_cookie)
            .map(Sensitive::new);
        let body = response
            .bytes()
            .await
            .map_err(|err| self.transport_error(method, &err))?;
        Ok(RawAnswer {
            method: method.to_owned(),
            success: status.is_success(),
            status: status.as_u16(),
            set_cookie,
            body: Vec::from(body),
        })
    }

    fn transport_error(&self, method: &str, error: &reqwest::Error) -> VcenterError {
        if let Some(record) = self.handshakes.take_refusal() {
            return VcenterError::Tls {
                server: self.server.clone(),
                reason: record.refusal.unwrap_or_default(),
                sha256: record.sha256,
                sha1: record.sha1,
            };
        }
        if error.is_timeout() {
            return VcenterError::Timeout {
                server: self.server.clone(),
                method: method.into(),
                after: self.request_timeout,
            };
        }
        VcenterError::Transport {
            server: self.server.clone(),
            method: method.into(),
            detail: error_chain(error),
        }
    }
}

/// The text of an error and its causes, `a: b: c`, without repeats.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = String::new();
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(err) = current {
        let text = err.to_string();
        if !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
        current = err.source();
    }
    out
}

fn excerpt(text: &str) -> String {
    let trimmed = text.trim();
    match trimmed.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &trimmed[..cut]),
        None => trimmed.to_string(),
    }
}

/// `vmware_soap_session=…` from one `Set-Cookie` header, without attributes.
fn session_cookie(header: &str) -> Option<String> {
    let pair = header.split(';').next()?.trim();
    let (name, value) = pair.split_once('=')?;
    (name.trim() == SESSION_COOKIE && !value.is_empty()).then(|| pair.to_string())
}

fn envelope(method: &str, inner: &str) -> String {
    let mut out = String::with_capacity(inner.len() + 400);
    out.push_str(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" \
         xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" \
         xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><soapenv:Body>",
    );
    let _ = write!(out, "<{method} xmlns=\"urn:vim25\">{inner}</{method}>");
    out.push_str("</soapenv:Body></soapenv:Envelope>");
    out
}

/// A SOAP fault as a typed error: the fault type from `detail` (its `xsi:type`, else
/// its element name without the `Fault` suffix) and `faultstring`.
pub fn fault_error(method: &str, fault: Node<'_>) -> VcenterError {
    let message = fault
        .child_text("faultstring")
        .unwrap_or("")
        .trim()
        .to_string();
    let detail = fault
        .child("detail")
        .and_then(|detail| detail.children().next());
    let name = detail
        .and_then(|detail| {
            detail
                .xsi_type()
                .map(str::to_string)
                .or_else(|| Some(detail.name().trim_end_matches("Fault").to_string()))
        })
        .filter(|name| !name.is_empty())
        .or_else(|| {
            fault
                .child_text("faultcode")
                .map(|code| code.trim().to_string())
        })
        .unwrap_or_else(|| "SoapFault".into());
    let mut message = message;
    if name == "NoPermission"
        && let Some(detail) = detail
    {
        let missing = missing_privileges(detail);
        if !missing.is_empty() {
            let _ = write!(message, " (missing {})", missing.join(", "));
        }
    }
    VcenterError::Fault {
        method: method.into(),
        fault: name,
        message,
    }
}

/// What a `NoPermission` fault says is missing, `privilege on type:id`: vSphere 8
/// lists `missingPrivileges` (entity and privilege ids); earlier versions one
/// `object` and its `privilegeId`.
fn missing_privileges(detail: Node<'_>) -> Vec<String> {
    let on = |entity: Option<Node<'_>>| {
        entity
            .map(|entity| {
                format!(
                    " on {}:{}",
                    entity.mo_type().unwrap_or("object"),
                    entity.text().trim()
                )
            })
            .unwrap_or_default()
    };
    let mut missing: Vec<String> = detail
        .children_named("missingPrivileges")
        .flat_map(|entry| {
            let entity = on(entry.child("entity"));
            entry
                .children_named("privilegeIds")
                .map(move |id| format!("{}{entity}", id.text().trim()))
        })
        .collect();
    if missing.is_empty()
        && let Some(privilege) = detail.child_text("privilegeId")
    {
        missing.push(format!(
            "{}{}",
            privilege.trim(),
            on(detail.child("object"))
        ));
    }
    missing
}

/// `<name type="Type">value</name>`, escaped.
pub fn moref(out: &mut String, element: &str, kind: &str, value: &str) {
    let _ = write!(
        out,
        "<{element} type=\"{}\">{}</{element}>",
        crate::xml::escape(kind),
        crate::xml::escape(value)
    );
}

/// `<name>text</name>`, escaped.
pub fn text_element(out: &mut String, element: &str, text: &str) {
    let _ = write!(out, "<{element}>{}</{element}>", crate::xml::escape(text));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(success: bool, body: &str) -> RawAnswer {
        RawAnswer {
            method: "RetrievePropertiesEx".into(),
            success,
            status: if success { 200 } else { 500 },
            set_cookie: None,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn the_token_is_read_ahead_only_when_it_comes_before_the_objects() {
        let page = "<Envelope><Body><RetrievePropertiesExResponse><returnval>\
                    <token>7</token><objects><obj type=\"VirtualMachine\">vm-1</obj></objects>\
                    </returnval></RetrievePropertiesExResponse></Body></Envelope>";
        assert_eq!(answer(true, page).token_hint().as_deref(), Some("7"));
        // The parsed page agrees.
        let (response, _) = answer(true, page).decode().unwrap();
        let returnval = response
            .result()
            .and_then(|r| r.child("returnval"))
            .unwrap();
        assert_eq!(returnval.child_text("token"), Some("7"));

        let token_last = "<Envelope><Body><R><returnval><objects><obj>vm-1</obj></objects>\
                          <token>7</token></returnval></R></Body></Envelope>";
        assert_eq!(answer(true, token_last).token_hint(), None);
        let last_page = "<Envelope><Body><R><returnval><objects><obj>vm-1</obj></objects>\
                         </returnval></R></Body></Envelope>";
        assert_eq!(answer(true, last_page).token_hint(), None);
        let escaped = "<Envelope><Body><R><returnval><token>a&amp;b</token><objects/>\
                       </returnval></R></Body></Envelope>";
        assert_eq!(answer(true, escaped).token_hint(), None);
        assert_eq!(answer(false, page).token_hint(), None);
    }

    #[test]
    fn a_raw_http_error_decodes_to_its_status_and_excerpt() {
        let err = answer(false, "<html>busy</html>").decode().unwrap_err();
        assert!(
            matches!(&err, VcenterError::Http { status: 500, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn session_cookie_is_taken_without_attributes() {
        assert_eq!(
            session_cookie("vmware_soap_session=\"abc\"; Path=/; HttpOnly; Secure").as_deref(),
            Some("vmware_soap_session=\"abc\"")
        );
        assert_eq!(session_cookie("other=1; Path=/"), None);
        assert_eq!(session_cookie("vmware_soap_session=; Path=/"), None);
    }

    #[test]
    fn faults_are_typed_by_detail_type() {
        let xml = r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>
          <soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>Login failure</faultstring>
          <detail><InvalidLoginFault xmlns="urn:vim25" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="InvalidLogin"></InvalidLoginFault></detail>
          </soapenv:Fault></soapenv:Body></soapenv:Envelope>"#;
        let doc = XmlDoc::parse(xml).unwrap();
        let fault = doc.root().child("Body").unwrap().child("Fault").unwrap();
        let err = fault_error("Login", fault);
        assert_eq!(err.fault_name(), Some("InvalidLogin"));
        assert_eq!(
            err.to_string(),
            "vCenter refused Login: InvalidLogin: Login failure"
        );
    }

    #[test]
    fn a_permission_fault_names_the_missing_privilege() {
        let fault_of = |detail: &str| {
            let xml = format!(
                r#"<Envelope><Body><Fault><faultcode>ServerFaultCode</faultcode><faultstring>Permission to perform this operation was denied.</faultstring><detail>{detail}</detail></Fault></Body></Envelope>"#
            );
            let doc = XmlDoc::parse(&xml).unwrap();
            let fault = doc.root().child("Body").unwrap().child("Fault").unwrap();
            fault_error("ReconfigVM_Task", fault).to_string()
        };
        assert_eq!(
            fault_of(
                r#"<NoPermissionFault xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="NoPermission"><object type="VirtualMachine">vm-42</object><privilegeId>VirtualMachine.Config.AdvancedConfig</privilegeId></NoPermissionFault>"#
            ),
            "vCenter refused ReconfigVM_Task: NoPermission: Permission to perform this operation \
             was denied. (missing VirtualMachine.Config.AdvancedConfig on VirtualMachine:vm-42)"
        );
        // vSphere 8: every missing privilege, per entity.
        assert_eq!(
            fault_of(
                r#"<NoPermissionFault xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="NoPermission"><object type="VirtualMachine">vm-42</object><privilegeId>VirtualMachine.State.RemoveSnapshot</privilegeId><missingPrivileges><entity type="VirtualMachine">vm-42</entity><privilegeIds>VirtualMachine.State.RemoveSnapshot</privilegeIds></missingPrivileges><missingPrivileges><entity type="Datastore">datastore-7</entity><privilegeIds>Datastore.AllocateSpace</privilegeIds><privilegeIds>Datastore.FileManagement</privilegeIds></missingPrivileges></NoPermissionFault>"#
            ),
            "vCenter refused ReconfigVM_Task: NoPermission: Permission to perform this operation \
             was denied. (missing VirtualMachine.State.RemoveSnapshot on VirtualMachine:vm-42, \
             Datastore.AllocateSpace on Datastore:datastore-7, Datastore.FileManagement on \
             Datastore:datastore-7)"
        );
    }

    #[test]
    fn fault_without_xsi_type_uses_element_name() {
        let xml = r#"<Envelope><Body><Fault><faultcode>ServerFaultCode</faultcode><faultstring>gone</faultstring>
          <detail><ManagedObjectNotFoundFault><obj type="VirtualMachine">vm-9</obj></ManagedObjectNotFoundFault></detail></Fault></Body></Envelope>"#;
        let doc = XmlDoc::parse(xml).unwrap();
        let fault = doc.root().child("Body").unwrap().child("Fault").unwrap();
        assert_eq!(
            fault_error("X", fault).fault_name(),
            Some("ManagedObjectNotFound")
        );
    }

    #[test]
    fn request_values_are_escaped() {
        let mut out = String::new();
        text_element(&mut out, "password", "a<b&c\"");
        assert_eq!(out, "<password>a&lt;b&amp;c&quot;</password>");
        let env = envelope("Login", &out);
        assert!(env.contains("<Login xmlns=\"urn:vim25\"><password>"));
        XmlDoc::parse(&env).unwrap();
    }
}
