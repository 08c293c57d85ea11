//! Codec: encode + decode of a realistic scan record with perf-cache's default codec
//! (postcard) vs serde_json.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use perf_cache::{Codec, Json, Postcard};
use serde::{Deserialize, Serialize};

#[derive(Clone, Serialize, Deserialize, PartialEq, Debug)]
enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

#[derive(Clone, Serialize, Deserialize, PartialEq, Debug)]
struct Finding {
    rule_id: String,
    severity: Severity,
    title: String,
    cvss: f32,
    port: u16,
    evidence: Option<String>,
}

#[derive(Clone, Serialize, Deserialize, PartialEq, Debug)]
struct ScanRecord {
    id: u64,
    target: String,
    ip: String,
    status: String,
    started_at_ms: u64,
    duration_ms: u32,
    open_ports: Vec<u16>,
    findings: Vec<Finding>,
    tags: Vec<String>,
}

fn record() -> ScanRecord {
    ScanRecord {
        id: 982_451_653,
        target: "api.staging.example.com".into(),
        ip: "203.0.113.42".into(),
        status: "completed".into(),
        started_at_ms: 1_763_884_800_000,
        duration_ms: 48_210,
        open_ports: vec![22, 80, 443, 5432, 6379, 8080],
        findings: (0..8)
            .map(|i| Finding {
                rule_id: format!("TLS-{i:03}"),
                severity: [
                    Severity::Info,
                    Severity::Low,
                    Severity::Medium,
                    Severity::High,
                    Severity::Critical,
                ][i % 5]
                    .clone(),
                title: format!("Weak cipher suite offered on port {}", 443 + i),
                cvss: 5.3 + i as f32 / 10.0,
                port: 443,
                evidence: (i % 2 == 0).then(|| "TLS_RSA_WITH_3DES_EDE_CBC_SHA".to_owned()),
            })
            .collect(),
        tags: vec!["prod".into(), "pci".into(), "eu-west-1".into()],
    }
}

fn codec(c: &mut Criterion) {
    let rec = record();
    let mut sizes = (Vec::new(), Vec::new());
    Postcard.encode(&rec, &mut sizes.0).unwrap();
    Json.encode(&rec, &mut sizes.1).unwrap();
    eprintln!(
        "scan record: postcard {} bytes, JSON {} bytes",
        sizes.0.len(),
        sizes.1.len()
    );

    let mut g = c.benchmark_group("cache_codec_scan_record");
    g.bench_function("perf_cache_postcard_encode_decode", |b| {
        let mut buf = Vec::with_capacity(1024);
        b.iter(|| {
            buf.clear();
            Postcard.encode(black_box(&rec), &mut buf).unwrap();
            let back: ScanRecord = Postcard.decode(black_box(&buf)).unwrap();
            black_box(back)
        });
    });
    g.bench_function("serde_json_encode_decode", |b| {
        let mut buf = Vec::with_capacity(1024);
        b.iter(|| {
            buf.clear();
            serde_json::to_writer(&mut buf, black_box(&rec)).unwrap();
            let back: ScanRecord = serde_json::from_slice(black_box(&buf)).unwrap();
            black_box(back)
        });
    });
    g.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
