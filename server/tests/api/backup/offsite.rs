//! Off-site copies against moto's S3-compatible server: copied (optionally age-encrypted), listed
//! and verified from the bucket when the disk is gone, fetched back for a restore, deleted with the
//! backup; and the object key always comes from our own naming, never from the bucket's metadata.

use std::{path::PathBuf, process::Stdio, time::Duration};

use object_store::ObjectStore;
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{backup_dir, create_backup, data_file, digest, list, sale, shop, spawn_like, NOT_COMPARED};
use crate::{
    helpers::{status_json, TestApp},
    postgres::free_port,
};

struct Moto {
    child: tokio::process::Child,
    endpoint: String,
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|d| d.join(program)).find(|p| p.exists()))
}

impl Moto {
    async fn start() -> Moto {
        let port = free_port();
        // On PATH, or where scripts/setup.sh --test puts it.
        let cached = std::env::var("HOME").map(|h| PathBuf::from(h).join(".cache/mostrador/moto/bin/moto_server")).ok();
        let program = match cached {
            Some(p) if p.exists() && which("moto_server").is_none() => p,
            _ => PathBuf::from("moto_server"),
        };
        let child = tokio::process::Command::new(program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("moto_server (pip install 'moto[server]'; scripts/setup.sh --test installs it)");
        let endpoint = format!("http://127.0.0.1:{port}");
        let probe = Client::new();
        for _ in 0..300 {
            if probe.get(&endpoint).send().await.is_ok() {
                return Moto { child, endpoint };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("moto_server did not start");
    }

    fn store(&self, bucket: &str) -> impl object_store::ObjectStore {
        object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_region("us-east-1")
            .with_endpoint(&self.endpoint)
            .with_allow_http(true)
            .with_access_key_id("testing")
            .with_secret_access_key("testing")
            .build()
            .unwrap()
    }

    async fn create_bucket(&self, name: &str) {
        let r = Client::new().put(format!("{}/{name}", self.endpoint)).send().await.unwrap();
        assert!(r.status().is_success(), "create bucket: {}", r.status());
    }
}

pub async fn offsite_copy_and_fetch_back(app: TestApp) {
    offsite(app, None).await;
}

pub async fn offsite_copy_is_encrypted_with_age(app: TestApp) {
    offsite(app, Some("correct horse battery staple")).await;
}

async fn offsite(app: TestApp, passphrase: Option<&'static str>) {
    let mut moto = Moto::start().await;
    let bucket = format!("b{}", &Uuid::new_v4().simple().to_string()[..12]);
    moto.create_bucket(&bucket).await;
    let endpoint = moto.endpoint.clone();
    let bucket2 = bucket.clone();
    let app = spawn_like(&app, move |c| {
        c.backup.s3_bucket = Some(bucket2);
        c.backup.s3_endpoint = Some(endpoint);
        c.backup.s3_access_key_id = Some("testing".into());
        c.backup.s3_secret_access_key = Some("testing".into());
        c.backup.s3_prefix = "shop/one".into();
        c.backup.backup_passphrase = passphrase.map(str::to_owned);
    })
    .await;
    app.login_admin().await;
    let (session, product) = shop(&app).await;
    assert_eq!(app.post("/api/sales", &sale(&session, &product, 2)).await.status(), StatusCode::CREATED);
    let backup = create_backup(&app).await;
    let id = backup["id"].as_str().unwrap();
    let remote = &backup["remote"];
    assert!(remote["key"].as_str().unwrap().starts_with("shop/one/"), "{backup}");
    let expected = digest(&app.db, NOT_COMPARED).await;

    // The object is really in the bucket, byte for byte.
    let s3 = moto.store(&bucket);
    let key = object_store::path::Path::from(remote["key"].as_str().unwrap());
    let object = s3.get(&key).await.unwrap().bytes().await.unwrap();
    match passphrase {
        None => assert_eq!(hex::encode(Sha256::digest(&object)), backup["sha256"].as_str().unwrap()),
        Some(_) => {
            assert!(object.starts_with(b"age-encryption.org/v1"), "encrypted before it left");
            assert!(key.as_ref().ends_with(".age"));
            assert_eq!(remote["encrypted"], true);
            let local = std::fs::read(data_file(&backup_dir(&list(&app).await), &backup)).unwrap();
            assert!(!object.windows(64).any(|w| local.windows(64).next() == Some(w)), "no plaintext in the object");
        }
    }

    let (_, report) = status_json(app.post(&format!("/api/backups/{id}/verify"), &json!({})).await).await;
    assert_eq!(report["ok"], true, "{report}");

    // The disk dies: the local copy is gone, the list still shows the remote one (verified).
    let dir = backup_dir(&list(&app).await);
    std::fs::remove_file(data_file(&dir, &backup)).unwrap();
    std::fs::remove_file(dir.join(format!("{id}.json"))).unwrap();
    let listed = list(&app).await;
    assert_eq!(listed["totals"]["count"], 1);
    assert_eq!(listed["backups"][0]["local"], false);
    assert!(listed["backups"][0]["remote"].is_object());
    assert!(listed["backups"][0]["verified_at"].is_string(), "the off-site metadata knows it was verified");

    assert_eq!(app.post("/api/sales", &sale(&session, &product, 7)).await.status(), StatusCode::CREATED);
    if passphrase.is_some() {
        // Another server on the same bucket without the passphrase cannot read it, and says why.
        let (endpoint, bucket3) = (moto.endpoint.clone(), bucket.clone());
        let other = spawn_like(&app, move |c| {
            c.backup.s3_bucket = Some(bucket3);
            c.backup.s3_endpoint = Some(endpoint);
            c.backup.s3_access_key_id = Some("testing".into());
            c.backup.s3_secret_access_key = Some("testing".into());
            c.backup.s3_prefix = "shop/one".into();
            c.backup.backup_passphrase = Some("wrong".into());
        })
        .await;
        other.login_admin().await;
        let (status, body) = status_json(other.post(&format!("/api/backups/{id}/restore"), &json!({})).await).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("passphrase"), "{body}");
    }
    let (status, body) = status_json(app.post(&format!("/api/backups/{id}/restore"), &json!({})).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(digest(&app.db, NOT_COMPARED).await, expected);
    // Fetched back: local again, and the safety backup went off-site too.
    let listed = list(&app).await;
    let fetched = listed["backups"].as_array().unwrap().iter().find(|b| b["id"] == backup["id"]).unwrap();
    assert_eq!(fetched["local"], true);
    assert!(body["safety_backup"]["remote"].is_object(), "{body}");

    // Deleting removes it off-site too.
    let r = app.delete(&format!("/api/backups/{id}")).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(matches!(s3.get(&key).await, Err(object_store::Error::NotFound { .. })));
    let _ = moto.child.start_kill();
    let _ = moto.child.wait().await;
}

/// Someone with write access to the bucket edits a copy's metadata so that its `remote.key` names
/// another object. Restoring and deleting the backup still use the key our own naming gives its id:
/// the other object is neither fetched nor deleted.
pub async fn offsite_key_comes_from_our_naming(app: TestApp) {
    let mut moto = Moto::start().await;
    let bucket = format!("b{}", &Uuid::new_v4().simple().to_string()[..12]);
    moto.create_bucket(&bucket).await;
    let (endpoint, bucket2) = (moto.endpoint.clone(), bucket.clone());
    let app = spawn_like(&app, move |c| {
        c.backup.s3_bucket = Some(bucket2);
        c.backup.s3_endpoint = Some(endpoint);
        c.backup.s3_access_key_id = Some("testing".into());
        c.backup.s3_secret_access_key = Some("testing".into());
        c.backup.s3_prefix = "shop".into();
    })
    .await;
    app.login_admin().await;
    let backup = create_backup(&app).await;
    let id = backup["id"].as_str().unwrap();
    let ours = object_store::path::Path::from(backup["remote"]["key"].as_str().unwrap());
    let s3 = moto.store(&bucket);
    let victim = object_store::path::Path::from("shop/victim.bin");
    s3.put(&victim, b"not a backup".to_vec().into()).await.unwrap();
    let meta_key = object_store::path::Path::from(format!("shop/{id}.json"));
    let mut meta: Value = serde_json::from_slice(&s3.get(&meta_key).await.unwrap().bytes().await.unwrap()).unwrap();
    meta["remote"]["key"] = json!("shop/victim.bin");
    s3.put(&meta_key, serde_json::to_vec(&meta).unwrap().into()).await.unwrap();
    // Only the (edited) off-site copy is left.
    let dir = backup_dir(&list(&app).await);
    std::fs::remove_file(data_file(&dir, &backup)).unwrap();
    std::fs::remove_file(dir.join(format!("{id}.json"))).unwrap();

    let (status, body) = status_json(app.post(&format!("/api/backups/{id}/restore"), &json!({})).await).await;
    assert_eq!(status, StatusCode::OK, "fetched from our own key, checksum intact: {body}");
    let r = app.delete(&format!("/api/backups/{id}")).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(matches!(s3.get(&ours).await, Err(object_store::Error::NotFound { .. })), "our copy is deleted");
    assert_eq!(
        &s3.get(&victim).await.unwrap().bytes().await.unwrap()[..],
        b"not a backup",
        "the other object is untouched"
    );
    let _ = moto.child.start_kill();
    let _ = moto.child.wait().await;
}
