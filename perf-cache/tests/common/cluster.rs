//! A private three-primary Redis Cluster on loopback ports (redis-server + redis-cli), for the
//! tests that need one.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{free_port, require_binary};

/// One cluster node, killed on drop.
pub struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts three primaries in `dir` and joins them into a cluster; returns the nodes (keep them
/// alive) and their ports once every node reports `cluster_state:ok`.
pub fn start_cluster(dir: &std::path::Path) -> (Vec<Node>, Vec<u16>) {
    require_binary("redis-server", "redis-server");
    require_binary("redis-cli", "redis-tools");
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let nodes: Vec<Node> = ports
        .iter()
        .map(|port| {
            let p = port.to_string();
            Node(
                Command::new("redis-server")
                    .args([
                        "--port",
                        &p,
                        "--bind",
                        "127.0.0.1",
                        "--cluster-enabled",
                        "yes",
                    ])
                    .args([
                        "--cluster-config-file",
                        &format!("nodes-{p}.conf"),
                        "--save",
                        "",
                        "--appendonly",
                        "no",
                    ])
                    .current_dir(dir)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap_or_else(|e| panic!("cannot start redis-server: {e}")),
            )
        })
        .collect();
    for port in &ports {
        let mut up = false;
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", *port)).is_ok() {
                up = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(up, "cluster node on {port} did not start");
    }
    let addrs: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let status = Command::new("redis-cli")
        .args(["--cluster", "create"])
        .args(&addrs)
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("redis-cli is needed for the cluster test: {e}"));
    assert!(status.success(), "redis-cli --cluster create failed");
    for port in &ports {
        let mut ok = false;
        for _ in 0..250 {
            let out = Command::new("redis-cli")
                .args(["-p", &port.to_string(), "cluster", "info"])
                .output()
                .unwrap();
            if String::from_utf8_lossy(&out.stdout).contains("cluster_state:ok") {
                ok = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(40));
        }
        assert!(ok, "cluster not ready on {port}");
    }
    (nodes, ports)
}
