//! Database failover on real PostgreSQL: two throwaway clusters with logical replication from the
//! primary to the mirror (set up by `mostrador mirror init`), and a TCP proxy this test controls in
//! front of the primary. Under a keyed write load: a flapping primary causes no failover; a
//! black-holed one makes the server fail over to the mirror within its budget (/health 503 in the
//! meantime, /livez 200); the old primary is fenced as soon as it answers; flapping while failed
//! over causes no failback; once it stays back, the mirror's writes are replayed into the primary
//! and the server fails back — every acknowledged write present exactly once. A second instance
//! started while failed over serves from the mirror and follows the first one's decisions.

use std::{
    collections::HashSet,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use sqlx::{Connection, PgConnection};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

use crate::{
    helpers::{spawn_app_with, spawn_binary, spawn_receiver, Engine},
    postgres::PgCluster,
};

/// A TCP proxy that forwards to `upstream`, or — black-holed — accepts and swallows everything
/// without answering, like a machine that vanished from the network.
struct Proxy {
    port: u16,
    black_hole: Arc<AtomicBool>,
}

async fn spawn_proxy(upstream: u16) -> Proxy {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let black_hole = Arc::new(AtomicBool::new(false));
    let hole = black_hole.clone();
    tokio::spawn(async move {
        loop {
            let Ok((client, _)) = listener.accept().await else { continue };
            let hole = hole.clone();
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await else { return };
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                tokio::join!(pump(cr, sw, hole.clone()), pump(sr, cw, hole));
            });
        }
    });
    Proxy { port, black_hole }
}

/// Copies until either side closes; while black-holed, bytes are read and dropped.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    hole: Arc<AtomicBool>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if !hole.load(Ordering::SeqCst) && to.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

impl Proxy {
    fn set_black_hole(&self, on: bool) {
        self.black_hole.store(on, Ordering::SeqCst);
    }
}

/// Writers that each record stock movements (+1 of one product) with their own ids and keys,
/// retrying every write with the same key and body until it is acknowledged. Stock is a running sum
/// that each movement changes once: a movement applied twice, or lost, shows in it.
struct Load {
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<Uuid>>>,
    attempted: Arc<Mutex<HashSet<Uuid>>>,
    errors: Arc<AtomicUsize>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

fn start_load(base: &str, client: &Client, product: &str, writers: usize) -> Load {
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let attempted = Arc::new(Mutex::new(HashSet::new()));
    let errors = Arc::new(AtomicUsize::new(0));
    let tasks = (0..writers)
        .map(|w| {
            let (stop, acked, attempted, errors) = (stop.clone(), acked.clone(), attempted.clone(), errors.clone());
            let (client, base, product) = (client.clone(), base.to_owned(), product.to_owned());
            tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(Ordering::SeqCst) {
                    n += 1;
                    let id = Uuid::new_v4();
                    let key = Uuid::new_v4().to_string();
                    let body = json!({"id": id, "product_id": product, "delta": 1, "reason": "purchase", "note": format!("{w}-{n}")});
                    attempted.lock().unwrap().insert(id);
                    loop {
                        let sent = client
                            .post(format!("{base}/api/inventory-movements"))
                            .header("idempotency-key", &key)
                            .timeout(Duration::from_secs(10))
                            .json(&body)
                            .send()
                            .await;
                        match sent {
                            Ok(r) if r.status().is_success() => {
                                acked.lock().unwrap().push(id);
                                break;
                            }
                            Ok(r) if r.status().is_client_error() => panic!("write refused: {} {}", r.status(), r.text().await.unwrap_or_default()),
                            _ => {
                                errors.fetch_add(1, Ordering::SeqCst);
                                tokio::time::sleep(Duration::from_millis(200)).await;
                            }
                        }
                    }
                    // About 10 writes a second per writer: enough to be caught mid-flight by every
                    // switch, few enough that the failback's replay stays short.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
        })
        .collect();
    Load { stop, acked, attempted, errors, tasks }
}

impl Load {
    fn acked(&self) -> usize {
        self.acked.lock().unwrap().len()
    }
    async fn finish(self) -> (Vec<Uuid>, HashSet<Uuid>, usize) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.tasks {
            t.await.unwrap();
        }
        let acked = self.acked.lock().unwrap().clone();
        let attempted = self.attempted.lock().unwrap().clone();
        (acked, attempted, self.errors.load(Ordering::SeqCst))
    }
}

/// /health's status, and which database is in use. An anonymous /health says only healthy or not;
/// the database comes from /metrics, which needs no session (the session store is the database
/// being failed over).
async fn health(client: &Client, base: &str) -> (StatusCode, Value) {
    let (status, mut body) = match client.get(format!("{base}/health")).timeout(Duration::from_secs(5)).send().await {
        Ok(r) => {
            let s = r.status();
            (s, r.json().await.unwrap_or(Value::Null))
        }
        Err(_) => return (StatusCode::GATEWAY_TIMEOUT, Value::Null),
    };
    // /metrics answers whatever /health says (a server holding requests during a failback, or on
    // an unreachable database, still reports which pool is in use).
    if status == StatusCode::OK || status == StatusCode::SERVICE_UNAVAILABLE {
        for which in ["primary", "mirror"] {
            if metric(client, base, &format!("mostrador_database_active{{database=\"{which}\"}}")).await == 1.0 {
                body["database"] = which.into();
            }
        }
    }
    (status, body)
}

async fn wait_for_database(client: &Client, base: &str, which: &str, within: Duration) -> Duration {
    let started = Instant::now();
    while started.elapsed() < within {
        let (_, h) = health(client, base).await;
        if h["database"] == which {
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("/health never said database={which} within {within:?}");
}

async fn metric(client: &Client, base: &str, name: &str) -> f64 {
    let text = client.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
    text.lines().find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok())).unwrap_or(-1.0)
}

/// Two throwaway clusters, the mirror subscribed to the primary by `mostrador mirror init` (schema on
/// both, publication, subscription), and a proxy in front of the primary. The clusters stop when
/// this is dropped.
struct Replicated {
    _clusters: (PgCluster, PgCluster),
    primary_url: String,
    mirror_url: String,
    proxy: Proxy,
    /// The primary's URL through the proxy: what the server under test is given.
    through_proxy: String,
}

async fn replicated() -> Replicated {
    let primary = PgCluster::start_with("-c wal_level=logical");
    let mirror = PgCluster::start();
    let primary_url = primary.create_database().await;
    let mirror_url = mirror.create_database().await;
    let proxy = spawn_proxy(primary.port).await;
    let through_proxy = primary_url.replace(&format!(":{}/", primary.port), &format!(":{}/", proxy.port));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mostrador"))
        .args(["mirror", "init", "--mirror-database-url", &mirror_url])
        .env("DATABASE_URL", &primary_url)
        .env("MOSTRADOR_NO_LOG_FILE", "true")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "mirror init: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Replicated { _clusters: (primary, mirror), primary_url, mirror_url, proxy, through_proxy }
}

/// Automatic failover to `mirror_url` after 3 failed checks of ≤1 s, 1 s apart; alerts to `receiver`.
fn fast_failover(c: &mut mostrador::config::ServeConfig, mirror_url: &str, receiver: &crate::helpers::Receiver) {
    c.failover.mirror_database_url = Some(mirror_url.to_owned());
    c.failover.health_check_interval = 1;
    c.failover.health_check_timeout = 1;
    c.failover.health_check_max_retries = 3;
    c.failover.auto_failover_enabled = true;
    c.alerts.alert_webhook_url = Some(format!("{}/hook", receiver.base));
}

pub async fn failover_to_the_mirror_and_failback_by_replay() {
    let Replicated { primary_url, mirror_url, proxy, through_proxy, .. } = &replicated().await;
    let (primary_url, mirror_url, through_proxy) = (primary_url.clone(), mirror_url.clone(), through_proxy.clone());
    let receiver = spawn_receiver().await;
    let app = spawn_app_with(Engine::Postgres, Some(through_proxy.clone()), |c| {
        fast_failover(c, &mirror_url, &receiver);
        c.request_timeout_secs = 3;
        c.failover.failback_healthy_checks = 6;
    })
    .await;
    app.login_admin().await;
    let probe = Client::new();
    // The mirror has copied the rows (the admin and its session included) and reports its lag.
    let mut m = PgConnection::connect(&mirror_url).await.unwrap();
    for _ in 0..100 {
        let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sessions").fetch_one(&mut m).await.unwrap();
        if users > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (s, product) = crate::helpers::status_json(
        app.post("/api/products", &json!({"sku": "CARGA", "name": "Carga", "price_cents": 100, "cost_cents": 0})).await,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let product = product["id"].as_str().unwrap().to_owned();
    let load = start_load(&app.address, &app.client, &product, 2);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(health(&probe, &app.address).await.1["database"], "primary");
    let (_, system) = crate::helpers::status_json(app.get("/api/ha/status").await).await;
    assert!(system["failover"]["last_lag_bytes"].is_i64(), "the lag is measured: {system}");

    // 1. A flapping primary (1.5 s gone, 1.5 s back) never reaches 3 failed checks in a row.
    for _ in 0..4 {
        proxy.set_black_hole(true);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        proxy.set_black_hole(false);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(health(&probe, &app.address).await.1["database"], "primary", "no failover while flapping");
    }
    assert_eq!(metric(&probe, &app.address, "mostrador_database_failovers_total").await, 0.0);

    // 2. The primary vanishes: /health is 503 within its timeout, /livez stays 200, and the
    //    server fails over within its budget (3 checks of ≤1 s, 1 s apart, plus the switch).
    let before = load.acked();
    proxy.set_black_hole(true);
    let gone = Instant::now();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let asked = Instant::now();
    let (status, h) = health(&probe, &app.address).await;
    if h["database"] != "mirror" {
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{h}");
        assert!(asked.elapsed() < Duration::from_secs(4), "/health answered in {:?}", asked.elapsed());
    }
    assert_eq!(probe.get(app.url("/livez")).send().await.unwrap().status(), StatusCode::OK);
    wait_for_database(&probe, &app.address, "mirror", Duration::from_secs(20)).await;
    let failover_after = gone.elapsed();
    receiver.wait_for("/hook", |v| v["alert"]["kind"] == "failover").await;
    // Writes go on, on the mirror.
    let on_mirror = load.acked();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(load.acked() > on_mirror + 10, "writes continue on the mirror ({} → {})", on_mirror, load.acked());
    assert!(on_mirror >= before);

    // A second instance starting now cannot reach the primary: it finds the failover recorded on
    // the mirror, serves from it, and follows the first instance's decisions from then on.
    let follower_dir = tempfile::tempdir().unwrap();
    let follower = spawn_binary(
        follower_dir.path(),
        &[
            ("DATABASE_URL", through_proxy.clone()),
            ("MIRROR_DATABASE_URL", mirror_url.clone()),
            ("HEALTH_CHECK_INTERVAL", "1".into()),
            ("HEALTH_CHECK_TIMEOUT", "1".into()),
            ("AUTO_FAILOVER_ENABLED", "true".into()),
            ("FAILBACK_HEALTHY_CHECKS", "6".into()),
            ("MOSTRADOR_REQUEST_TIMEOUT", "3".into()),
            ("MOSTRADOR_NODE_NAME", "follower".into()),
        ],
    )
    .await;
    assert_eq!(health(&probe, &follower.base).await.1["database"], "mirror");
    let follower_client = follower.admin().await;
    let follower_load = start_load(&follower.base, &follower_client, &product, 1);

    // 3. The primary flaps back and forth: it is fenced while it answers, and never failed back to.
    let mut fenced_seen = false;
    for _ in 0..4 {
        proxy.set_black_hole(false);
        tokio::time::sleep(Duration::from_millis(2000)).await;
        let mut direct = PgConnection::connect(&primary_url).await.unwrap();
        let ro: String = sqlx::query_scalar("SHOW default_transaction_read_only").fetch_one(&mut direct).await.unwrap();
        fenced_seen |= ro == "on";
        proxy.set_black_hole(true);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(health(&probe, &app.address).await.1["database"], "mirror", "no failback while flapping");
    }
    assert!(fenced_seen, "the old primary was fenced (read-only) once it answered");
    assert_eq!(metric(&probe, &app.address, "mostrador_database_failbacks_total").await, 0.0);

    // 4. It stays back: after 6 healthy checks the mirror's writes are replayed, then failback.
    proxy.set_black_hole(false);
    let back = Instant::now();
    while health(&probe, &app.address).await.1["database"] != "primary" {
        if back.elapsed() > Duration::from_secs(60) {
            let (_, system) = crate::helpers::status_json(app.get("/api/ha/status").await).await;
            panic!("no failback within 60 s: {system}\nalerts: {:?}", receiver.received.lock().unwrap());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let failback_took = back.elapsed();
    let failback = receiver.wait_for("/hook", |v| v["alert"]["kind"] == "failback").await;
    wait_for_database(&probe, &follower.base, "primary", Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (follower_acked, follower_attempted, _) = follower_load.finish().await;
    assert!(follower_acked.len() > 10, "the follower took writes: {}", follower_acked.len());
    let (mut acked, mut attempted, retries) = load.finish().await;
    acked.extend(follower_acked);
    attempted.extend(follower_attempted);
    assert_eq!(metric(&probe, &app.address, "mostrador_database_failovers_total").await, 1.0);
    assert_eq!(metric(&probe, &app.address, "mostrador_database_failbacks_total").await, 1.0);

    // Every acknowledged write is in the primary, once; nothing appeared that nobody sent.
    let mut direct = PgConnection::connect(&primary_url).await.unwrap();
    let ro: String = sqlx::query_scalar("SHOW default_transaction_read_only").fetch_one(&mut direct).await.unwrap();
    assert_eq!(ro, "off", "unfenced after the failback");
    let rows: Vec<String> =
        sqlx::query_scalar("SELECT id FROM inventory_movements").fetch_all(&mut direct).await.unwrap();
    let in_primary: HashSet<Uuid> = rows.iter().map(|r| Uuid::parse_str(r).unwrap()).collect();
    let missing: Vec<&Uuid> = acked.iter().filter(|id| !in_primary.contains(id)).collect();
    assert!(missing.is_empty(), "{} acknowledged writes missing from the primary: {missing:?}", missing.len());
    assert!(in_primary.is_subset(&attempted), "rows nobody sent");
    // The stock moved once per movement: nothing applied twice.
    let stock: i64 = sqlx::query_scalar("SELECT stock FROM products WHERE id = $1")
        .bind(&product)
        .fetch_one(&mut direct)
        .await
        .unwrap();
    assert_eq!(stock, rows.len() as i64, "stock {stock} after {} movements of +1", rows.len());
    let replayed = failback["alert"]["details"]["applied"].as_u64().unwrap();
    assert!(replayed > 10, "the mirror's writes were replayed: {failback}");
    println!(
        "failover after {failover_after:?}; failback {failback_took:?} after the primary came back; {} writes acknowledged ({} retried attempts), {replayed} replayed at failback",
        acked.len(),
        retries
    );
    let (_, system) = crate::helpers::status_json(app.get("/api/ha/status").await).await;
    assert_eq!(system["failover"]["state"], "needs_resync", "{system}");
}

/// A mirror that stopped following the primary (its subscription paused) is no failover target:
/// when the primary vanishes, the failover is refused with an alert, and the server stays on the
/// primary (503 on /health) rather than serving stale data.
pub async fn a_mirror_that_stopped_following_is_refused() {
    let Replicated { mirror_url, proxy, through_proxy, .. } = &replicated().await;
    let mut m = PgConnection::connect(mirror_url).await.unwrap();
    sqlx::query("ALTER SUBSCRIPTION mostrador_mirror DISABLE").execute(&mut m).await.unwrap();

    let receiver = spawn_receiver().await;
    let app =
        spawn_app_with(Engine::Postgres, Some(through_proxy.clone()), |c| fast_failover(c, mirror_url, &receiver))
            .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    proxy.set_black_hole(true);
    let refused = receiver.wait_for("/hook", |v| v["alert"]["kind"] == "failover_refused").await;
    assert!(refused["alert"]["message"].as_str().unwrap().contains("lag"), "{refused}");
    // It stays on the unreachable primary: /health is 503, and /metrics says the primary pool is in use.
    let (status, h) = health(&Client::new(), &app.address).await;
    assert_eq!(
        (status, h["status"].as_str(), h["database"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("unhealthy"), Some("primary")),
        "{h}"
    );
    assert_eq!(metric(&Client::new(), &app.address, "mostrador_database_failovers_total").await, 0.0);
    proxy.set_black_hole(false);
}

/// The pool refuses connections to a database that only allows reading (a fenced old primary, a
/// hot standby): the server does not start on one, and says why.
pub async fn connections_to_a_read_only_database_are_refused() {
    let url = crate::helpers::CLUSTER.get().expect("cluster").create_database().await;
    // Migrated while writable…
    mostrador::db::Db::connect(&mostrador::config::DatabaseConfig {
        data_dir: std::env::temp_dir(),
        database_url: Some(url.clone()),
    })
    .await
    .expect("a writable database connects");
    // …then fenced the way a failover fences an old primary (here for this database only).
    let name = url.rsplit('/').next().unwrap();
    let mut admin = PgConnection::connect(&url).await.unwrap();
    sqlx::query(&format!("ALTER DATABASE {name} SET default_transaction_read_only = on"))
        .execute(&mut admin)
        .await
        .unwrap();
    let refused = mostrador::db::Db::connect(&mostrador::config::DatabaseConfig {
        data_dir: std::env::temp_dir(),
        database_url: Some(url),
    })
    .await;
    let message = refused.expect_err("a read-only database is refused").to_string();
    assert!(message.contains("only allows reading"), "{message}");
}
