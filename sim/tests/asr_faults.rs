//! Fault injection: 429 with Retry-After, 500/503, dropped connections, repeatable by
//! seed, never on the admin path.

mod support;

use failback_sim::asr::SimOptions;
use failback_sim::estate::Estate;
use support::*;

fn faulty(r429: f64, r5xx: f64, drop: f64, seed: u64) -> Estate {
    let mut estate = estate("vault-reprotect-basics.json");
    let faults = &mut estate.vault.behaviour.faults;
    faults.http_429_rate = r429;
    faults.http_5xx_rate = r5xx;
    faults.drop_rate = drop;
    faults.seed = seed;
    estate
}

/// What a client sees for one GET: a status, or `None` for a dropped connection.
async fn outcome(sim: &failback_sim::asr::RunningAsrSimulator) -> Option<u16> {
    client()
        .get(sim.vault_url("replicationFabrics"))
        .bearer_auth(sim.token())
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

#[tokio::test]
async fn throttling_answers_429_with_retry_after() {
    let sim = start(faulty(1.0, 0.0, 0.0, 1), SimOptions::default()).await;
    let reply = get(&sim, "replicationFabrics").await;
    assert_eq!(reply.status, 429);
    assert_eq!(reply.header("retry-after").as_deref(), Some("1"));
    assert_eq!(reply.error_code(), "TooManyRequests");
}

#[tokio::test]
async fn server_errors_are_500_or_503() {
    let sim = start(faulty(0.0, 1.0, 0.0, 3), SimOptions::default()).await;
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..20 {
        let reply = get(&sim, "replicationFabrics").await;
        assert!(
            reply.status == 500 || reply.status == 503,
            "{}",
            reply.status
        );
        assert!(!reply.error_code().is_empty());
        seen.insert(reply.status);
    }
    assert_eq!(seen.len(), 2, "both 500 and 503 drawn in 20 requests");
}

#[tokio::test]
async fn dropped_connections_close_without_an_answer() {
    let sim = start(faulty(0.0, 0.0, 1.0, 5), SimOptions::default()).await;
    for _ in 0..5 {
        let result = client()
            .get(sim.vault_url("replicationFabrics"))
            .bearer_auth(sim.token())
            .send()
            .await;
        let err = match result {
            Ok(response) => panic!("answered {}", response.status()),
            Err(err) => err,
        };
        assert!(!err.is_timeout(), "closed, not timed out: {err}");
    }
    assert_eq!(sim.calls("GET */replicationFabrics"), 5);
}

#[tokio::test]
async fn a_drop_after_handling_still_performs_the_action() {
    // Every request is dropped; over several reprotect POSTs, some are handled first
    // (the answer is lost), which is what a client's idempotency must survive.
    let mut estate = faulty(0.0, 0.0, 1.0, 11);
    estate.vault.behaviour.reprotect_job_s = 3600.0;
    let sim = start(estate, SimOptions::default()).await;
    let item = "replicationFabrics/cs01/replicationProtectionContainers/{c}/replicationProtectedItems/web01-item";
    let container = failback_sim::asr::world::container_name("cs01");
    let url = sim.vault_url(&format!("{}/reProtect", item.replace("{c}", &container)));
    for _ in 0..6 {
        let result = client()
            .post(&url)
            .bearer_auth(sim.token())
            .json(&linux_input(&sim))
            .send()
            .await;
        assert!(result.is_err());
    }
    assert_eq!(
        sim.reprotect_accepted("web01-item"),
        1,
        "handled once, then refused as in progress"
    );
    assert!(sim.reprotect_requests("web01-item") >= 1);
    assert_eq!(
        sim.protection_state("web01-item").as_deref(),
        Some("UnplannedFailoverCommitted")
    );
}

#[tokio::test]
async fn same_seed_same_faults() {
    let mut runs = Vec::new();
    for _ in 0..2 {
        let sim = start(faulty(0.2, 0.2, 0.2, 42), SimOptions::default()).await;
        let mut seen = Vec::new();
        for _ in 0..30 {
            seen.push(outcome(&sim).await);
        }
        runs.push(seen);
    }
    assert_eq!(runs[0], runs[1]);
    assert!(runs[0].contains(&Some(200)));
    assert!(runs[0].contains(&Some(429)));
    assert!(runs[0].contains(&None));
    // The seed override gives another sequence.
    let sim = start(
        faulty(0.2, 0.2, 0.2, 42),
        SimOptions {
            fault_seed: Some(43),
            ..SimOptions::default()
        },
    )
    .await;
    let mut other = Vec::new();
    for _ in 0..30 {
        other.push(outcome(&sim).await);
    }
    assert_ne!(runs[0], other);
}

#[tokio::test]
async fn admin_path_is_never_faulted() {
    let sim = start(faulty(0.4, 0.3, 0.3, 9), SimOptions::default()).await;
    for _ in 0..20 {
        let reply = admin(&sim, reqwest::Method::GET, "/_sim/clock", None).await;
        assert_eq!(reply.status, 200);
    }
    assert_eq!(
        sim.calls("*"),
        0,
        "admin calls are not counted as ARM calls"
    );
}
