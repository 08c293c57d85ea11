//! `rediss://` with AUTH against a private TLS redis-server (certificates made with openssl).
#![cfg(feature = "redis-tls")]

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{free_port, namespace, require_binary};
use perf_cache::{Cache, Key};

fn openssl(dir: &std::path::Path, args: &[&str]) {
    let status = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap_or_else(|e| {
            panic!("openssl is needed for the TLS test (apt-get install openssl): {e}")
        });
    assert!(status.success(), "openssl {args:?} failed");
}

struct TlsRedis(Child);

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn rediss_with_password_and_private_ca() {
    require_binary("openssl", "openssl");
    require_binary("redis-server", "redis-server");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    openssl(
        d,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "1",
            "-subj",
            "/CN=perf-cache-test-ca",
        ],
    );
    openssl(
        d,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    std::fs::write(d.join("ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    openssl(
        d,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "1",
            "-extfile",
            "ext",
        ],
    );

    let port = free_port();
    let server = TlsRedis(
        Command::new("redis-server")
            .args([
                "--port",
                "0",
                "--tls-port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .args([
                "--tls-cert-file",
                "server.crt",
                "--tls-key-file",
                "server.key",
                "--tls-ca-cert-file",
                "ca.crt",
            ])
            .args([
                "--tls-auth-clients",
                "no",
                "--requirepass",
                "s3cret",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .current_dir(d)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start redis-server: {e}")),
    );
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }

    let ca = std::fs::read(d.join("ca.crt")).unwrap();
    let url = format!("rediss://:s3cret@127.0.0.1:{port}");
    let ns = namespace("tls");
    let cache = Cache::<String>::builder()
        .namespace(&ns)
        .redis_url(&url)
        .redis_root_cert_pem(ca.clone())
        .redis_timeout(Duration::from_secs(2))
        .require_l2(true)
        .build()
        .await
        .expect("TLS + AUTH connection");
    assert!(!format!("{cache:?}").contains("s3cret"));
    cache.set(&Key::new("k"), "over tls".into()).await.unwrap();
    let other = Cache::<String>::builder()
        .namespace(&ns)
        .redis_url(&url)
        .redis_root_cert_pem(ca)
        .redis_timeout(Duration::from_secs(2))
        .build()
        .await
        .unwrap();
    assert_eq!(other.get(&Key::new("k")).await.as_deref(), Some("over tls"));
    assert_eq!(other.stats().l2.unwrap().hits, 1);

    // Sessions take the same private CA.
    let sessions = perf_cache::SessionStore::<String>::builder()
        .redis_url(&url)
        .redis_root_cert_pem(std::fs::read(d.join("ca.crt")).unwrap())
        .namespace(&ns)
        .timeout(Duration::from_secs(2))
        .sliding(true)
        .build()
        .await
        .unwrap();
    sessions
        .set("s", &"session over tls".to_owned())
        .await
        .unwrap();
    assert_eq!(
        sessions.get("s").await.unwrap().as_deref(),
        Some("session over tls")
    );

    let wrong = Cache::<String>::builder()
        .namespace(&ns)
        .redis_url(format!("rediss://:wrong@127.0.0.1:{port}"))
        .require_l2(true)
        .build()
        .await
        .unwrap_err();
    assert!(
        !wrong.to_string().contains("wrong@"),
        "password redacted: {wrong}"
    );
    drop(server);
}
