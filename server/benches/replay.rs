//! Reconciliation cost: N sales made on a standby in emergency mode (one keyed HTTP request each,
//! one after another, as a phone's queue would arrive), then replayed into the primary by
//! `POST /api/ha/reconcile`, then replayed again in full (`all`: every one already present).
//! SQLite and PostgreSQL. Prints a Markdown table; the numbers go into BENCHMARKS.md by hand.

mod common;
#[allow(dead_code)]
#[path = "../tests/api/postgres.rs"]
mod postgres;

use std::time::{Duration, Instant};

use mostrador::config::NodeRole;
use serde_json::{json, Value};
use uuid::Uuid;

const SALES: usize = 2000;
const SECRET: &str = "q3ZJ0v5m1c6QeXW1JxU0yq0o8c1Wn3b8V1cB7kq3p0E";

struct Times {
    make: Duration,
    replay: Duration,
    again: Duration,
}

async fn run(primary_url: Option<String>, standby_url: Option<String>) -> Times {
    let (pdir, sdir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut sc = common::serve_config(sdir.path(), standby_url);
    sc.ha.role = NodeRole::Standby;
    sc.ha.ha_secret = Some(SECRET.into());
    let standby = common::spawn(sc, false, 4).await;
    let mut pc = common::serve_config(pdir.path(), primary_url);
    pc.ha.standby_url = Some(standby.base.clone());
    pc.ha.ha_secret = Some(SECRET.into());
    // Loopback plain http (insecure, for tests and benches only).
    pc.ha.ha_insecure_http = true;
    let primary = common::spawn(pc, true, 4).await;
    let (p, pb) = (&primary.client, &primary.base);
    let (session, product) = common::open_till_with_product(p, pb, 1_000_000).await;
    // The standby gets the primary's data (and its admin), then takes writes in emergency mode.
    let shipped: Value = p.post(format!("{pb}/api/ha/ship")).send().await.unwrap().json().await.unwrap();
    assert_eq!(shipped["status"], "shipped", "{shipped}");
    let (s, sb) = (&standby.client, &standby.base);
    common::sign_in(s, sb).await;
    let r = s.put(format!("{sb}/api/ha/emergency")).json(&json!({"on": true})).send().await.unwrap();
    assert!(r.status().is_success());

    let started = Instant::now();
    for _ in 0..SALES {
        let r = s
            .post(format!("{sb}/api/sales"))
            .header("Idempotency-Key", Uuid::new_v4().to_string())
            .json(&json!({"id": Uuid::new_v4(), "cash_session_id": session, "lines": [{"product_id": product, "quantity": 1}],
                "payments": [{"method": "cash", "amount_cents": 100}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    let make = started.elapsed();
    s.put(format!("{sb}/api/ha/emergency")).json(&json!({"on": false})).send().await.unwrap();

    let started = Instant::now();
    let report: Value = p.post(format!("{pb}/api/ha/reconcile")).send().await.unwrap().json().await.unwrap();
    let replay = started.elapsed();
    assert_eq!(report["applied"], SALES as u64, "{report}");
    let started = Instant::now();
    let report: Value = p
        .post(format!("{pb}/api/ha/reconcile"))
        .json(&json!({"all": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let again = started.elapsed();
    assert_eq!(report["already_present"], SALES as u64, "{report}");
    Times { make, replay, again }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let cluster = postgres::PgCluster::start();
    println!("| engine | {SALES} emergency sales | seconds | sales/s | ÷ making them |");
    println!("|---|---|---:|---:|---:|");
    for engine in ["sqlite", "postgres"] {
        let urls = (engine == "postgres")
            .then(|| (rt.block_on(cluster.create_database()), rt.block_on(cluster.create_database())));
        let t = rt.block_on(run(urls.as_ref().map(|u| u.0.clone()), urls.map(|u| u.1)));
        let row = |case: &str, d: Duration| {
            println!(
                "| {engine} | {case} | {:.1} | {:.0} | {:.2} |",
                d.as_secs_f64(),
                SALES as f64 / d.as_secs_f64(),
                d.as_secs_f64() / t.make.as_secs_f64()
            );
        };
        row("made on the standby, one keyed request each", t.make);
        row("reconciled into the primary (applied)", t.replay);
        row("reconciled again, all (already present)", t.again);
    }
}
