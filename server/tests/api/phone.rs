//! What a phone is told (issue #17): a LAN-mode certificate that also carries the names the shop gives
//! (`--tls-name`), the anonymous https address a plain-http page links to (`GET /api/tls/address`),
//! and the run command's lines: the addresses phones open, or the warning with the fix.

use std::{process::Stdio, time::Duration};

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::helpers::{binary_command, wait_ready, ADMIN_PASSWORD};
use crate::postgres::free_port;
use crate::tls::refused;

const NAME: &str = "tienda.test";

/// The lines a server prints on stdout until one contains `until` (bounded: 30 s).
async fn printed_until(child: &mut tokio::process::Child, until: &str) -> String {
    let mut lines = BufReader::new(child.stdout.take().expect("stdout piped")).lines();
    let mut seen = String::new();
    let read = async {
        while let Ok(Some(line)) = lines.next_line().await {
            seen.push_str(&line);
            seen.push('\n');
            if line.contains(until) {
                return true;
            }
        }
        false
    };
    let found = tokio::time::timeout(Duration::from_secs(30), read).await.unwrap_or(false);
    assert!(found, "{until:?} never printed; printed:\n{seen}");
    // Go on reading: a closed pipe would make the server's next println fail.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    seen
}

async fn address(client: &Client, base: &str) -> Value {
    let r = client.get(format!("{base}/api/tls/address")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

pub async fn lan_certificate_carries_the_names_given() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let envs = [("MOSTRADOR_TLS_LAN", "true".to_owned()), ("MOSTRADOR_TLS_NAMES", format!("{NAME},Caja.Lan."))];
    let mut child = binary_command(port, data.path(), &envs).stdout(Stdio::piped()).spawn().unwrap();
    let url = format!("https://{NAME}:{port}/");
    // The names given come first, in their order.
    let printed = printed_until(&mut child, &format!("phones open https://caja.lan:{port}/")).await;
    assert!(printed.contains(&format!("Mostrador listening on https://127.0.0.1:{port}")), "{printed}");
    let (first, second) = (printed.find(&format!("phones open {url}")), printed.find("phones open https://caja.lan"));
    assert!(first.is_some() && first < second, "{printed}");

    // A client that trusts only the shop's CA, as a phone does after the steps, reaches the given name.
    let ca = std::fs::read(data.path().join("lan-ca/ca.pem")).unwrap();
    let phone = Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .resolve(NAME, ([127, 0, 0, 1], 0).into())
        .cookie_store(true)
        .build()
        .unwrap();
    let process = wait_ready(child, format!("https://{NAME}:{port}"), &phone).await;

    // Anyone may ask where https is (the sign-in page does); only that is said.
    assert_eq!(address(&phone, &process.base).await, json!({ "url": url }));
    // The admin page's QR code opens the name given first.
    // Signed in from the page at that name: a same-origin write over TLS (no DNS rebinding possible).
    let r = phone
        .post(process.url("/api/auth/login"))
        .header("Origin", format!("https://{NAME}:{port}"))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let setup: Value = phone.get(process.url("/api/tls/phone")).send().await.unwrap().json().await.unwrap();
    assert_eq!(setup["urls"][0], url.as_str(), "{setup}");
    assert_eq!(setup["urls"][1], format!("https://caja.lan:{port}/").as_str(), "{setup}");
}

pub async fn secure_address_and_start_warnings_without_tls() {
    // Behind a TLS proxy: the public https address.
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let envs = [("MOSTRADOR_PUBLIC_URL", "https://caja.example.com".to_owned())];
    let child = binary_command(port, data.path(), &envs).spawn().unwrap();
    let process = wait_ready(child, format!("http://127.0.0.1:{port}"), &Client::new()).await;
    assert_eq!(address(&Client::new(), &process.base).await, json!({ "url": "https://caja.example.com" }));
    drop(process);

    // No https anywhere, on every address: nothing to link to, and the start says what to run.
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_mostrador"))
        .args(["serve", "--addr", &format!("0.0.0.0:{port}"), "--data-dir"])
        .arg(data.path())
        .env("MOSTRADOR_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("MOSTRADOR_NO_LOG_FILE", "true")
        .env("MOSTRADOR_BACKUP_SCHEDULE", "off")
        .env_remove("DATABASE_URL")
        .env_remove("MOSTRADOR_PUBLIC_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let printed = printed_until(&mut child, "Warning: phones").await;
    let warning = printed.lines().last().unwrap();
    assert!(warning.contains("--tls-lan") && warning.contains("Put it in a shop"), "{warning}");
    let process = wait_ready(child, format!("http://127.0.0.1:{port}"), &Client::new()).await;
    assert_eq!(address(&Client::new(), &process.base).await, json!({ "url": null }));

    // Names that are not host names, or without LAN mode, stop the start.
    refused(&["--tls-lan", "--tls-name", "tienda test"], &[], "is not a host name").await;
    refused(&["--tls-name", NAME], &[], "--tls-lan").await;
}
