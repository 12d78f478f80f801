//! ACME against Debian's `pebble` (Let's Encrypt's test server), started here with its fake DNS
//! (`pebble-challtestsrv`) answering 127.0.0.1 for every name, so pebble really fetches the HTTP-01
//! challenge from the server's plain-HTTP listener. Pebble issues 10-day certificates, below the 30 days
//! the server renews at, so every check renews: a new certificate must reach new connections with no
//! restart and no failed request.

use std::{path::PathBuf, process::Stdio, time::Duration};

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{binary_command, wait_ready, Process, ADMIN_PASSWORD};
use crate::postgres::free_port;
use crate::tls::{refused, TestCa, HOST};

struct Pebble {
    _dns: tokio::process::Child,
    _pebble: tokio::process::Child,
    _dir: tempfile::TempDir,
    directory: String,
    /// The CA of pebble's own https (made here).
    ca_path: PathBuf,
    /// The root pebble signs the certificates it issues with.
    issuing_root: String,
}

fn pebble_installed() -> bool {
    std::path::Path::new("/usr/bin/pebble").exists() && std::path::Path::new("/usr/bin/pebble-challtestsrv").exists()
}

async fn start_pebble(http01_port: u16) -> Pebble {
    assert!(pebble_installed(), "pebble is not installed: scripts/setup.sh --test installs it");
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new();
    let listener_cert = ca.leaf("127.0.0.1");
    std::fs::write(dir.path().join("cert.pem"), &listener_cert.cert_pem).unwrap();
    std::fs::write(dir.path().join("key.pem"), &listener_cert.key_pem).unwrap();
    let ca_path = dir.path().join("ca.pem");
    std::fs::write(&ca_path, &ca.pem).unwrap();
    let (port, management, dns) = (free_port(), free_port(), free_port());
    let config = json!({"pebble": {
        "listenAddress": format!("127.0.0.1:{port}"),
        "managementListenAddress": format!("127.0.0.1:{management}"),
        "certificate": dir.path().join("cert.pem"),
        "privateKey": dir.path().join("key.pem"),
        "httpPort": http01_port,
        "tlsPort": free_port(),
        "ocspResponderURL": "",
        "externalAccountBindingRequired": false,
        "certificateValidityPeriod": 10 * 24 * 3600,
    }});
    std::fs::write(dir.path().join("pebble.json"), config.to_string()).unwrap();
    let quiet =
        || if std::env::var_os("MOSTRADOR_TEST_SERVER_LOGS").is_some() { Stdio::inherit() } else { Stdio::null() };
    let dns_server = tokio::process::Command::new("pebble-challtestsrv")
        .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", "", "-dns01", &format!("127.0.0.1:{dns}")])
        .args(["-http01", "", "-https01", "", "-tlsalpn01", "", "-management", &format!("127.0.0.1:{}", free_port())])
        .stdout(quiet())
        .stderr(quiet())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pebble = tokio::process::Command::new("pebble")
        .arg("-config")
        .arg(dir.path().join("pebble.json"))
        .args(["-dnsserver", &format!("127.0.0.1:{dns}")])
        .env("PEBBLE_VA_NOSLEEP", "1")
        .env("PEBBLE_WFE_NONCEREJECT", "0")
        .current_dir(dir.path())
        .stdout(quiet())
        .stderr(quiet())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let client = Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    let directory = format!("https://127.0.0.1:{port}/dir");
    for _ in 0..200 {
        if client.get(&directory).send().await.is_ok_and(|r| r.status().is_success()) {
            let root = client.get(format!("https://127.0.0.1:{management}/roots/0")).send().await.unwrap();
            let issuing_root = root.text().await.unwrap();
            return Pebble { _dns: dns_server, _pebble: pebble, _dir: dir, directory, ca_path, issuing_root };
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("pebble did not start");
}

/// A fresh client that trusts only pebble's issuing root.
fn client(root: &str) -> Client {
    Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(root.as_bytes()).unwrap())
        .resolve(HOST, ([127, 0, 0, 1], 0).into())
        .tls_info(true)
        .cookie_store(true)
        .build()
        .unwrap()
}

async fn served(root: &str, url: &str) -> Vec<u8> {
    let r = client(root).get(url).send().await.unwrap_or_else(|e| panic!("{url}: {e:?}"));
    assert_eq!(r.status(), StatusCode::OK, "{url}");
    r.extensions().get::<reqwest::tls::TlsInfo>().unwrap().peer_certificate().unwrap().to_vec()
}

async fn spawn_acme(pebble: &Pebble, data: &std::path::Path, port: u16, plain_port: u16) -> Process {
    let envs = [
        ("MOSTRADOR_ACME_DOMAINS", HOST.to_owned()),
        ("MOSTRADOR_ACME_EMAIL", "caja@tienda.test".to_owned()),
        ("MOSTRADOR_ACME_DIRECTORY", pebble.directory.clone()),
        ("MOSTRADOR_ACME_CA", pebble.ca_path.display().to_string()),
        ("MOSTRADOR_ACME_CHECK_INTERVAL", "2".to_owned()),
        ("MOSTRADOR_HTTP_REDIRECT_ADDR", format!("127.0.0.1:{plain_port}")),
    ];
    let child = binary_command(port, data, &envs).spawn().unwrap();
    wait_ready(child, format!("https://{HOST}:{port}"), &client(&pebble.issuing_root)).await
}

pub async fn certificate_is_issued_served_and_renewed() {
    let (port, plain_port) = (free_port(), free_port());
    let pebble = start_pebble(plain_port).await;
    let data = tempfile::tempdir().unwrap();
    let mut server = spawn_acme(&pebble, data.path(), port, plain_port).await;
    let url = format!("https://{HOST}:{port}/health");

    // Issued for the name (the client checks it against pebble's root) and kept in the data dir.
    let first = served(&pebble.issuing_root, &url).await;
    let key = data.path().join("acme/key.pem");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    }

    // 10 days of validity < 30: the next check renews. Requests go on meanwhile, every one answered.
    let mut renewed = false;
    for _ in 0..150 {
        if served(&pebble.issuing_root, &url).await != first {
            renewed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(renewed, "no renewed certificate within 30 s");
    assert!(server.child.try_wait().unwrap().is_none(), "the server restarted");

    // A restart with the ACME server gone serves the kept certificate; the failed renewal is an alert.
    server.child.kill().await.unwrap();
    drop(pebble);
    let stored = String::from_utf8(std::fs::read(data.path().join("acme/cert.pem")).unwrap()).unwrap();
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let kept = CertificateDer::pem_slice_iter(stored.as_bytes()).next().unwrap().unwrap().to_vec();
    // The issuing root is gone with pebble: trust the kept chain's intermediate instead.
    let pebble_root = stored[stored.rfind("-----BEGIN CERTIFICATE-----").unwrap()..].to_owned();
    let envs = [
        ("MOSTRADOR_ACME_DOMAINS", HOST.to_owned()),
        ("MOSTRADOR_ACME_DIRECTORY", format!("https://127.0.0.1:{}/dir", free_port())),
        ("MOSTRADOR_ACME_CHECK_INTERVAL", "1".to_owned()),
        ("MOSTRADOR_HTTP_REDIRECT_ADDR", format!("127.0.0.1:{plain_port}")),
    ];
    let child = binary_command(port, data.path(), &envs).spawn().unwrap();
    let _server = wait_ready(child, format!("https://{HOST}:{port}"), &client(&pebble_root)).await;
    let again = served(&pebble_root, &url).await;
    assert!(again == kept && again != first, "not the kept certificate");

    let admin = client(&pebble_root);
    let r = admin
        .post(format!("https://{HOST}:{port}/api/auth/login"))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    for _ in 0..100 {
        let alerts: Value =
            admin.get(format!("https://{HOST}:{port}/api/alerts")).send().await.unwrap().json().await.unwrap();
        if let Some(a) = alerts.as_array().unwrap().iter().find(|a| a["kind"] == "certificate_renewal_failed") {
            assert!(a["message"].as_str().unwrap().contains(HOST), "{a}");
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("no certificate_renewal_failed alert");
}

pub async fn unreachable_acme_directory_stops_the_start() {
    let dead = format!("https://127.0.0.1:{}/dir", free_port());
    let envs = [
        ("MOSTRADOR_ACME_DOMAINS", HOST.to_owned()),
        ("MOSTRADOR_ACME_DIRECTORY", dead.clone()),
        ("MOSTRADOR_HTTP_REDIRECT_ADDR", format!("127.0.0.1:{}", free_port())),
    ];
    refused(&[], &envs, &format!("ACME server {dead}")).await;
    // Without a plain listener the CA could never validate the names: refused before any request.
    refused(&[], &[("MOSTRADOR_ACME_DOMAINS", HOST.to_owned())], "--acme-domain needs --http-redirect-addr").await;
}
