//! Running promtool, which the tests that use it require: a missing promtool fails naming the
//! Debian package that provides it (never a silent skip).

use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};

/// promtool on `PATH`.
pub(crate) fn path() -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join("promtool"))
                .find(|p| p.is_file())
        })
        .expect(
            "promtool is not installed: install Debian's `prometheus` package \
             (apt-get install prometheus); scripts/test does this when run as root",
        )
}

/// `promtool check metrics` on `text`: its exit status and its output (stdout, then stderr).
pub(crate) fn check_metrics(text: &str) -> (ExitStatus, String) {
    let mut child = Command::new(path())
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), text.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status, report)
}
