//! Uploading a backup file: it is checked before it is listed and restores on another server; an
//! upload over the limit is 413; a stalled upload holds up no backup and is cut off.

use std::time::Duration;

use reqwest::{Client, StatusCode};
use serde_json::json;

use super::{backup_dir, create_backup, digest, leftovers, list, sale, shop, spawn_like, NOT_COMPARED};
use crate::helpers::{code, status_json, TestApp};

pub async fn upload_checks_the_file_and_restores_elsewhere(app: TestApp) {
    app.login_admin().await;
    let (session, product) = shop(&app).await;
    assert_eq!(app.post("/api/sales", &sale(&session, &product, 4)).await.status(), StatusCode::CREATED);
    let backup = create_backup(&app).await;
    let bytes =
        app.get(&format!("/api/backups/{}/download", backup["id"].as_str().unwrap())).await.bytes().await.unwrap();
    let expected = digest(&app.db, NOT_COMPARED).await;

    // Another shop's server (fresh database, same engine) takes the file.
    let other = spawn_like(&app, |_| {}).await;
    other.login_admin().await;
    for junk in [b"hello, not a backup".to_vec(), vec![0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3]] {
        let r = other.client.post(other.url("/api/backups/upload")).body(junk).send().await.unwrap();
        let (status, body) = status_json(r).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(code(&body), "invalid_backup");
    }
    assert_eq!(list(&other).await["totals"]["count"], 0, "refused uploads leave nothing");
    assert!(std::fs::read_dir(backup_dir(&list(&other).await)).unwrap().all(|e| !e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .starts_with(".tmp-")));

    let r = other.client.post(other.url("/api/backups/upload")).body(bytes.to_vec()).send().await.unwrap();
    let (status, uploaded) = status_json(r).await;
    assert_eq!(status, StatusCode::CREATED, "{uploaded}");
    assert_eq!(uploaded["trigger"], "upload");
    assert_eq!(uploaded["sha256"], backup["sha256"]);
    assert_eq!(uploaded["row_counts"], backup["row_counts"]);
    let uid = uploaded["id"].as_str().unwrap();
    let (status, body) = status_json(other.post(&format!("/api/backups/{uid}/restore"), &json!({})).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The other server now has the first one's rows (its own admin user included, so users differ).
    let got = digest(&other.db, NOT_COMPARED).await;
    for table in ["sales", "sale_lines", "products", "inventory_movements", "cash_sessions"] {
        assert_eq!(got[table], expected[table], "{table}");
    }
}

/// An upload over `--backup-upload-limit` is 413 and leaves nothing behind; the ordinary body limit
/// (64 KiB in tests) does not apply to uploads.
pub async fn upload_over_the_limit_is_413(app: TestApp) {
    let app = spawn_like(&app, |c| c.backup.backup_upload_limit = 200 * 1024).await;
    app.login_admin().await;
    let r = app.client.post(app.url("/api/backups/upload")).body(vec![7u8; 300 * 1024]).send().await.unwrap();
    let (status, body) = status_json(r).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(code(&body), "payload_too_large");
    // 100 KiB (over the JSON limit, under the upload limit) reaches the checks: not a backup.
    let r = app.client.post(app.url("/api/backups/upload")).body(vec![7u8; 100 * 1024]).send().await.unwrap();
    let (status, body) = status_json(r).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(code(&body), "invalid_backup");
    let listed = list(&app).await;
    assert_eq!(listed["totals"]["count"], 0);
    assert!(leftovers(&backup_dir(&listed)).is_empty());
}

/// An upload that sends its headers and a few bytes, then nothing: a manual backup meanwhile runs
/// at once (the lock is taken only once a file has fully arrived), and the upload is cut off with
/// 503 `upload_stalled` after `--stall-timeout` (2 s here), leaving nothing behind.
pub async fn stalled_upload_blocks_no_backup_and_is_cut_off(app: TestApp) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_like(&app, |c| c.backup.stall_timeout_secs = 2).await;
    app.login_admin().await;
    let login = app.login_with(&Client::new(), "admin", crate::helpers::ADMIN_PASSWORD).await;
    let cookie = login.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let host = app.address.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&host).await.unwrap();
    let head = format!(
        "POST /api/backups/upload HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\nContent-Type: application/zstd\r\nContent-Length: 1000000\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&[0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0]).await.unwrap();
    stream.flush().await.unwrap();
    let stalled_at = std::time::Instant::now();

    // Meanwhile a backup runs (bounded wait: on a blocked lock this fails instead of hanging).
    let r = app.client.post(app.url("/api/backups")).timeout(Duration::from_secs(20)).send().await;
    let r = r.expect("a manual backup is not held up by a stalled upload");
    assert_eq!(r.status(), StatusCode::CREATED);

    // The stalled upload gets its answer once the limit has passed.
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    answer.extend_from_slice(&buf[..n]);
                    if answer.windows(14).any(|w| w == b"upload_stalled") {
                        break;
                    }
                }
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the stalled upload was never cut off");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("upload_stalled"), "{answer}");
    println!("stalled upload cut off after {} ms (limit 2 s)", stalled_at.elapsed().as_millis());
    assert!(stalled_at.elapsed() >= Duration::from_secs(2));
    let listed = list(&app).await;
    assert_eq!(listed["totals"]["count"], 1);
    assert!(leftovers(&backup_dir(&listed)).is_empty(), "{:?}", leftovers(&backup_dir(&listed)));
    assert!(std::fs::read_dir(backup_dir(&listed)).unwrap().all(|e| !e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .starts_with(".incoming-")));
}
