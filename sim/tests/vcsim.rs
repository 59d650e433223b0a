//! The vCenter simulator harness, over raw SOAP: each test starts its own harness (vcsim
//! keeps global state) on an estate and checks one behaviour the harness patches into
//! vcsim so that it answers like a real vCenter.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use failback_sim::estate::Estate;
use failback_sim::vcsim::{Vcsim, VcsimError};
use sha1::Digest as _;
use support::estate_path;

/// `testdata/estates/vcenter-basic.json`, to change before starting a harness on it.
fn basic_estate() -> Estate {
    let text = std::fs::read_to_string(estate_path("vcenter-basic.json")).expect("fixture");
    Estate::from_json(&text).expect("fixture is a valid estate")
}

fn start_basic() -> Vcsim {
    match Vcsim::start(&estate_path("vcenter-basic.json")) {
        Ok(sim) => sim,
        Err(e) => panic!("harness did not start: {e}"),
    }
}

/// A bare SOAP session: one cookie, hand-written envelopes.
struct Soap {
    http: reqwest::Client,
    url: String,
    cookie: Option<String>,
}

struct Reply {
    status: u16,
    body: String,
}

impl Soap {
    fn new(sim: &Vcsim) -> Soap {
        let pem = std::fs::read(&sim.ca_file).expect("CA file written by the harness");
        let ca = reqwest::Certificate::from_pem(&pem).expect("CA is PEM");
        let http = reqwest::Client::builder()
            .tls_certs_only([ca])
            .tls_info(true)
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        Soap {
            http,
            url: sim.url.clone(),
            cookie: None,
        }
    }

    async fn call(&mut self, method: &str) -> Reply {
        let envelope = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>{method}</soapenv:Body></soapenv:Envelope>"#
        );
        let mut request = self
            .http
            .post(&self.url)
            .header("Content-Type", "text/xml; charset=utf-8")
            .header("SOAPAction", "urn:vim25/7.0")
            .body(envelope);
        if let Some(cookie) = &self.cookie {
            request = request.header("Cookie", format!("vmware_soap_session={cookie}"));
        }
        let response = request.send().await.expect("harness answers");
        for value in response.headers().get_all("set-cookie") {
            let value = value.to_str().unwrap_or_default();
            if let Some(rest) = value.strip_prefix("vmware_soap_session=") {
                self.cookie = rest.split(';').next().map(str::to_owned);
            }
        }
        let status = response.status().as_u16();
        let body = response.text().await.expect("body");
        Reply { status, body }
    }

    async fn login(&mut self, user: &str, password: &str) -> Reply {
        self.call(&format!(
            r#"<Login xmlns="urn:vim25"><_this type="SessionManager">SessionManager</_this><userName>{user}</userName><password>{password}</password></Login>"#
        ))
        .await
    }

    async fn logged_in(sim: &Vcsim, user: &str, password: &str) -> Soap {
        let mut soap = Soap::new(sim);
        let reply = soap.login(user, password).await;
        assert_eq!(reply.status, 200, "login as {user}: {}", reply.body);
        soap
    }

    async fn container_view(&mut self) -> String {
        let reply = self
            .call(
                r#"<CreateContainerView xmlns="urn:vim25"><_this type="ViewManager">ViewManager</_this><container type="Folder">group-d1</container><type>VirtualMachine</type><type>HostSystem</type><type>Datastore</type><type>StoragePod</type><recursive>true</recursive></CreateContainerView>"#,
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        text_of(&reply.body, "returnval").expect("view reference")
    }

    /// One RetrievePropertiesEx over a fresh container view; `props` per type.
    async fn retrieve(&mut self, props: &[(&str, &[&str])], max_objects: Option<u32>) -> Reply {
        let view = self.container_view().await;
        let mut prop_set = String::new();
        for (kind, paths) in props {
            prop_set.push_str(&format!("<propSet><type>{kind}</type>"));
            for p in *paths {
                prop_set.push_str(&format!("<pathSet>{p}</pathSet>"));
            }
            prop_set.push_str("</propSet>");
        }
        let options = match max_objects {
            Some(n) => format!("<options><maxObjects>{n}</maxObjects></options>"),
            None => "<options/>".to_owned(),
        };
        self.call(&format!(
            r#"<RetrievePropertiesEx xmlns="urn:vim25"><_this type="PropertyCollector">propertyCollector</_this><specSet>{prop_set}<objectSet><obj type="ContainerView">{view}</obj><skip>true</skip><selectSet xsi:type="TraversalSpec"><name>traverseView</name><type>ContainerView</type><path>view</path><skip>false</skip></selectSet></objectSet></specSet>{options}</RetrievePropertiesEx>"#
        ))
        .await
    }

    /// Every object of the four discovery types the user can see, by name.
    async fn inventory(&mut self) -> BTreeMap<String, Obj> {
        let reply = self
            .retrieve(
                &[
                    ("VirtualMachine", &["name"]),
                    ("HostSystem", &["name"]),
                    ("Datastore", &["name"]),
                    ("StoragePod", &["name"]),
                ],
                None,
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        objects(&reply.body)
            .into_iter()
            .map(|o| (o.prop("name").unwrap_or_default(), o))
            .collect()
    }

    async fn task_info(&mut self, task: &str) -> Obj {
        let reply = self
            .call(&format!(
                r#"<RetrievePropertiesEx xmlns="urn:vim25"><_this type="PropertyCollector">propertyCollector</_this><specSet><propSet><type>Task</type><pathSet>info.state</pathSet><pathSet>info.error</pathSet><pathSet>info.descriptionId</pathSet></propSet><objectSet><obj type="Task">{task}</obj></objectSet></specSet><options/></RetrievePropertiesEx>"#
            ))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        objects(&reply.body)
            .into_iter()
            .next()
            .expect("task object")
    }
}

/// One `<objects>` element: its reference and raw property values.
#[derive(Debug, Clone)]
struct Obj {
    kind: String,
    moref: String,
    props: BTreeMap<String, String>,
}

impl Obj {
    /// The text of a simple property value.
    fn prop(&self, name: &str) -> Option<String> {
        self.props.get(name).map(|raw| {
            let start = raw.find('>').map(|i| i + 1).unwrap_or(0);
            let end = raw.rfind("</val>").unwrap_or(raw.len());
            raw[start..end].to_owned()
        })
    }
    fn raw(&self, name: &str) -> &str {
        self.props.get(name).map(String::as_str).unwrap_or("")
    }
}

fn text_of(xml: &str, tag: &str) -> Option<String> {
    let open = xml.find(&format!("<{tag}"))?;
    let start = open + xml[open..].find('>')? + 1;
    let end = start + xml[start..].find(&format!("</{tag}>"))?;
    Some(xml[start..end].to_owned())
}

fn objects(xml: &str) -> Vec<Obj> {
    xml.split("<objects>")
        .skip(1)
        .map(|chunk| {
            let chunk = chunk.split("</objects>").next().unwrap_or(chunk);
            let obj_open = chunk.find("<obj type=\"").map(|i| i + 11).unwrap_or(0);
            let kind_end = obj_open + chunk[obj_open..].find('"').unwrap_or(0);
            let kind = chunk[obj_open..kind_end].to_owned();
            let moref = text_of(chunk, "obj").unwrap_or_default();
            let mut props = BTreeMap::new();
            for prop in chunk.split("<propSet>").skip(1) {
                let name = text_of(prop, "name").unwrap_or_default();
                let val_start = prop.find("<val").unwrap_or(0);
                let val_end = prop.rfind("</propSet>").unwrap_or(prop.len());
                props.insert(name, prop[val_start..val_end].to_owned());
            }
            Obj { kind, moref, props }
        })
        .collect()
}

fn colon_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[tokio::test]
async fn thumbprints_printed_are_those_of_the_served_certificate() {
    let sim = start_basic();
    assert!(sim.url.starts_with("https://127.0.0.1:"), "{}", sim.url);
    assert!(sim.url.ends_with("/sdk"), "{}", sim.url);
    assert_eq!(sim.datacenter, "DC-OnPrem");
    assert_eq!(
        sim.users,
        [
            "administrator@vsphere.local",
            "asr@vsphere.local",
            "readonly@vsphere.local"
        ]
    );
    assert_eq!(sim.thumbprint_sha256.len(), 32 * 3 - 1);
    assert_eq!(sim.thumbprint_sha1.len(), 20 * 3 - 1);

    // Verified against the printed CA only (no system roots), then hashed.
    let soap = Soap::new(&sim);
    let response = soap
        .http
        .get(sim.url.replace("/sdk", "/sdk/vimServiceVersions.xml"))
        .send()
        .await
        .expect("TLS handshake with the harness CA");
    let info = response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .expect("TLS info");
    let der = info.peer_certificate().expect("leaf certificate");
    assert_eq!(colon_hex(&sha2::Sha256::digest(der)), sim.thumbprint_sha256);
    assert_eq!(colon_hex(&sha1::Sha1::digest(der)), sim.thumbprint_sha1);
}

#[tokio::test]
async fn login_takes_the_estate_password_and_refuses_a_wrong_one() {
    let sim = start_basic();
    let mut soap = Soap::new(&sim);
    for (user, password) in [
        ("asr@vsphere.local", "wrong"),
        ("asr@vsphere.local", ""),
        ("nobody@vsphere.local", "s3cret"),
    ] {
        let reply = soap.login(user, password).await;
        assert_eq!(reply.status, 500, "{user}/{password}: {}", reply.body);
        assert!(reply.body.contains("<InvalidLoginFault"), "{}", reply.body);
        assert!(
            reply.body.contains(
                "<faultstring>Cannot complete login due to an incorrect user name or password.</faultstring>"
            ),
            "{}",
            reply.body
        );
        assert!(soap.cookie.is_none());
    }
    let reply = soap.login("asr@vsphere.local", "s3cret").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(
        reply
            .body
            .contains("<userName>asr@vsphere.local</userName>"),
        "{}",
        reply.body
    );
    assert!(soap.cookie.is_some());
}

#[tokio::test]
async fn privileges_are_answered_per_user_from_the_estate() {
    let sim = start_basic();
    let mut asr = Soap::logged_in(&sim, "asr@vsphere.local", "s3cret").await;
    let seen = asr.inventory().await;
    let vm = seen["app-win-01"].moref.clone();
    let ds = seen["vmfs-local-01"].moref.clone();
    let privileges = |session: &str| {
        format!(
            r#"<HasPrivilegeOnEntities xmlns="urn:vim25"><_this type="AuthorizationManager">AuthorizationManager</_this><entity type="VirtualMachine">{vm}</entity><entity type="Datastore">{ds}</entity><sessionId>{session}</sessionId><privId>System.Read</privId><privId>VirtualMachine.Config.AdvancedConfig</privId><privId>Datastore.AllocateSpace</privId></HasPrivilegeOnEntities>"#
        )
    };
    let granted = |body: &str| -> Vec<(String, bool)> {
        body.split("<privAvailability>")
            .skip(1)
            .map(|p| {
                (
                    text_of(p, "privId").unwrap_or_default(),
                    text_of(p, "isGranted").as_deref() == Some("true"),
                )
            })
            .collect()
    };
    let key = asr.cookie.clone().unwrap_or_default();
    let reply = asr.call(&privileges(&key)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let expect = |g: [bool; 6]| -> Vec<(String, bool)> {
        let ids = [
            "System.Read",
            "VirtualMachine.Config.AdvancedConfig",
            "Datastore.AllocateSpace",
        ];
        ids.iter()
            .chain(ids.iter())
            .zip(g)
            .map(|(id, g)| ((*id).to_owned(), g))
            .collect()
    };
    assert_eq!(
        granted(&reply.body),
        expect([true, true, false, true, true, false])
    );

    // The read-only user: no advanced config, and nothing at all on a type it cannot see.
    let mut ro = Soap::logged_in(&sim, "readonly@vsphere.local", "r3ad").await;
    let key = ro.cookie.clone().unwrap_or_default();
    let reply = ro.call(&privileges(&key)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        granted(&reply.body),
        expect([true, false, false, false, false, false])
    );

    // Asking about another session answers for that session's user.
    let reply = asr.call(&privileges(&key)).await;
    assert_eq!(
        granted(&reply.body),
        expect([true, false, false, false, false, false])
    );

    let reply = asr
        .call(&format!(
            r#"<FetchUserPrivilegeOnEntities xmlns="urn:vim25"><_this type="AuthorizationManager">AuthorizationManager</_this><entities type="VirtualMachine">{vm}</entities><userName>readonly@vsphere.local</userName></FetchUserPrivilegeOnEntities>"#
        ))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let privs: Vec<String> = reply
        .body
        .split("<privileges>")
        .skip(1)
        .filter_map(|p| p.split("</privileges>").next().map(str::to_owned))
        .collect();
    assert_eq!(privs, ["System.Anonymous", "System.View", "System.Read"]);

    // effectiveRole names the caller's own role, whose privileges are the estate's.
    let reply = ro
        .retrieve(&[("VirtualMachine", &["name", "effectiveRole"])], None)
        .await;
    let roles: Vec<String> = objects(&reply.body)
        .iter()
        .map(|o| text_of(o.raw("effectiveRole"), "int").unwrap_or_default())
        .collect();
    assert_eq!(roles.len(), 5);
    let role = roles[0].clone();
    assert!(roles.iter().all(|r| *r == role), "{roles:?}");
    assert_ne!(role, "-1", "vcsim's Admin role leaked");
    let reply = ro
        .call(r#"<RetrievePropertiesEx xmlns="urn:vim25"><_this type="PropertyCollector">propertyCollector</_this><specSet><propSet><type>AuthorizationManager</type><pathSet>roleList</pathSet></propSet><objectSet><obj type="AuthorizationManager">AuthorizationManager</obj></objectSet></specSet><options/></RetrievePropertiesEx>"#)
        .await;
    let listed = reply
        .body
        .split("<AuthorizationRole>")
        .find(|r| text_of(r, "roleId").as_deref() == Some(role.as_str()))
        .unwrap_or_else(|| panic!("role {role} not in roleList"));
    assert!(
        listed.contains("<name>failback-estate-readonly@vsphere.local</name>"),
        "{listed}"
    );
    let role_privs: Vec<String> = listed
        .split("<privilege>")
        .skip(1)
        .filter_map(|p| p.split("</privilege>").next().map(str::to_owned))
        .collect();
    assert_eq!(
        role_privs,
        ["System.Anonymous", "System.View", "System.Read"]
    );
}

#[tokio::test]
async fn licence_editions_are_reported_per_host() {
    let sim = start_basic();
    let mut soap = Soap::logged_in(&sim, "asr@vsphere.local", "s3cret").await;
    let seen = soap.inventory().await;
    // The assignment manager's reference comes from the LicenseManager, as on vCenter.
    let reply = soap
        .call(r#"<RetrievePropertiesEx xmlns="urn:vim25"><_this type="PropertyCollector">propertyCollector</_this><specSet><propSet><type>LicenseManager</type><pathSet>licenseAssignmentManager</pathSet></propSet><objectSet><obj type="LicenseManager">LicenseManager</obj></objectSet></specSet><options/></RetrievePropertiesEx>"#)
        .await;
    let lam = objects(&reply.body)[0]
        .prop("licenseAssignmentManager")
        .expect("licenseAssignmentManager");
    let reply = soap
        .call(&format!(r#"<QueryAssignedLicenses xmlns="urn:vim25"><_this type="LicenseAssignmentManager">{lam}</_this></QueryAssignedLicenses>"#))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let editions: BTreeMap<String, String> = reply
        .body
        .split("<returnval>")
        .skip(1)
        .map(|r| {
            (
                text_of(r, "entityId").unwrap_or_default(),
                text_of(r, "editionKey").unwrap_or_default(),
            )
        })
        .collect();
    let host = |name: &str| seen[name].moref.clone();
    assert_eq!(
        editions[&host("esx01.lab.local")],
        "esx.enterprisePlus.cpuPackage"
    );
    assert_eq!(
        editions[&host("esx02.lab.local")],
        "esx.standard.cpuPackage"
    );
    assert_eq!(
        editions[&host("esx03.lab.local")],
        "esx.hypervisor.cpuPackage"
    );
    assert!(!reply.body.contains("<editionKey>eval</editionKey>"));

    // One host by id.
    let reply = soap
        .call(&format!(
            r#"<QueryAssignedLicenses xmlns="urn:vim25"><_this type="LicenseAssignmentManager">{lam}</_this><entityId>{}</entityId></QueryAssignedLicenses>"#,
            host("esx03.lab.local")
        ))
        .await;
    assert_eq!(
        reply.body.matches("<returnval>").count(),
        1,
        "{}",
        reply.body
    );
    assert!(
        reply
            .body
            .contains("<editionKey>esx.hypervisor.cpuPackage</editionKey>")
    );
}

#[tokio::test]
async fn a_hidden_datastore_type_is_invisible_but_still_referenced() {
    let sim = start_basic();
    let mut asr = Soap::logged_in(&sim, "asr@vsphere.local", "s3cret").await;
    let all = asr.inventory().await;
    let kinds =
        |seen: &BTreeMap<String, Obj>, kind: &str| seen.values().filter(|o| o.kind == kind).count();
    assert_eq!(kinds(&all, "Datastore"), 3);
    assert_eq!(kinds(&all, "VirtualMachine"), 5);

    let mut ro = Soap::logged_in(&sim, "readonly@vsphere.local", "r3ad").await;
    let seen = ro.inventory().await;
    assert_eq!(kinds(&seen, "Datastore"), 0);
    assert_eq!(kinds(&seen, "VirtualMachine"), 5);
    assert_eq!(kinds(&seen, "HostSystem"), 3);
    assert_eq!(kinds(&seen, "StoragePod"), 1);

    // Like vCenter, the VM still names the datastore it cannot see.
    let reply = ro
        .retrieve(&[("VirtualMachine", &["name", "datastore"])], None)
        .await;
    let vm = objects(&reply.body)
        .into_iter()
        .find(|o| o.prop("name").as_deref() == Some("app-win-01"))
        .expect("VM visible");
    assert!(
        vm.raw("datastore")
            .contains(&all["vmfs-local-01"].moref.to_string()),
        "{:?}",
        vm
    );

    // Not through a direct read either.
    let reply = ro
        .call(&format!(
            r#"<RetrievePropertiesEx xmlns="urn:vim25"><_this type="PropertyCollector">propertyCollector</_this><specSet><propSet><type>Datastore</type><pathSet>name</pathSet></propSet><objectSet><obj type="Datastore">{}</obj></objectSet></specSet><options/></RetrievePropertiesEx>"#,
            all["vmfs-local-01"].moref
        ))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(objects(&reply.body).is_empty(), "{}", reply.body);
}

#[tokio::test]
async fn a_recursive_view_includes_datastores_inside_storage_pods() {
    let sim = start_basic();
    let mut soap = Soap::logged_in(&sim, "asr@vsphere.local", "s3cret").await;
    let reply = soap
        .retrieve(
            &[
                ("Datastore", &["name", "parent"]),
                (
                    "StoragePod",
                    &[
                        "name",
                        "childEntity",
                        "podStorageDrsEntry.storageDrsConfig.podConfig.enabled",
                        "podStorageDrsEntry.storageDrsConfig.podConfig.defaultVmBehavior",
                        "podStorageDrsEntry.storageDrsConfig.vmConfig",
                    ],
                ),
            ],
            None,
        )
        .await;
    let found = objects(&reply.body);
    let gold = found
        .iter()
        .find(|o| o.prop("name").as_deref() == Some("vmfs-gold-01"))
        .expect("the pod's datastore is in the view");
    let pod = found
        .iter()
        .find(|o| o.kind == "StoragePod")
        .expect("pod in the view");
    assert!(
        gold.raw("parent")
            .contains(&format!(r#"type="StoragePod">{}<"#, pod.moref)),
        "{gold:?}"
    );
    assert!(pod.raw("childEntity").contains(&gold.moref), "{pod:?}");
    assert_eq!(
        pod.prop("podStorageDrsEntry.storageDrsConfig.podConfig.enabled")
            .as_deref(),
        Some("true")
    );
    assert_eq!(
        pod.prop("podStorageDrsEntry.storageDrsConfig.podConfig.defaultVmBehavior")
            .as_deref(),
        Some("automated")
    );
    // Only mt-lnx-01 overrides the pod (manual); mt-win-01 follows it.
    let vm_config = pod.raw("podStorageDrsEntry.storageDrsConfig.vmConfig");
    assert_eq!(vm_config.matches("<vm ").count(), 1, "{vm_config}");
    assert!(
        vm_config.contains("<behavior>manual</behavior>"),
        "{vm_config}"
    );
}

#[tokio::test]
async fn datastores_list_every_mount_with_its_access_mode() {
    let sim = start_basic();
    let mut soap = Soap::logged_in(&sim, "asr@vsphere.local", "s3cret").await;
    let seen = soap.inventory().await;
    let reply = soap
        .retrieve(
            &[(
                "Datastore",
                &[
                    "name",
                    "host",
                    "summary.type",
                    "summary.capacity",
                    "summary.freeSpace",
                ],
            )],
            None,
        )
        .await;
    let by_name: BTreeMap<String, Obj> = objects(&reply.body)
        .into_iter()
        .map(|o| (o.prop("name").unwrap_or_default(), o))
        .collect();
    let local = &by_name["vmfs-local-01"];
    let mounts: Vec<(String, String)> = local
        .raw("host")
        .split("<DatastoreHostMount>")
        .skip(1)
        .map(|m| {
            (
                text_of(m, "key").unwrap_or_default(),
                text_of(m, "accessMode").unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        mounts,
        [
            (
                seen["esx01.lab.local"].moref.clone(),
                "readWrite".to_owned()
            ),
            (seen["esx02.lab.local"].moref.clone(), "readOnly".to_owned()),
        ]
    );
    assert_eq!(
        by_name["nfs-01"]
            .raw("host")
            .matches("<DatastoreHostMount>")
            .count(),
        3
    );
    assert_eq!(
        by_name["nfs-01"].prop("summary.type").as_deref(),
        Some("NFS")
    );
    assert_eq!(local.prop("summary.type").as_deref(), Some("VMFS"));
    assert_eq!(
        local.prop("summary.capacity").as_deref(),
        Some((2048u64 << 30).to_string().as_str())
    );
    assert_eq!(
        local.prop("summary.freeSpace").as_deref(),
        Some((1800u64 << 30).to_string().as_str())
    );
}

async fn reconfigure(soap: &mut Soap, vm: &str, key: &str, value: &str) -> String {
    let reply = soap
        .call(&format!(
            r#"<ReconfigVM_Task xmlns="urn:vim25"><_this type="VirtualMachine">{vm}</_this><spec><extraConfig><key>{key}</key><value xsi:type="xsd:string">{value}</value></extraConfig></spec></ReconfigVM_Task>"#
        ))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    text_of(&reply.body, "returnval").expect("task reference")
}

async fn extra_config(soap: &mut Soap, vm: &str) -> Vec<(String, String)> {
    let reply = soap
        .call(&format!(
            r#"<RetrievePropertiesEx xmlns="urn:vim25"><_this type="PropertyCollector">propertyCollector</_this><specSet><propSet><type>VirtualMachine</type><pathSet>config.extraConfig</pathSet></propSet><objectSet><obj type="VirtualMachine">{vm}</obj></objectSet></specSet><options/></RetrievePropertiesEx>"#
        ))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply
        .body
        .split("<OptionValue")
        .skip(1)
        .map(|o| {
            (
                text_of(o, "key").unwrap_or_default(),
                text_of(o, "value").unwrap_or_default(),
            )
        })
        .collect()
}

#[tokio::test]
async fn reconfigure_replaces_an_extra_config_key_and_removes_it_when_empty() {
    let sim = start_basic();
    let mut soap = Soap::logged_in(&sim, "asr@vsphere.local", "s3cret").await;
    let vm = soap.inventory().await["app-win-01"].moref.clone();
    let pair = |k: &str, v: &str| (k.to_owned(), v.to_owned());
    // The estate's key, and nothing of vcsim's own (`govcsim`).
    assert_eq!(
        extra_config(&mut soap, &vm).await,
        [pair("disk.EnableUUID", "FALSE")]
    );

    let task = reconfigure(&mut soap, &vm, "disk.EnableUUID", "TRUE").await;
    let info = soap.task_info(&task).await;
    assert_eq!(info.prop("info.state").as_deref(), Some("success"));
    assert_eq!(
        extra_config(&mut soap, &vm).await,
        [pair("disk.EnableUUID", "TRUE")]
    );

    reconfigure(&mut soap, &vm, "failback.note", "x").await;
    reconfigure(&mut soap, &vm, "disk.EnableUUID", "").await;
    assert_eq!(
        extra_config(&mut soap, &vm).await,
        [pair("failback.note", "x")]
    );
}

#[tokio::test]
async fn an_injected_task_failure_ends_the_task_in_error_without_effect() {
    let sim = start_basic();
    let mut soap = Soap::logged_in(&sim, "asr@vsphere.local", "s3cret").await;
    let seen = soap.inventory().await;
    let legacy = seen["legacy-01"].moref.clone();
    // The harness's own steering keys are not shown to clients.
    assert!(extra_config(&mut soap, &legacy).await.is_empty());

    let task = reconfigure(&mut soap, &legacy, "disk.EnableUUID", "TRUE").await;
    let info = soap.task_info(&task).await;
    assert_eq!(info.prop("info.state").as_deref(), Some("error"));
    assert_eq!(
        info.prop("info.descriptionId").as_deref(),
        Some("VirtualMachine.reconfigVm")
    );
    let error = info.raw("info.error");
    assert!(error.contains(r#"type="TaskInProgress""#), "{error}");
    assert!(
        error.contains("<localizedMessage>Another task is already in progress.</localizedMessage>"),
        "{error}"
    );
    assert!(extra_config(&mut soap, &legacy).await.is_empty());

    // Another VM's reconfigure is untouched by the injection.
    let other = seen["db-lnx-01"].moref.clone();
    let task = reconfigure(&mut soap, &other, "disk.EnableUUID", "TRUE").await;
    assert_eq!(
        soap.task_info(&task).await.prop("info.state").as_deref(),
        Some("success")
    );

    let reply = soap
        .call(&format!(
            r#"<RemoveAllSnapshots_Task xmlns="urn:vim25"><_this type="VirtualMachine">{legacy}</_this><consolidate>true</consolidate></RemoveAllSnapshots_Task>"#
        ))
        .await;
    let task = text_of(&reply.body, "returnval").expect("task");
    let info = soap.task_info(&task).await;
    assert_eq!(info.prop("info.state").as_deref(), Some("error"));
    assert!(
        info.raw("info.error")
            .contains("An error occurred while consolidating disks"),
        "{:?}",
        info
    );
}

#[tokio::test]
async fn paging_honours_max_objects_and_serves_continue_with_a_token() {
    let sim = start_basic();
    let mut soap = Soap::logged_in(&sim, "asr@vsphere.local", "s3cret").await;
    let props: &[(&str, &[&str])] = &[
        ("VirtualMachine", &["name"]),
        ("HostSystem", &["name"]),
        ("Datastore", &["name"]),
        ("StoragePod", &["name"]),
    ];
    let whole = soap.retrieve(props, None).await;
    assert!(!whole.body.contains("<token>"), "{}", whole.body);
    let all: Vec<String> = objects(&whole.body).into_iter().map(|o| o.moref).collect();
    assert_eq!(all.len(), 12);

    let mut reply = soap.retrieve(props, Some(5)).await;
    let mut paged = Vec::new();
    let mut pages = 0;
    loop {
        assert_eq!(reply.status, 200, "{}", reply.body);
        let page: Vec<String> = objects(&reply.body).into_iter().map(|o| o.moref).collect();
        assert!(page.len() <= 5, "page of {}", page.len());
        paged.extend(page);
        pages += 1;
        let Some(token) = text_of(&reply.body, "token") else {
            break;
        };
        reply = soap
            .call(&format!(
                r#"<ContinueRetrievePropertiesEx xmlns="urn:vim25"><_this type="PropertyCollector">propertyCollector</_this><token>{token}</token></ContinueRetrievePropertiesEx>"#
            ))
            .await;
        // A token is good once.
        if pages == 1 {
            let again = soap
                .call(&format!(
                    r#"<ContinueRetrievePropertiesEx xmlns="urn:vim25"><_this type="PropertyCollector">propertyCollector</_this><token>{token}</token></ContinueRetrievePropertiesEx>"#
                ))
                .await;
            assert_eq!(again.status, 500, "{}", again.body);
            assert!(
                again.body.contains("<InvalidArgumentFault"),
                "{}",
                again.body
            );
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(paged, all);
}

#[test]
fn an_invalid_estate_stops_the_harness_with_the_json_path() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bad.json");
    std::fs::write(
        &path,
        r#"{"vcenter": {"datacenter": "DC", "hosts": [{"name": "h", "colour": 1}]},
            "vault": {"subscription_id": "s", "resource_group": "r", "name": "v"}}"#,
    )
    .expect("write");
    let err = Vcsim::start(&path).expect_err("must refuse");
    let VcsimError::Exited { stderr, .. } = &err else {
        panic!("unexpected error: {err}");
    };
    assert!(stderr.contains("at `vcenter.hosts[0].colour`"), "{stderr}");
    assert!(stderr.contains("unknown field `colour`"), "{stderr}");

    std::fs::write(
        &path,
        r#"{"vcenter": {"datacenter": "DC", "hosts": [{"name": "h"}],
              "datastores": [{"name": "d", "type": "VMFS", "capacity_gb": 10, "free_gb": 5, "mounts": [{"host": "h"}]}],
              "vms": [{"name": "v", "guest_id": "otherGuest", "host": "h", "datastore": "d", "scsi": "ide"}]},
            "vault": {"subscription_id": "s", "resource_group": "r", "name": "v"}}"#,
    )
    .expect("write");
    let err = Vcsim::start(&path).expect_err("must refuse");
    let message = err.to_string();
    assert!(message.contains("at `vcenter.vms[0].scsi`"), "{message}");
    assert!(message.contains("unknown variant `ide`"), "{message}");
}

#[test]
fn start_estate_serves_an_estate_value_and_drop_stops_the_process() {
    let estate = basic_estate();
    let sim = Vcsim::start_estate(&estate).expect("harness starts");
    let pid = sim.pid;
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    assert!(proc_dir.exists());
    // The run's directory (certificates, the datastores' files) goes with it.
    let run_dir = sim
        .ca_file
        .parent()
        .and_then(Path::parent)
        .expect("ca file sits in <run dir>/certs")
        .to_owned();
    assert!(run_dir.join("work").is_dir());
    drop(sim);
    assert!(!proc_dir.exists(), "harness {pid} still running after drop");
    assert!(!run_dir.exists(), "{} left behind", run_dir.display());
}

/// Runs the govmomi anchor against a harness and returns (vms, round_trips).
fn run_anchor(sim: &Vcsim, user: &str, password: &str) -> (usize, usize) {
    let anchor = failback_sim::vcsim::anchor().expect("anchor built");
    let output = std::process::Command::new(&anchor)
        .args(["-url", &sim.url, "-user", user, "-ca-file"])
        .arg(&sim.ca_file)
        .args(["-timeout", "60s"])
        .env("VSPHERE_PASSWORD", password)
        .output()
        .expect("anchor runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout.trim();
    assert!(line.starts_with("anchor vms="), "{line}");
    let field = |key: &str| -> usize {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(key))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {key} in `{line}`"))
    };
    assert!(line.contains(" wall_s="), "{line}");
    (field("vms="), field("round_trips="))
}

#[test]
fn the_anchor_discovers_every_vm_in_round_trips_that_do_not_grow_with_vms() {
    let small = Vcsim::start_estate(&failback_sim::vcsim::scale_estate(10)).expect("10 VMs");
    let (vms, small_trips) = run_anchor(&small, "administrator@vsphere.local", "VMware1!");
    assert_eq!(vms, 10);
    drop(small);

    let larger = Vcsim::start_estate(&failback_sim::vcsim::scale_estate(150)).expect("150 VMs");
    let (vms, larger_trips) = run_anchor(&larger, "administrator@vsphere.local", "VMware1!");
    assert_eq!(vms, 150);
    assert_eq!(larger_trips, small_trips);

    // The anchor honours the harness's users too.
    let anchor = failback_sim::vcsim::anchor().expect("anchor built");
    let output = std::process::Command::new(&anchor)
        .args(["-url", &larger.url, "-user", "administrator@vsphere.local"])
        .args(["-password", "wrong", "-ca-file"])
        .arg(&larger.ca_file)
        .output()
        .expect("anchor runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("incorrect user name or password"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_task_delay_keeps_the_task_running_before_its_outcome() {
    let mut estate = basic_estate();
    let vm = estate
        .vcenter
        .vms
        .iter_mut()
        .find(|v| v.name == "mt-win-01")
        .expect("mt-win-01");
    vm.extra_config
        .insert("failback.sim.taskDelayMs".to_owned(), "1500".to_owned());
    let sim = Vcsim::start_estate(&estate).expect("harness starts");
    let mut soap = Soap::logged_in(&sim, "asr@vsphere.local", "s3cret").await;
    let vm = soap.inventory().await["mt-win-01"].moref.clone();

    let task = reconfigure(&mut soap, &vm, "disk.EnableUUID", "TRUE").await;
    assert_eq!(
        soap.task_info(&task).await.prop("info.state").as_deref(),
        Some("running")
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let state = soap.task_info(&task).await.prop("info.state");
        if state.as_deref() == Some("success") {
            break;
        }
        assert_eq!(state.as_deref(), Some("running"));
        assert!(std::time::Instant::now() < deadline, "task never finished");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        extra_config(&mut soap, &vm).await,
        [("disk.EnableUUID".to_owned(), "TRUE".to_owned())]
    );
}

/// Startup of generated estates; a measurement, not a check (run with `--ignored
/// --nocapture`). Prints one `vcsim_startup` line per size.
#[test]
#[ignore = "measurement: takes minutes on a loaded machine"]
fn measure_startup_of_generated_estates() {
    for n in [100, 1000, 5000] {
        let sim = Vcsim::start_estate(&failback_sim::vcsim::scale_estate(n)).expect("starts");
        let rss_kb = std::fs::read_to_string(format!("/proc/{}/status", sim.pid))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("VmRSS:"))
                    .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            })
            .unwrap_or(0);
        let started = std::time::Instant::now();
        let (vms, trips) = run_anchor(&sim, "administrator@vsphere.local", "VMware1!");
        println!(
            "vcsim_startup vms={n} startup_s={:.2} rss_mb={} anchor_vms={vms} anchor_round_trips={trips} anchor_s={:.2}",
            sim.startup.as_secs_f64(),
            rss_kb / 1024,
            started.elapsed().as_secs_f64()
        );
    }
}

/// Starts the binary directly and returns the child and its ready line.
fn spawn_binary(args: &[&str]) -> (std::process::Child, serde_json::Value) {
    let binary = failback_sim::vcsim::build().expect("harness built");
    let mut child = std::process::Command::new(binary)
        .arg("--estate")
        .arg(estate_path("vcenter-basic.json"))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    // The harness is built already: its ready line comes in well under a minute.
    let ready = support::ready_line(&mut child, Duration::from_secs(60));
    (child, ready)
}

fn wait_with_deadline(child: &mut std::process::Child) -> std::process::ExitStatus {
    support::wait_exit(child, Duration::from_secs(10))
}

#[test]
fn the_ready_line_is_one_json_object_and_sigterm_stops_cleanly() {
    let (mut child, ready) = spawn_binary(&[]);
    let keys: Vec<&str> = ready
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    for key in [
        "url",
        "ca_file",
        "thumbprint_sha256",
        "thumbprint_sha1",
        "datacenter",
        "users",
        "pid",
    ] {
        assert!(keys.contains(&key), "{key} missing from {ready}");
    }
    assert_eq!(ready["pid"].as_u64(), Some(u64::from(child.id())));
    let ca_file = PathBuf::from(ready["ca_file"].as_str().expect("ca_file"));
    assert!(ca_file.exists());

    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let status = wait_with_deadline(&mut child);
    assert!(status.success(), "{status}");
    // Its temp dir (holding the default cert dir) is gone.
    assert!(!ca_file.exists(), "{} left behind", ca_file.display());
}

#[tokio::test]
async fn plain_http_on_request_and_never_off_loopback() {
    let (mut child, ready) = spawn_binary(&["--no-tls"]);
    let url = ready["url"].as_str().expect("url").to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert!(ready["ca_file"].is_null() && ready["thumbprint_sha256"].is_null());
    let body = reqwest::get(url.replace("/sdk", "/sdk/vimServiceVersions.xml"))
        .await
        .expect("plain HTTP answers")
        .text()
        .await
        .expect("body");
    assert!(body.contains("urn:vim25"), "{body}");
    drop(child.stdin.take());
    assert!(wait_with_deadline(&mut child).success());

    let binary = failback_sim::vcsim::build().expect("harness built");
    let output = std::process::Command::new(binary)
        .arg("--estate")
        .arg(estate_path("vcenter-basic.json"))
        .args(["--listen", "0.0.0.0:0"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("only loopback addresses"), "{stderr}");
    assert!(output.stdout.is_empty());
}

#[tokio::test]
async fn a_permission_on_one_vm_overrides_the_inherited_privileges_and_refuses_its_tasks() {
    let mut estate = basic_estate();
    let asr = estate
        .vcenter
        .users
        .iter_mut()
        .find(|user| user.name == "asr@vsphere.local")
        .expect("the fixture has the asr user");
    asr.vm_privileges.insert(
        "mt-lnx-01".to_owned(),
        vec!["System.View".to_owned(), "System.Read".to_owned()],
    );
    let sim = Vcsim::start_estate(&estate).expect("harness starts");
    let mut soap = Soap::logged_in(&sim, "asr@vsphere.local", "s3cret").await;
    let seen = soap.inventory().await;
    let narrowed = seen["mt-lnx-01"].moref.clone();
    let other = seen["mt-win-01"].moref.clone();
    let key = soap.cookie.clone().unwrap_or_default();

    let reply = soap
        .call(&format!(
            r#"<HasPrivilegeOnEntities xmlns="urn:vim25"><_this type="AuthorizationManager">AuthorizationManager</_this><entity type="VirtualMachine">{narrowed}</entity><entity type="VirtualMachine">{other}</entity><sessionId>{key}</sessionId><privId>System.Read</privId><privId>VirtualMachine.Config.AdvancedConfig</privId></HasPrivilegeOnEntities>"#
        ))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let granted: Vec<bool> = reply
        .body
        .split("<privAvailability>")
        .skip(1)
        .map(|p| text_of(p, "isGranted").as_deref() == Some("true"))
        .collect();
    assert_eq!(granted, [true, false, true, true]);

    // vCenter checks the privilege before it creates the task: a fault, no task.
    let reply = soap
        .call(&format!(
            r#"<ReconfigVM_Task xmlns="urn:vim25"><_this type="VirtualMachine">{narrowed}</_this><spec><extraConfig><key>failback.note</key><value xsi:type="xsd:string">x</value></extraConfig></spec></ReconfigVM_Task>"#
        ))
        .await;
    assert_eq!(reply.status, 500, "{}", reply.body);
    assert!(
        reply.body.contains(r#"xsi:type="NoPermission""#),
        "{}",
        reply.body
    );
    assert!(
        reply.body.contains(&format!(
            r#"<object type="VirtualMachine">{narrowed}</object><privilegeId>VirtualMachine.Config.AdvancedConfig</privilegeId>"#
        )),
        "{}",
        reply.body
    );
    assert!(
        !extra_config(&mut soap, &narrowed)
            .await
            .iter()
            .any(|(key, _)| key == "failback.note"),
        "the refused reconfigure changed the VM"
    );
    let reply = soap
        .call(&format!(
            r#"<RemoveAllSnapshots_Task xmlns="urn:vim25"><_this type="VirtualMachine">{narrowed}</_this><consolidate>true</consolidate></RemoveAllSnapshots_Task>"#
        ))
        .await;
    assert!(
        reply
            .body
            .contains("<privilegeId>VirtualMachine.State.RemoveSnapshot</privilegeId>"),
        "{}",
        reply.body
    );

    // The same user's privileges from the root still hold on the other VM.
    let task = reconfigure(&mut soap, &other, "disk.EnableUUID", "TRUE").await;
    assert_eq!(
        soap.task_info(&task).await.prop("info.state").as_deref(),
        Some("success")
    );
}

#[test]
fn vm_privileges_must_name_a_vm_of_the_estate() {
    let mut estate = basic_estate();
    estate.vcenter.users[1]
        .vm_privileges
        .insert("no-such-vm".to_owned(), vec!["System.View".to_owned()]);
    let err = Vcsim::start_estate(&estate).expect_err("the harness refuses the estate");
    let VcsimError::Exited {
        stderr: message, ..
    } = &err
    else {
        panic!("unexpected error: {err}");
    };
    assert!(
        message.contains("vcenter.users[1].vm_privileges.no-such-vm")
            && message.contains("no VM named `no-such-vm`"),
        "{message}"
    );
}
