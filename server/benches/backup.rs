//! Backups (issue #5): how long a backup, a verification and a restore take, and how big the backup
//! is, for a database with 250,000 sales and 1,000,000 sale lines, on SQLite and on PostgreSQL (a
//! throwaway cluster); and the p50/p99 latency of sales written over HTTP with no backup running
//! versus while backups run back to back. Prints Markdown tables for BENCHMARKS.md.
//!
//!     PATH=/usr/lib/postgresql/15/bin:$PATH cargo bench -p server --bench backup

mod common;
#[allow(dead_code)]
#[path = "../tests/api/postgres.rs"]
mod postgres;

use std::{
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc,
    },
    time::Instant,
};

use hdrhistogram::Histogram;
use serde_json::{json, Value};
use uuid::Uuid;

const SALES: i64 = 250_000;
const LINES_PER_SALE: i64 = 4;
const ALLOW_NEGATIVE: bool = true;
const TIMEOUT_SECS: u64 = 600;
const CLIENTS: usize = 16;
const LATENCY_SALES: usize = 1500;

use common::Bench;

async fn spawn(database_url: Option<String>) -> Bench {
    common::bench(database_url, ALLOW_NEGATIVE, TIMEOUT_SECS, CLIENTS, 0).await
}

/// SALES sales of LINES_PER_SALE lines each, written with SQL (the same statement on both engines).
async fn fill(b: &Bench) {
    let series = format!("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {SALES})");
    sqlx::query(&format!(
        "{series} INSERT INTO sales (id, cash_session_id, customer_id, total_cents, paid_cents, change_cents, created_by, created_at, request_hash) \
         SELECT 'bench-sale-' || i, $1, NULL, {t}, {t}, 0, 'admin', '2026-11-01T10:00:00.000Z', 'x' FROM n",
        t = 100 * LINES_PER_SALE
    ))
    .bind(&b.session)
    .execute(&b.db.pool())
    .await
    .unwrap();
    let lines = (1..=LINES_PER_SALE).map(|l| format!("SELECT {l} AS l")).collect::<Vec<_>>().join(" UNION ALL ");
    sqlx::query(&format!(
        "{series} INSERT INTO sale_lines (sale_id, line_no, product_id, quantity, unit_price_cents, total_cents) \
         SELECT 'bench-sale-' || i, ls.l, $1, 1, 100, 100 FROM n CROSS JOIN ({lines}) ls"
    ))
    .bind(&b.product)
    .execute(&b.db.pool())
    .await
    .unwrap();
}

async fn post(b: &Bench, path: &str) -> (f64, Value) {
    let started = Instant::now();
    let r = b.client.post(format!("{}{path}", b.base)).send().await.unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert!(status.is_success(), "{path}: {body}");
    (started.elapsed().as_secs_f64(), body)
}

/// p50/p99 of LATENCY_SALES one-line sales from CLIENTS clients.
async fn latency(b: &Bench) -> (f64, f64) {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let (client, url, next) = (b.client.clone(), format!("{}/api/sales", b.base), next.clone());
        let (session, product) = (b.session.clone(), b.product.clone());
        tasks.push(tokio::spawn(async move {
            let mut h = Histogram::<u64>::new(3).unwrap();
            while next.fetch_add(1, Ordering::Relaxed) < LATENCY_SALES {
                let body = json!({"id": Uuid::new_v4(), "cash_session_id": session, "lines": [{"product_id": product, "quantity": 1}],
                                  "payments": [{"method": "cash", "amount_cents": 100}]});
                let t = Instant::now();
                let r = client.post(&url).json(&body).send().await.unwrap();
                assert_eq!(r.status(), 201, "{:?}", r.text().await);
                h.record(t.elapsed().as_micros() as u64).unwrap();
            }
            h
        }));
    }
    let mut all = Histogram::<u64>::new(3).unwrap();
    for t in tasks {
        all.add(t.await.unwrap()).unwrap();
    }
    (all.value_at_quantile(0.5) as f64 / 1000.0, all.value_at_quantile(0.99) as f64 / 1000.0)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let cluster = postgres::PgCluster::start();
    let mut sizes = Vec::new();
    let mut latencies = Vec::new();
    for engine in ["sqlite", "postgres"] {
        let url = (engine == "postgres").then(|| rt.block_on(cluster.create_database()));
        let b = rt.block_on(spawn(url));
        let fill_started = Instant::now();
        rt.block_on(fill(&b));
        let fill_s = fill_started.elapsed().as_secs_f64();
        let (backup_s, meta) = rt.block_on(post(&b, "/api/backups"));
        let id = meta["id"].as_str().unwrap().to_owned();
        let (verify_s, report) = rt.block_on(post(&b, &format!("/api/backups/{id}/verify")));
        assert_eq!(report["ok"], true, "{report}");
        let (restore_s, _) = rt.block_on(post(&b, &format!("/api/backups/{id}/restore")));
        let raw = meta["raw_size_bytes"].as_u64().unwrap() as f64;
        let packed = meta["size_bytes"].as_u64().unwrap() as f64;
        sizes.push(format!(
            "| {engine} | {} | {fill_s:.1} | {backup_s:.1} | {verify_s:.1} | {restore_s:.1} | {:.1} | {:.1} | {:.3} |",
            meta["row_counts"]["sale_lines"],
            raw / 1_048_576.0,
            packed / 1_048_576.0,
            packed / raw
        ));

        let idle = rt.block_on(latency(&b));
        let running = Arc::new(AtomicBool::new(true));
        let backups = {
            let (client, base, running) = (b.client.clone(), b.base.clone(), running.clone());
            rt.spawn(async move {
                let mut n = 0;
                while running.load(Ordering::Relaxed) {
                    let r = client.post(format!("{base}/api/backups")).send().await.unwrap();
                    assert!(r.status().is_success());
                    n += 1;
                }
                n
            })
        };
        let during = rt.block_on(latency(&b));
        running.store(false, Ordering::Relaxed);
        let n = rt.block_on(backups).unwrap();
        latencies.push(format!("| {engine} | no backup running | {:.1} | {:.1} | |", idle.0, idle.1));
        latencies.push(format!("| {engine} | backups back to back | {:.1} | {:.1} | {n} |", during.0, during.1));
        latencies.push(format!("| {engine} | p99 during ÷ idle | | {:.2} | |", during.1 / idle.1));
    }
    println!("| engine | sale lines | fill s | backup s | verify s | restore s | raw MiB | compressed MiB | compressed ÷ raw |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for s in sizes {
        println!("{s}");
    }
    println!();
    println!("| engine | {LATENCY_SALES} sales, {CLIENTS} clients | p50 ms | p99 ms | backups taken |");
    println!("|---|---|---:|---:|---:|");
    for l in latencies {
        println!("{l}");
    }
    cluster.cleanup();
}
