//! PoolConfig: environment, serde, validation errors, password redaction.

use std::collections::HashMap;
use std::time::Duration;

use perf_db::{Error, PoolConfig};

fn from_vars(vars: &[(&str, &str)]) -> perf_db::Result<PoolConfig> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    PoolConfig::from_lookup(|k| map.get(k).cloned())
}

#[test]
fn from_env_reads_every_documented_variable() {
    let c = from_vars(&[
        ("DATABASE_URL", "postgres://app:pw@db/app"),
        ("DATABASE_POOL_NAME", "primary"),
        ("DATABASE_POOL_MAX", "30"),
        ("DATABASE_POOL_MIN", "20"),
        ("DATABASE_POOL_ACQUIRE_TIMEOUT", "30s"),
        ("DATABASE_POOL_IDLE_TIMEOUT", "10m"),
        ("DATABASE_POOL_MAX_LIFETIME", "1h"),
        ("DATABASE_POOL_PRE_PING", "true"),
        ("DATABASE_POOL_PRE_PING_WINDOW", "250ms"),
        ("DATABASE_POOL_LEAK_THRESHOLD", "60s"),
        ("DATABASE_STATEMENT_TIMEOUT", "30s"),
        ("DATABASE_STATEMENT_TIMEOUT_MODE", "set_after_connect"),
        ("DATABASE_SQLITE_BUSY_TIMEOUT", "250ms"),
        ("DATABASE_APPLICATION_NAME", "billing"),
        ("DATABASE_SLOW_QUERY_WARN", "100ms"),
        ("DATABASE_SLOW_QUERY_ERROR", "1s"),
        ("DATABASE_QUERY_SPANS", "on"),
        ("DATABASE_LOG_BIND_VALUES", "yes"),
        ("DATABASE_AUTO_EXPLAIN", "1"),
        ("DATABASE_N_PLUS_ONE_THRESHOLD", "off"),
    ])
    .unwrap();
    assert_eq!(c.url(), "postgres://app:pw@db/app");
    assert_eq!(c.name(), "primary");
    assert_eq!(c.max_connections(), 30);
    assert_eq!(c.min_connections(), 20);
    assert_eq!(c.acquire_timeout(), Duration::from_secs(30));
    assert_eq!(c.idle_timeout(), Some(Duration::from_secs(600)));
    assert_eq!(c.max_lifetime(), Some(Duration::from_secs(3600)));
    assert!(c.test_before_acquire());
    assert_eq!(c.pre_ping_window(), Duration::from_millis(250));
    assert_eq!(c.leak_detection_threshold(), Some(Duration::from_secs(60)));
    assert_eq!(c.statement_timeout(), Some(Duration::from_secs(30)));
    assert_eq!(
        c.statement_timeout_mode(),
        perf_db::StatementTimeoutMode::SetAfterConnect
    );
    assert_eq!(c.sqlite_busy_timeout(), Duration::from_millis(250));
    assert_eq!(c.application_name(), Some("billing"));
    assert_eq!(c.slow_query_warn(), Some(Duration::from_millis(100)));
    assert_eq!(c.slow_query_error(), Some(Duration::from_secs(1)));
    assert!(c.query_spans());
    assert!(c.log_bind_values());
    assert!(c.auto_explain());
    assert_eq!(c.n_plus_one_threshold(), None);
}

#[test]
fn bind_values_are_off_unless_opted_in() {
    assert!(!PoolConfig::default().log_bind_values());
    let c = from_vars(&[("DATABASE_URL", "sqlite::memory:")]).unwrap();
    assert!(!c.log_bind_values());
    let c = from_vars(&[
        ("DATABASE_URL", "sqlite::memory:"),
        ("DATABASE_LOG_BIND_VALUES", "off"),
    ])
    .unwrap();
    assert!(!c.log_bind_values());
    match from_vars(&[
        ("DATABASE_URL", "sqlite::memory:"),
        ("DATABASE_LOG_BIND_VALUES", "sometimes"),
    ]) {
        Err(Error::InvalidEnv { var, message }) => {
            assert_eq!(var, "DATABASE_LOG_BIND_VALUES");
            assert!(message.contains("sometimes"), "{message}");
        }
        other => panic!("expected InvalidEnv, got {other:?}"),
    }
    let c: PoolConfig = serde_json::from_str(r#"{"log_bind_values": true}"#).unwrap();
    c.validate().unwrap();
    assert!(c.log_bind_values());
    let c: PoolConfig = serde_json::from_str("{}").unwrap();
    assert!(!c.log_bind_values());
    let built = PoolConfig::builder().log_bind_values(true).build().unwrap();
    assert!(built.log_bind_values());
    assert!(format!("{built:?}").contains("log_bind_values: true"));
    let json = serde_json::to_string(&built).unwrap();
    assert!(json.contains(r#""log_bind_values":true"#), "{json}");
}

#[test]
fn from_env_errors_name_the_variable() {
    let missing = from_vars(&[]).unwrap_err();
    assert!(
        matches!(
            missing,
            Error::InvalidEnv {
                var: "DATABASE_URL",
                ..
            }
        ),
        "{missing}"
    );
    let bad = from_vars(&[
        ("DATABASE_URL", "sqlite::memory:"),
        ("DATABASE_POOL_MAX", "lots"),
    ])
    .unwrap_err();
    assert!(
        matches!(
            bad,
            Error::InvalidEnv {
                var: "DATABASE_POOL_MAX",
                ..
            }
        ),
        "{bad}"
    );
    let bad = from_vars(&[
        ("DATABASE_URL", "sqlite::memory:"),
        ("DATABASE_POOL_PRE_PING", "maybe"),
    ])
    .unwrap_err();
    assert!(
        matches!(
            bad,
            Error::InvalidEnv {
                var: "DATABASE_POOL_PRE_PING",
                ..
            }
        ),
        "{bad}"
    );
    let bad = from_vars(&[
        ("DATABASE_URL", "sqlite::memory:"),
        ("DATABASE_STATEMENT_TIMEOUT", "3 fortnights"),
    ])
    .unwrap_err();
    assert!(
        matches!(
            bad,
            Error::InvalidEnv {
                var: "DATABASE_STATEMENT_TIMEOUT",
                ..
            }
        ),
        "{bad}"
    );
    // parsed but out of range: the field is named
    let bad = from_vars(&[
        ("DATABASE_URL", "sqlite::memory:"),
        ("DATABASE_POOL_MAX", "0"),
    ])
    .unwrap_err();
    assert!(
        matches!(
            bad,
            Error::InvalidConfig {
                field: "max_connections",
                ..
            }
        ),
        "{bad}"
    );
}

#[test]
fn serde_round_trip_and_human_durations() {
    let json = r#"{
        "url": "postgres://app@db/app",
        "max_connections": 30,
        "min_connections": 20,
        "acquire_timeout": "30s",
        "max_lifetime": 3600,
        "idle_timeout": "off",
        "statement_timeout": "30s",
        "pre_ping_window": "500ms"
    }"#;
    let c: PoolConfig = serde_json::from_str(json).unwrap();
    c.validate().unwrap();
    assert_eq!(c.max_lifetime(), Some(Duration::from_secs(3600)));
    assert_eq!(c.idle_timeout(), None);
    assert_eq!(c.name(), "default");
    let back: PoolConfig = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
    assert_eq!(back, c);
    let unknown = serde_json::from_str::<PoolConfig>(r#"{"pool_size": 20}"#).unwrap_err();
    assert!(unknown.to_string().contains("pool_size"), "{unknown}");
}

#[test]
fn durations_accept_humantime_forms_in_env_and_serde() {
    let c = from_vars(&[
        ("DATABASE_URL", "sqlite::memory:"),
        ("DATABASE_POOL_ACQUIRE_TIMEOUT", "1.5s"),
        ("DATABASE_POOL_MAX_LIFETIME", "1m30s"),
        ("DATABASE_POOL_PRE_PING_WINDOW", "500ms"),
        ("DATABASE_POOL_IDLE_TIMEOUT", "1m 15s"),
        ("DATABASE_STATEMENT_TIMEOUT", "2h 30m"),
        ("DATABASE_SLOW_QUERY_ERROR", "45"),
    ])
    .unwrap();
    assert_eq!(c.acquire_timeout(), Duration::from_millis(1500));
    assert_eq!(c.max_lifetime(), Some(Duration::from_secs(90)));
    assert_eq!(c.pre_ping_window(), Duration::from_millis(500));
    assert_eq!(c.idle_timeout(), Some(Duration::from_secs(75)));
    assert_eq!(c.statement_timeout(), Some(Duration::from_secs(9000)));
    assert_eq!(c.slow_query_error(), Some(Duration::from_secs(45)));

    let c: PoolConfig = serde_json::from_str(
        r#"{"acquire_timeout": "1.5s", "max_lifetime": "1m30s", "idle_timeout": null,
            "pre_ping_window": 0.25, "statement_timeout": "off", "slow_query_warn": "500ms"}"#,
    )
    .unwrap();
    c.validate().unwrap();
    assert_eq!(c.acquire_timeout(), Duration::from_millis(1500));
    assert_eq!(c.max_lifetime(), Some(Duration::from_secs(90)));
    assert_eq!(c.idle_timeout(), None);
    assert_eq!(c.pre_ping_window(), Duration::from_millis(250));
    assert_eq!(c.statement_timeout(), None);
    assert_eq!(c.slow_query_warn(), Some(Duration::from_millis(500)));
    // serialized in humantime's form, and read back
    let json = serde_json::to_string(&c).unwrap();
    assert!(json.contains(r#""acquire_timeout":"1s 500ms""#), "{json}");
    assert!(json.contains(r#""max_lifetime":"1m 30s""#), "{json}");
    assert_eq!(serde_json::from_str::<PoolConfig>(&json).unwrap(), c);

    let mode: PoolConfig =
        serde_json::from_str(r#"{"statement_timeout_mode": "set_after_connect"}"#).unwrap();
    assert_eq!(
        mode.statement_timeout_mode(),
        perf_db::StatementTimeoutMode::SetAfterConnect
    );
    let bad_mode = from_vars(&[
        ("DATABASE_URL", "sqlite::memory:"),
        ("DATABASE_STATEMENT_TIMEOUT_MODE", "later"),
    ])
    .unwrap_err();
    assert!(
        matches!(
            bad_mode,
            Error::InvalidEnv {
                var: "DATABASE_STATEMENT_TIMEOUT_MODE",
                ..
            }
        ),
        "{bad_mode}"
    );
    let bad = serde_json::from_str::<PoolConfig>(r#"{"acquire_timeout": "soon"}"#).unwrap_err();
    assert!(bad.to_string().contains("`soon`"), "{bad}");
    let off = serde_json::from_str::<PoolConfig>(r#"{"acquire_timeout": "off"}"#).unwrap_err();
    assert!(off.to_string().contains("cannot be turned off"), "{off}");
    match from_vars(&[
        ("DATABASE_URL", "sqlite::memory:"),
        ("DATABASE_POOL_ACQUIRE_TIMEOUT", "1.5 fortnights"),
    ]) {
        Err(Error::InvalidEnv { var, message }) => {
            assert_eq!(var, "DATABASE_POOL_ACQUIRE_TIMEOUT");
            assert!(message.contains("1.5 fortnights"), "{message}");
        }
        other => panic!("expected InvalidEnv, got {other:?}"),
    }
}

fn field_of(result: perf_db::Result<PoolConfig>) -> (&'static str, String, String) {
    match result.unwrap_err() {
        Error::InvalidConfig {
            field,
            value,
            allowed,
        } => (field, value, allowed),
        other => panic!("expected InvalidConfig, got {other}"),
    }
}

#[test]
fn every_validation_error_names_field_and_range() {
    let b = PoolConfig::builder;
    let cases: Vec<(perf_db::Result<PoolConfig>, &str, &str)> = vec![
        (b().url("").build(), "url", "URL"),
        (b().name("").build(), "name", "1..=64"),
        (
            b().max_connections(0).build(),
            "max_connections",
            "1..=10000",
        ),
        (
            b().max_connections(20_000).build(),
            "max_connections",
            "1..=10000",
        ),
        (
            b().max_connections(5).min_connections(6).build(),
            "min_connections",
            "0..=5",
        ),
        (
            b().acquire_timeout(Duration::ZERO).build(),
            "acquire_timeout",
            "250ms..=",
        ),
        (
            b().max_lifetime(Some(Duration::from_secs(10))).build(),
            "max_lifetime",
            "30s..=",
        ),
        (
            b().idle_timeout(Some(Duration::ZERO)).build(),
            "idle_timeout",
            "10s..=",
        ),
        (
            b().max_lifetime(Some(Duration::from_secs(60)))
                .idle_timeout(Some(Duration::from_secs(60)))
                .build(),
            "idle_timeout",
            "below max_lifetime",
        ),
        (
            b().pre_ping_window(Duration::from_secs(120)).build(),
            "pre_ping_window",
            "0ns..=60s",
        ),
        (
            b().statement_timeout(Some(Duration::ZERO)).build(),
            "statement_timeout",
            "1ms..=",
        ),
        (
            b().application_name("").build(),
            "application_name",
            "1..=63",
        ),
        (
            b().leak_detection_threshold(Some(Duration::from_secs(1)))
                .build(),
            "leak_detection_threshold",
            "2s..=",
        ),
        (
            b().slow_query_warn(Some(Duration::ZERO)).build(),
            "slow_query_warn",
            "1ms..=",
        ),
        (
            b().slow_query_warn(Some(Duration::from_secs(2)))
                .slow_query_error(Some(Duration::from_secs(1)))
                .build(),
            "slow_query_error",
            "2s..=",
        ),
        (
            b().statement_log_chars(0).build(),
            "statement_log_chars",
            "16..=100000",
        ),
        (
            b().statement_capacity(0).build(),
            "statement_capacity",
            "1..=100000",
        ),
        (
            b().n_plus_one_threshold(Some(0)).build(),
            "n_plus_one_threshold",
            "1..=",
        ),
        (b().sqlite_cache_kib(1).build(), "sqlite_cache_kib", "64..="),
        (
            b().sqlite_busy_timeout(Duration::from_secs(7200)).build(),
            "sqlite_busy_timeout",
            "0ns..=3600s",
        ),
    ];
    for (result, field, range) in cases {
        let (got, value, allowed) = field_of(result);
        assert_eq!(got, field, "{value} / {allowed}");
        assert!(
            allowed.contains(range),
            "{field}: `{allowed}` should mention `{range}`"
        );
        let text = Error::InvalidConfig {
            field: got,
            value: value.clone(),
            allowed: allowed.clone(),
        }
        .to_string();
        assert_eq!(
            text,
            format!("invalid `{field}`: got {value}, allowed: {allowed}")
        );
    }
    // The defaults are valid, and so are the seeds' settings.
    PoolConfig::default().validate().unwrap();
}

#[test]
fn password_is_redacted_in_debug_display_and_serialize() {
    let c = PoolConfig::builder()
        .url("postgres://app:hunter2@db:5432/app")
        .build()
        .unwrap();
    for text in [
        format!("{c:?}"),
        c.to_string(),
        serde_json::to_string(&c).unwrap(),
    ] {
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("app:***@db:5432"), "{text}");
    }
    assert_eq!(c.url(), "postgres://app:hunter2@db:5432/app");
}

#[test]
fn from_env_reads_the_process_environment() {
    // scripts/test exports DATABASE_URL; a bare `cargo test` may not: both outcomes are checked.
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => {
            let config = PoolConfig::from_env().unwrap();
            assert_eq!(config.url(), url);
        }
        _ => {
            let err = PoolConfig::from_env().unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::InvalidEnv {
                        var: "DATABASE_URL",
                        ..
                    }
                ),
                "{err}"
            );
        }
    }
}
