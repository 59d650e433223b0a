//! A scripted vim25 endpoint on loopback for client tests that need exact control of
//! the answers (paging tokens, faults, hung calls): each request is handed to a closure
//! that picks the reply, by default a fixture file named after the SOAP method.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub body: String,
    pub cookie: Option<String>,
}

/// What to answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub set_cookie: Option<String>,
    /// Never answer (the server hangs).
    pub hang: bool,
}

impl Reply {
    pub fn ok(body: impl Into<String>) -> Reply {
        Reply {
            status: 200,
            body: body.into(),
            set_cookie: None,
            hang: false,
        }
    }

    pub fn fault(fixture_name: &str) -> Reply {
        Reply {
            status: 500,
            body: fixture(fixture_name),
            set_cookie: None,
            hang: false,
        }
    }

    pub fn hang() -> Reply {
        Reply {
            hang: true,
            ..Reply::ok("")
        }
    }
}

pub type Script = Arc<dyn Fn(&Seen, &[Seen]) -> Reply + Send + Sync>;

pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn fixture(name: &str) -> String {
    let path = fixtures_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("fixture {}: {err}", path.display()))
}

/// Wraps a method response element into a SOAP envelope.
pub fn envelope(inner: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" \
         xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><soapenv:Body>{inner}</soapenv:Body></soapenv:Envelope>"
    )
}

/// The default answers: a fixture per method, Login sets the session cookie, and the
/// discovery call answers in two pages.
pub fn default_reply(seen: &Seen) -> Reply {
    match seen.method.as_str() {
        "Login" => Reply {
            set_cookie: Some(
                "vmware_soap_session=\"e51cd63e-ab8c\"; Path=/; HttpOnly; Secure".into(),
            ),
            ..Reply::ok(fixture("Login.xml"))
        },
        "RetrievePropertiesEx" => Reply::ok(fixture("RetrievePropertiesEx.discovery.page1.xml")),
        "ContinueRetrievePropertiesEx" => {
            Reply::ok(fixture("ContinueRetrievePropertiesEx.discovery.page2.xml"))
        }
        other => Reply::ok(fixture(&format!("{other}.xml"))),
    }
}

pub struct FakeVcenter {
    pub url: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeVcenter {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeVcenter {
    pub async fn start(script: Script) -> FakeVcenter {
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let state = (script, seen.clone());
        let app = Router::new().route("/sdk", post(handle)).with_state(state);
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeVcenter {
            url: format!("http://{addr}/sdk"),
            seen,
            server,
        }
    }

    pub async fn with_defaults() -> FakeVcenter {
        FakeVcenter::start(Arc::new(|seen, _| default_reply(seen))).await
    }

    pub fn methods(&self) -> Vec<String> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .map(|s| s.method.clone())
            .collect()
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

type State = (Script, Arc<Mutex<Vec<Seen>>>);

async fn handle(
    axum::extract::State((script, log)): axum::extract::State<State>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body = String::from_utf8_lossy(&body).into_owned();
    let method = soap_method(&body);
    let cookie = headers
        .get(header::COOKIE)
        .and_then(|value| value.to_str().ok())
        .map(str::to_string);
    let seen = Seen {
        method,
        body,
        cookie,
    };
    let reply = {
        let mut log = log.lock().unwrap();
        let reply = script(&seen, &log);
        log.push(seen);
        reply
    };
    if reply.hang {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    let mut response = (
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        reply.body,
    )
        .into_response();
    if let Some(cookie) = reply.set_cookie {
        response
            .headers_mut()
            .insert(header::SET_COOKIE, cookie.parse().expect("cookie header"));
    }
    response
}

/// The local name of the first element inside `<soapenv:Body>`.
fn soap_method(body: &str) -> String {
    let Some(start) = body.find("Body>") else {
        return String::new();
    };
    let rest = &body[start + 5..];
    let Some(open) = rest.find('<') else {
        return String::new();
    };
    let name: String = rest[open + 1..]
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '>' && *c != '/')
        .collect();
    name.rsplit(':').next().unwrap_or("").to_string()
}
