//! Sales throughput: 64 concurrent HTTP clients with and without Idempotency-Key, the same sale
//! in-process without HTTP (the ceiling), and a 10,000-operation queue drained through
//! /api/sync/push versus one request per operation. SQLite and PostgreSQL (a throwaway cluster).
//! Prints a Markdown table; the numbers go into BENCHMARKS.md by hand, with the machine.

mod common;
#[allow(dead_code)]
#[path = "../tests/api/postgres.rs"]
mod postgres;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use hdrhistogram::Histogram;
use serde_json::{json, Value};
use uuid::Uuid;

const ALLOW_NEGATIVE: bool = false;
const TIMEOUT_SECS: u64 = 60;
const CLIENTS: usize = 64;
const SALES: usize = 4000;
const QUEUE: usize = 10_000;

use common::Bench;

async fn spawn(database_url: Option<String>) -> Bench {
    common::bench(database_url, ALLOW_NEGATIVE, TIMEOUT_SECS, CLIENTS, 100_000_000).await
}

fn sale_body(b: &Bench) -> Value {
    json!({"id": Uuid::new_v4(), "cash_session_id": b.session, "lines": [{"product_id": b.product, "quantity": 1}],
           "payments": [{"method": "cash", "amount_cents": 100}]})
}

struct Run {
    per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// `SALES` sales over HTTP from `CLIENTS` concurrent clients.
async fn http_sales(b: &Bench, keyed: bool) -> Run {
    let started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let client = b.client.clone();
        let url = format!("{}/api/sales", b.base);
        let next = next.clone();
        let bodies: Vec<Value> = (0..SALES / CLIENTS + 1).map(|_| sale_body(b)).collect();
        tasks.push(tokio::spawn(async move {
            let mut h = Histogram::<u64>::new(3).unwrap();
            for body in bodies {
                if next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) >= SALES {
                    break;
                }
                let t = Instant::now();
                let mut rb = client.post(&url).json(&body);
                if keyed {
                    rb = rb.header("Idempotency-Key", Uuid::new_v4().to_string());
                }
                let r = rb.send().await.unwrap();
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
    let secs = started.elapsed().as_secs_f64();
    Run {
        per_sec: SALES as f64 / secs,
        p50_ms: all.value_at_quantile(0.5) as f64 / 1000.0,
        p99_ms: all.value_at_quantile(0.99) as f64 / 1000.0,
    }
}

/// The same sale transaction without HTTP: begin, record, commit, from `CLIENTS` tasks.
async fn in_process(b: &Bench) -> Run {
    let started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let db = b.db.clone();
        let next = next.clone();
        let sales: Vec<mostrador::sales::NewSale> =
            (0..SALES / CLIENTS + 1).map(|_| serde_json::from_value(sale_body(b)).unwrap()).collect();
        tasks.push(tokio::spawn(async move {
            let mut h = Histogram::<u64>::new(3).unwrap();
            for sale in sales {
                if next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) >= SALES {
                    break;
                }
                let t = Instant::now();
                let mut write = mostrador::idempotency::begin(&db).await.map_err(|e| format!("{e:?}")).unwrap();
                let tx = &mut write.tx;
                mostrador::sales::record(tx, None, &mostrador::sales::Seller::admin("admin"), &sale, "bench", false)
                    .await
                    .map_err(|e| format!("{e:?}"))
                    .unwrap();
                write.tx.commit().await.unwrap();
                h.record(t.elapsed().as_micros() as u64).unwrap();
            }
            h
        }));
    }
    let mut all = Histogram::<u64>::new(3).unwrap();
    for t in tasks {
        all.add(t.await.unwrap()).unwrap();
    }
    let secs = started.elapsed().as_secs_f64();
    Run {
        per_sec: SALES as f64 / secs,
        p50_ms: all.value_at_quantile(0.5) as f64 / 1000.0,
        p99_ms: all.value_at_quantile(0.99) as f64 / 1000.0,
    }
}

/// One device's queue of `QUEUE` sales: pushed in batches of 500, or sent one request each.
async fn drain(b: &Bench, batched: bool) -> Duration {
    let ops: Vec<Value> = (0..QUEUE)
        .map(|_| json!({"idempotency_key": Uuid::new_v4().to_string(), "method": "POST", "path": "/api/sales", "body": sale_body(b)}))
        .collect();
    let started = Instant::now();
    if batched {
        for chunk in ops.chunks(500) {
            let r: Value = b
                .client
                .post(format!("{}/api/sync/push", b.base))
                .json(&json!({"ops": chunk}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert!(r["results"].as_array().unwrap().iter().all(|r| r["status"] == 201));
        }
    } else {
        for op in &ops {
            let r = b
                .client
                .post(format!("{}/api/sales", b.base))
                .header("Idempotency-Key", op["idempotency_key"].as_str().unwrap())
                .json(&op["body"])
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201);
        }
    }
    started.elapsed()
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let cluster = postgres::PgCluster::start();
    println!("| engine | case | sales/s | p50 ms | p99 ms |");
    println!("|---|---|---:|---:|---:|");
    let mut drains = Vec::new();
    for engine in ["sqlite", "postgres"] {
        let url = (engine == "postgres").then(|| rt.block_on(cluster.create_database()));
        let b = rt.block_on(spawn(url));
        let plain = rt.block_on(http_sales(&b, false));
        let keyed = rt.block_on(http_sales(&b, true));
        let ceiling = rt.block_on(in_process(&b));
        for (case, run) in
            [("HTTP, no key", &plain), ("HTTP, Idempotency-Key", &keyed), ("in-process, no HTTP (ceiling)", &ceiling)]
        {
            println!("| {engine} | {case} | {:.0} | {:.1} | {:.1} |", run.per_sec, run.p50_ms, run.p99_ms);
        }
        println!("| {engine} | keyed ÷ no key | {:.2} | | |", keyed.per_sec / plain.per_sec);
        println!("| {engine} | keyed HTTP ÷ ceiling | {:.2} | | |", keyed.per_sec / ceiling.per_sec);
        let pushed = rt.block_on(drain(&b, true));
        let single = rt.block_on(drain(&b, false));
        drains.push((engine, pushed, single));
    }
    println!();
    println!("| engine | 10,000 queued sales | seconds | ops/s |");
    println!("|---|---|---:|---:|");
    for (engine, pushed, single) in drains {
        println!(
            "| {engine} | /api/sync/push, batches of 500 | {:.1} | {:.0} |",
            pushed.as_secs_f64(),
            QUEUE as f64 / pushed.as_secs_f64()
        );
        println!(
            "| {engine} | one request per operation | {:.1} | {:.0} |",
            single.as_secs_f64(),
            QUEUE as f64 / single.as_secs_f64()
        );
        println!("| {engine} | push ÷ single (speed-up) | {:.2} | |", single.as_secs_f64() / pushed.as_secs_f64());
    }
    cluster.cleanup();
}
