//! `mostrador backup …` at the command line: create, list, verify, restore (while another connection
//! has the database open) and prune, on SQLite.

fn cli(data: &std::path::Path, args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mostrador"))
        .arg("backup")
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .env_remove("DATABASE_URL")
        .env_remove("MOSTRADOR_S3_BUCKET")
        .env("MOSTRADOR_BACKUP_SCHEDULE", "off")
        .output()
        .unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

pub async fn cli_creates_lists_verifies_restores_and_prunes() {
    let data = tempfile::tempdir().unwrap();
    let (ok, out) = cli(data.path(), &["create"]);
    assert!(ok, "{out}");
    let id = out.split_whitespace().nth(1).unwrap().to_owned();
    assert!(mostrador::backup::BackupId::parse(&id).is_some(), "{out}");

    // A row written after the backup (as the running server would).
    let db =
        sqlx::SqlitePool::connect(&format!("sqlite://{}", data.path().join("mostrador.db").display())).await.unwrap();
    sqlx::query("INSERT INTO categories (id, name, created_at, updated_at) VALUES ('c1', 'después', 'x', 'x')")
        .execute(&db)
        .await
        .unwrap();

    let (ok, out) = cli(data.path(), &["list"]);
    assert!(ok && out.contains(&id) && out.contains("1 backup(s)"), "{out}");
    let (ok, out) = cli(data.path(), &["verify", &id]);
    assert!(ok && out.contains("verified"), "{out}");
    let (ok, out) = cli(data.path(), &["verify", "../../etc/passwd"]);
    assert!(!ok && out.contains("not a backup id"), "{out}");
    let (ok, out) = cli(data.path(), &["restore", &id]);
    assert!(ok && out.contains("restored"), "{out}");
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM categories").fetch_one(&db).await.unwrap();
    assert_eq!(n, 0, "restored while another connection had the database open");

    // Now: the backup, its pre-restore copy; keep 1 keeps the newest and the verified one.
    let (ok, out) = cli(data.path(), &["create"]);
    assert!(ok, "{out}");
    let (ok, out) = cli(data.path(), &["prune", "--backup-keep", "1"]);
    assert!(ok && out.contains("removed 1 backup(s)"), "{out}");
    let (_, out) = cli(data.path(), &["list"]);
    assert!(out.contains(&id) && out.contains("2 backup(s)"), "the verified one stays: {out}");
}
