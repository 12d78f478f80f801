//! Throwaway PostgreSQL clusters for tests: `initdb` into a temp dir, `pg_ctl start` on a free port,
//! trust authentication on 127.0.0.1 only, stopped and deleted on drop. As root (CI), the server
//! runs as the `postgres` user, since PostgreSQL refuses to run as root.

use std::{net::TcpListener, path::PathBuf, process::Command};

pub struct PgCluster {
    dir: tempfile::TempDir,
    pub port: u16,
    /// Extra `-c name=value` server settings (e.g. wal_level=logical for a replication primary).
    extra: String,
}

pub fn bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("PG_BIN_DIR") {
        return dir.into();
    }
    for v in ["17", "16", "15"] {
        let p = PathBuf::from(format!("/usr/lib/postgresql/{v}/bin"));
        if p.join("initdb").exists() {
            return p;
        }
    }
    PathBuf::from("/usr/bin")
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| o.stdout == b"0\n").unwrap_or(false)
}

/// Runs a PostgreSQL tool, as `postgres` when we are root.
fn pg_command(tool: &str) -> Command {
    let path = bin_dir().join(tool);
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(path);
        c
    } else {
        Command::new(path)
    }
}

fn run(mut cmd: Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: cannot run ({e}); is PostgreSQL installed?"));
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl PgCluster {
    pub fn start() -> PgCluster {
        PgCluster::start_with("")
    }

    /// A cluster with extra server settings, e.g. `-c wal_level=logical`.
    pub fn start_with(extra: &str) -> PgCluster {
        let dir = tempfile::Builder::new().prefix("mostrador-pg-").tempdir().expect("temp dir");
        if is_root() {
            run(
                {
                    let mut c = Command::new("chown");
                    c.args(["-R", "postgres:postgres"]).arg(dir.path());
                    c
                },
                "chown",
            );
        }
        let data = dir.path().join("data");
        let mut initdb = pg_command("initdb");
        initdb.args(["-D"]).arg(&data).args(["-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"]);
        run(initdb, "initdb");
        let port = free_port();
        let cluster = PgCluster { dir, port, extra: extra.to_owned() };
        cluster.pg_ctl_start();
        cluster
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn pg_ctl_start(&self) {
        let mut start = pg_command("pg_ctl");
        start
            .args(["-D"])
            .arg(self.data())
            .args(["-w", "-l"])
            .arg(self.dir.path().join("log"))
            .arg("-o")
            .arg(format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=400 {}",
                self.port,
                self.dir.path().display(),
                self.extra
            ))
            .arg("start");
        run(start, "pg_ctl start");
    }

    pub fn stop(&self) {
        let mut stop = pg_command("pg_ctl");
        stop.args(["-D"]).arg(self.data()).args(["-m", "immediate", "-w", "stop"]);
        run(stop, "pg_ctl stop");
    }

    /// Stops the cluster and deletes its files (for a cluster kept in a static, never dropped).
    pub fn cleanup(&self) {
        let mut stop = pg_command("pg_ctl");
        stop.args(["-D"]).arg(self.data()).args(["-m", "immediate", "-w", "stop"]);
        let _ = stop.output();
        let _ = std::fs::remove_dir_all(self.dir.path());
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// A fresh, empty database in this cluster.
    pub async fn create_database(&self) -> String {
        use sqlx::Connection;
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(&self.url("postgres")).await.expect("connect to test cluster");
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.expect("create database");
        self.url(&name)
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let mut stop = pg_command("pg_ctl");
        stop.args(["-D"]).arg(self.data()).args(["-m", "immediate", "-w", "stop"]);
        let _ = stop.output();
    }
}
