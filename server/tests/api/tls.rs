//! HTTPS served by the real binary: the certificate it is given (made here by a throwaway CA, rcgen),
//! a pair replaced on disk served to new connections without a restart, http → https, HSTS, the Secure
//! cookie, and bad certificates or keys that stop the start instead of serving plain HTTP.

use std::{path::Path, process::Stdio, time::Duration};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose};
use reqwest::{header, redirect::Policy, Client, StatusCode};
use serde_json::json;

use crate::helpers::{binary_command, wait_ready, Process, ADMIN_PASSWORD};
use crate::postgres::free_port;

/// The name the tests reach the server by (resolved to 127.0.0.1 by the client).
pub const HOST: &str = "tienda.test";

/// A certificate authority of the test's own.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
    pub pem: String,
}

/// A server certificate and its key.
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: Vec<u8>,
}

impl TestCa {
    pub fn new() -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, "Mostrador test CA");
        params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        TestCa { pem: issuer.pem(), issuer }
    }

    pub fn leaf(&self, name: &str) -> Leaf {
        let mut params = CertificateParams::new(vec![name.to_owned()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf { cert_pem: cert.pem(), key_pem: key.serialize_pem(), der: cert.der().to_vec() }
    }
}

impl Leaf {
    /// Writes the key first, then the certificate (the order a person copying files would use).
    pub fn write(&self, dir: &Path) {
        std::fs::write(dir.join("key.pem"), &self.key_pem).unwrap();
        std::fs::write(dir.join("cert.pem"), &self.cert_pem).unwrap();
    }
}

/// A fresh client (new connections every time) that trusts only `ca` and finds HOST on 127.0.0.1.
pub fn client(ca: &TestCa, redirects: bool) -> Client {
    Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.pem.as_bytes()).unwrap())
        .resolve(HOST, ([127, 0, 0, 1], 0).into())
        .tls_info(true)
        .cookie_store(true)
        .redirect(if redirects { Policy::limited(3) } else { Policy::none() })
        .build()
        .unwrap()
}

/// The certificate a fresh connection is served, in DER.
async fn served_certificate(ca: &TestCa, url: &str) -> Vec<u8> {
    let r = client(ca, false).get(url).send().await.unwrap_or_else(|e| panic!("{url}: {e:?}"));
    assert_eq!(r.status(), StatusCode::OK);
    let info = r.extensions().get::<reqwest::tls::TlsInfo>().expect("TLS info");
    info.peer_certificate().expect("a certificate").to_vec()
}

struct TlsServer {
    process: Process,
    port: u16,
    certs: tempfile::TempDir,
    _data: tempfile::TempDir,
}

async fn spawn_tls(ca: &TestCa, leaf: &Leaf, redirect_port: Option<u16>) -> TlsServer {
    let certs = tempfile::tempdir().unwrap();
    leaf.write(certs.path());
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut envs = vec![
        ("MOSTRADOR_TLS_CERT", certs.path().join("cert.pem").display().to_string()),
        ("MOSTRADOR_TLS_KEY", certs.path().join("key.pem").display().to_string()),
        ("MOSTRADOR_TLS_RELOAD_INTERVAL", "1".to_owned()),
    ];
    if let Some(p) = redirect_port {
        envs.push(("MOSTRADOR_HTTP_REDIRECT_ADDR", format!("127.0.0.1:{p}")));
    }
    let child = binary_command(port, data.path(), &envs).spawn().unwrap();
    let process = wait_ready(child, format!("https://{HOST}:{port}"), &client(ca, false)).await;
    TlsServer { process, port, certs, _data: data }
}

pub async fn https_with_redirect_hsts_and_secure_cookie() {
    let ca = TestCa::new();
    let leaf = ca.leaf(HOST);
    let plain_port = free_port();
    let server = spawn_tls(&ca, &leaf, Some(plain_port)).await;
    let base = format!("https://{HOST}:{}", server.port);

    // The certificate given, HSTS on the answer.
    assert_eq!(served_certificate(&ca, &format!("{base}/health")).await, leaf.der);
    let r = client(&ca, false).get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(
        r.headers().get(header::STRICT_TRANSPORT_SECURITY).map(|v| v.to_str().unwrap()),
        Some("max-age=31536000")
    );

    // The TLS port never answers plain HTTP.
    let plain_on_tls = Client::new().get(format!("http://127.0.0.1:{}/health", server.port)).send().await;
    assert!(
        plain_on_tls.is_err() || !plain_on_tls.unwrap().status().is_success(),
        "plain HTTP answered on the TLS port"
    );

    // The plain listener sends every method and path to the same host on https, the query kept.
    for method in [reqwest::Method::GET, reqwest::Method::POST] {
        let r = client(&ca, false)
            .request(method.clone(), format!("http://{HOST}:{plain_port}/products?page=2"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::PERMANENT_REDIRECT, "{method}");
        assert_eq!(r.headers()[header::LOCATION], format!("{base}/products?page=2").as_str());
        assert!(r.headers().get(header::STRICT_TRANSPORT_SECURITY).is_none(), "HSTS is for https answers only");
    }
    let r = client(&ca, true).get(format!("http://{HOST}:{plain_port}/health")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.url().as_str(), format!("{base}/health"));

    // The session cookie is Secure with no other setting, and sign-in works (the login limiter gets the
    // peer address through the TLS listener).
    let r = client(&ca, false)
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = r.headers()[header::SET_COOKIE].to_str().unwrap().to_owned();
    assert!(cookie.contains("Secure") && cookie.contains("HttpOnly"), "{cookie}");
}

pub async fn replaced_certificate_is_served_without_restart() {
    let ca = TestCa::new();
    let first = ca.leaf(HOST);
    let mut server = spawn_tls(&ca, &first, None).await;
    let url = format!("https://{HOST}:{}/health", server.port);
    assert_eq!(served_certificate(&ca, &url).await, first.der);

    // A connection opened before the swap keeps working after it.
    let kept = client(&ca, false);
    assert_eq!(kept.get(&url).send().await.unwrap().status(), StatusCode::OK);

    let second = ca.leaf(HOST);
    second.write(server.certs.path());
    let mut swapped = false;
    for _ in 0..100 {
        // Every request meanwhile succeeds, with one certificate or the other.
        let der = served_certificate(&ca, &url).await;
        assert!(der == first.der || der == second.der, "a certificate that is neither");
        if der == second.der {
            swapped = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(swapped, "the new certificate was not served within 10 s");
    assert_eq!(kept.get(&url).send().await.unwrap().status(), StatusCode::OK);

    // A broken pair written later is not taken: the good one goes on being served.
    std::fs::write(server.certs.path().join("cert.pem"), "not a certificate").unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(served_certificate(&ca, &url).await, second.der);
    assert!(server.process.child.try_wait().unwrap().is_none(), "the server stopped");
}

/// Runs `mostrador serve` with `args` and `envs` and expects it to exit non-zero with `message` on
/// stderr, leaving nothing listening.
pub async fn refused(args: &[&str], envs: &[(&str, String)], message: &str) {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut cmd = binary_command(port, data.path(), envs);
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output()).await.expect("exits").unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "started with {args:?} {envs:?}");
    assert!(stderr.contains(message), "{message:?} not in: {stderr}");
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "something listens on {port}");
}

pub async fn bad_certificate_or_key_stops_the_start() {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().unwrap();
    ca.leaf(HOST).write(dir.path());
    let path = |name: &str| dir.path().join(name).display().to_string();
    let other = ca.leaf(HOST);
    std::fs::write(dir.path().join("other-key.pem"), &other.key_pem).unwrap();
    std::fs::write(dir.path().join("garbage.pem"), "hello\n").unwrap();
    std::fs::create_dir(dir.path().join("a-directory")).unwrap();
    let tls = |cert: String, key: String| vec![("MOSTRADOR_TLS_CERT", cert), ("MOSTRADOR_TLS_KEY", key)];

    let missing = path("missing.pem");
    refused(&[], &tls(missing.clone(), path("key.pem")), &format!("TLS certificate {missing}: cannot read it")).await;
    let unreadable = path("a-directory");
    refused(&[], &tls(path("cert.pem"), unreadable.clone()), &format!("TLS key {unreadable}: cannot read it")).await;
    refused(&[], &tls(path("garbage.pem"), path("key.pem")), "no PEM certificate").await;
    refused(&[], &tls(path("cert.pem"), path("garbage.pem")), "no PEM private key").await;
    refused(&[], &tls(path("cert.pem"), path("other-key.pem")), "does not match the certificate").await;
    refused(&["--tls-key", &path("key.pem")], &[], "--tls-cert").await;
    refused(&["--http-redirect-addr", "127.0.0.1:0"], &[], "--http-redirect-addr needs TLS").await;
}

/// LAN mode: the server makes its own CA on the first start, serves a certificate for its addresses
/// and names signed by it, gives the CA out (over plain HTTP too) but never its key, and keeps the same
/// CA across restarts so phones trust it once.
pub async fn lan_mode_makes_its_own_ca_and_keeps_it() {
    use sha2::Digest;
    let data = tempfile::tempdir().unwrap();
    let (port, plain_port) = (free_port(), free_port());
    let envs =
        [("MOSTRADOR_TLS_LAN", "true".to_owned()), ("MOSTRADOR_HTTP_REDIRECT_ADDR", format!("127.0.0.1:{plain_port}"))];
    let start = |data: std::path::PathBuf| {
        let envs = envs.clone();
        async move {
            let child = binary_command(port, &data, &envs).spawn().unwrap();
            // The CA is fetched the way a phone does: over plain HTTP, before trusting anything.
            let ca_url = format!("http://127.0.0.1:{plain_port}/mostrador-ca.crt");
            let mut ca = None;
            for _ in 0..400 {
                if let Ok(r) = Client::new().get(&ca_url).send().await {
                    assert_eq!(r.headers()[header::CONTENT_TYPE], "application/x-x509-ca-cert");
                    ca = Some(r.bytes().await.unwrap().to_vec());
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let ca = ca.expect("no CA certificate on the plain listener");
            let host = mostrador::tls::lan::host_name();
            let client = |name: &str| {
                Client::builder()
                    .tls_built_in_root_certs(false)
                    .add_root_certificate(reqwest::Certificate::from_der(&ca).unwrap())
                    .resolve(name, ([127, 0, 0, 1], 0).into())
                    .cookie_store(true)
                    .build()
                    .unwrap()
            };
            let process = wait_ready(child, format!("https://127.0.0.1:{port}"), &client("127.0.0.1")).await;
            // The certificate names the machine too: NAME and NAME.local.
            for name in [host.clone(), format!("{host}.local"), "localhost".to_owned()] {
                let r = client(&name).get(format!("https://{name}:{port}/health")).send().await;
                assert!(r.is_ok_and(|r| r.status() == StatusCode::OK), "https://{name}:{port} not trusted");
            }
            let trusted = client("127.0.0.1");
            (process, ca.clone(), trusted)
        }
    };
    let (mut first, ca, client) = start(data.path().to_owned()).await;
    assert!(!String::from_utf8_lossy(&ca).contains("PRIVATE"), "a key was served");

    // The CA key stays in the data dir, readable by the server's user only.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let key = data.path().join("lan-ca/ca-key.pem");
        assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::metadata(data.path().join("lan-ca")).unwrap().permissions().mode() & 0o777, 0o700);
    }

    // The admin's "Connect a phone" data: the https address, its QR code, the CA's fingerprint.
    let base = format!("https://127.0.0.1:{port}");
    let r = client
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let setup: serde_json::Value =
        client.get(format!("{base}/api/tls/phone")).send().await.unwrap().json().await.unwrap();
    assert_eq!(setup["mode"], "lan");
    let fingerprint: Vec<String> = sha2::Sha256::digest(&ca).iter().map(|b| format!("{b:02X}")).collect();
    assert_eq!(setup["ca"]["sha256"], fingerprint.join(":"));
    assert_eq!(setup["ca"]["download"], "/mostrador-ca.crt");
    assert!(setup["qr_svg"].as_str().unwrap().contains("<svg"), "{setup}");
    assert!(setup["urls"].as_array().unwrap().iter().all(|u| u.as_str().unwrap().starts_with("https://")), "{setup}");
    let plain = Client::builder().redirect(Policy::none()).build().unwrap();
    let r = plain.get(format!("http://127.0.0.1:{plain_port}/api/tls/phone")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::PERMANENT_REDIRECT, "only the CA certificate is served over plain HTTP");

    // A restart keeps the CA: phones that trust it go on working.
    first.child.kill().await.unwrap();
    let (_second, again, _) = start(data.path().to_owned()).await;
    assert!(again == ca, "a new CA after a restart");
}
