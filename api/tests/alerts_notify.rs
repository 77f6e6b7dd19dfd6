//! Alerting end to end below the HTTP API: a real namespace driven into a real condition (misses,
//! a full store), the real engine, and real receivers (an HTTP server recording webhook calls and
//! an SMTP server recording mails) started by the test.
//!
//! The engine is ticked directly with explicit timestamps, so windows and cool-downs are stepped
//! deterministically instead of slept through.

mod alerts_receivers;

use std::sync::Arc;

use alerts_receivers::{SmtpRecorder, WebhookRecorder};
use larder_runtime::alert::engine::unix_ms;
use larder_runtime::alert::{
    AlertCondition, AlertEngine, AlertError, AlertRule, AlertState, AlertsConfig, NotifierConfig,
    Severity, WebhookFormat,
};
use larder_runtime::{NamespaceConfig, Namespaces, SetOptions};

fn namespaces_with(names: &[&str], config: NamespaceConfig) -> Arc<Namespaces> {
    let namespaces = Namespaces::new(NamespaceConfig::default()).expect("registry");
    for name in names {
        namespaces
            .create(name, config.clone())
            .expect("create namespace");
    }
    Arc::new(namespaces)
}

fn cold_rule(name: &str, namespace: Option<&str>, cooldown_secs: u64) -> AlertRule {
    AlertRule {
        name: name.into(),
        namespace: namespace.map(Into::into),
        condition: AlertCondition::HitRatioBelow {
            threshold: 0.5,
            min_reads: 10,
        },
        severity: Severity::Critical,
        window_secs: 10,
        cooldown_secs,
        webhook: None,
    }
}

fn webhook(url: String, format: WebhookFormat, max_per_minute: u32) -> NotifierConfig {
    NotifierConfig::Webhook {
        url,
        format,
        max_per_minute,
    }
}

fn email(port: u16) -> NotifierConfig {
    NotifierConfig::Email {
        smtp_host: "127.0.0.1".into(),
        smtp_port: port,
        from: "larder@example.com".into(),
        to: vec!["oncall@example.com".into(), "cache-team@example.com".into()],
        max_per_minute: 20,
    }
}

/// `n` reads of keys that do not exist: real misses.
fn miss(namespaces: &Namespaces, ns: &str, n: usize) {
    let store = namespaces.get(ns).unwrap();
    for i in 0..n {
        assert!(
            store
                .store()
                .get_vec(format!("absent-{i}").as_bytes())
                .is_none()
        );
    }
}

/// Write one key, then read it `n` times: real hits.
fn hit(namespaces: &Namespaces, ns: &str, n: usize) {
    let ns = namespaces.get(ns).unwrap();
    ns.store()
        .set(b"hot", b"value", SetOptions::default())
        .unwrap();
    for _ in 0..n {
        assert!(ns.store().get_vec(b"hot").is_some());
    }
}

#[tokio::test]
async fn low_hit_ratio_fires_once_through_flapping_then_resolves_on_every_notifier() {
    let hooks = WebhookRecorder::start().await;
    let smtp = SmtpRecorder::start().await;
    let namespaces = namespaces_with(&["sessions"], NamespaceConfig::default());
    let config = AlertsConfig {
        rules: vec![cold_rule("sessions-cold", Some("sessions"), 30)],
        notifiers: vec![
            webhook(hooks.url("slack"), WebhookFormat::Slack, 20),
            webhook(hooks.url("json"), WebhookFormat::Json, 20),
            email(smtp.port),
        ],
        ..AlertsConfig::default()
    };
    let engine = AlertEngine::new(&config, namespaces.clone()).expect("engine");
    let t0 = unix_ms();

    engine.tick(t0).await;
    miss(&namespaces, "sessions", 50);
    engine.tick(t0 + 10_000).await;

    let alerts = engine.alerts();
    assert_eq!(alerts.active.len(), 1, "{alerts:?}");
    let firing = &alerts.active[0];
    assert_eq!(
        (firing.rule.as_str(), firing.namespace.as_str()),
        ("sessions-cold", "sessions")
    );
    assert_eq!(firing.state, AlertState::Firing);
    assert_eq!(firing.value, 0.0);
    assert_eq!(hooks.received("slack").len(), 1);
    assert_eq!(hooks.received("json").len(), 1);
    assert_eq!(smtp.received().len(), 1);

    // Flap inside the 30 s cool-down: clear, breach again, clear. Still the same alert, and not
    // one more message.
    hit(&namespaces, "sessions", 200);
    engine.tick(t0 + 20_000).await;
    miss(&namespaces, "sessions", 50);
    engine.tick(t0 + 30_000).await;
    hit(&namespaces, "sessions", 200);
    engine.tick(t0 + 40_000).await;
    hit(&namespaces, "sessions", 200);
    engine.tick(t0 + 50_000).await;
    assert_eq!(engine.alerts().active.len(), 1);
    assert_eq!(engine.alerts().active[0].started_at_ms, t0 + 10_000);
    assert_eq!(hooks.received("slack").len(), 1);
    assert_eq!(hooks.received("json").len(), 1);
    assert_eq!(smtp.received().len(), 1);

    // Clear for the whole cool-down since the last breach (t0+30 s): resolved.
    hit(&namespaces, "sessions", 200);
    engine.tick(t0 + 60_000).await;
    let alerts = engine.alerts();
    assert!(alerts.active.is_empty(), "{alerts:?}");
    assert_eq!(alerts.recent.len(), 1);
    assert_eq!(alerts.recent[0].state, AlertState::Resolved);
    assert_eq!(alerts.recent[0].resolved_at_ms, Some(t0 + 60_000));

    let slack = hooks.received("slack");
    assert_eq!(slack.len(), 2);
    let texts: Vec<&str> = slack.iter().map(|b| b["text"].as_str().unwrap()).collect();
    assert!(texts[0].starts_with("[FIRING] critical sessions-cold on namespace sessions"));
    assert!(
        texts[0].contains("hit ratio 0.0% below 50.0%"),
        "{}",
        texts[0]
    );
    assert!(
        texts[1].starts_with("[RESOLVED] critical sessions-cold"),
        "{}",
        texts[1]
    );
    assert_eq!(
        slack[0].as_object().unwrap().len(),
        1,
        "Slack payload is just {{text}}"
    );

    let json = hooks.received("json");
    assert_eq!(json.len(), 2);
    assert_eq!(json[0]["status"], "firing");
    assert_eq!(json[0]["alert"]["namespace"], "sessions");
    assert_eq!(json[0]["alert"]["severity"], "critical");
    assert_eq!(json[0]["alert"]["threshold"], 0.5);
    assert_eq!(json[1]["status"], "resolved");
    assert_eq!(json[1]["alert"]["resolved_at_ms"], t0 + 60_000);

    let mails = smtp.received();
    assert_eq!(mails.len(), 2);
    assert_eq!(mails[0].from, "larder@example.com");
    assert_eq!(
        mails[0].to,
        ["oncall@example.com", "cache-team@example.com"]
    );
    assert_eq!(
        mails[0].subject(),
        Some("[FIRING] critical sessions-cold on namespace sessions")
    );
    assert!(
        mails[0]
            .data
            .contains("hit ratio 0.0% below 50.0% over 10s"),
        "{}",
        mails[0].data
    );
    assert_eq!(
        mails[1].subject(),
        Some("[RESOLVED] critical sessions-cold on namespace sessions")
    );
}

#[tokio::test]
async fn too_few_reads_are_not_judged() {
    let hooks = WebhookRecorder::start().await;
    let namespaces = namespaces_with(&["quiet"], NamespaceConfig::default());
    let config = AlertsConfig {
        rules: vec![cold_rule("quiet-cold", Some("quiet"), 0)],
        notifiers: vec![webhook(hooks.url("json"), WebhookFormat::Json, 20)],
        ..AlertsConfig::default()
    };
    let engine = AlertEngine::new(&config, namespaces.clone()).unwrap();
    let t0 = unix_ms();
    engine.tick(t0).await;
    miss(&namespaces, "quiet", 9); // min_reads is 10
    engine.tick(t0 + 10_000).await;
    assert!(engine.alerts().active.is_empty());
    miss(&namespaces, "quiet", 10);
    engine.tick(t0 + 20_000).await;
    assert_eq!(engine.alerts().active.len(), 1);
    assert_eq!(hooks.received("json").len(), 1);
}

#[tokio::test]
async fn memory_above_share_fires_while_full_and_resolves_after_flush() {
    let hooks = WebhookRecorder::start().await;
    let small = NamespaceConfig {
        capacity_bytes: 64 * 1024,
        max_item_size: Some(4096),
        ..NamespaceConfig::default()
    };
    let namespaces = namespaces_with(&["blobs"], small);
    let rule = AlertRule {
        name: "blobs-full".into(),
        namespace: Some("blobs".into()),
        condition: AlertCondition::MemoryAbove { share: 0.5 },
        severity: Severity::Warning,
        window_secs: 5,
        cooldown_secs: 0,
        webhook: None,
    };
    let config = AlertsConfig {
        rules: vec![rule],
        notifiers: vec![webhook(hooks.url("json"), WebhookFormat::Json, 20)],
        ..AlertsConfig::default()
    };
    let engine = AlertEngine::new(&config, namespaces.clone()).unwrap();
    let store = namespaces.get("blobs").unwrap();
    let value = vec![7u8; 1024];
    for i in 0..200 {
        store
            .store()
            .set(
                format!("blob-{i}").as_bytes(),
                &value,
                SetOptions::default(),
            )
            .unwrap();
    }
    let used = store.store().stats();
    assert!(
        used.bytes * 2 > used.capacity_bytes,
        "store should be over half full: {used:?}"
    );

    let t0 = unix_ms();
    engine.tick(t0).await;
    engine.tick(t0 + 5_000).await;
    let active = engine.alerts().active;
    assert_eq!(active.len(), 1);
    assert!(active[0].value > 0.5);
    assert!(
        active[0].summary.starts_with("memory "),
        "{}",
        active[0].summary
    );

    store.store().flush();
    engine.tick(t0 + 10_000).await;
    assert!(engine.alerts().active.is_empty());
    let statuses: Vec<String> = hooks
        .received("json")
        .iter()
        .map(|b| b["status"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(statuses, ["firing", "resolved"]);
}

#[tokio::test]
async fn rate_limit_drops_excess_and_says_so_in_the_next_message() {
    let hooks = WebhookRecorder::start().await;
    let namespaces = namespaces_with(&["a", "b", "c"], NamespaceConfig::default());
    let config = AlertsConfig {
        // No namespace: the rule watches every namespace, each alerting on its own.
        rules: vec![cold_rule("any-cold", None, 0)],
        notifiers: vec![webhook(hooks.url("slack"), WebhookFormat::Slack, 1)],
        ..AlertsConfig::default()
    };
    let engine = AlertEngine::new(&config, namespaces.clone()).unwrap();
    let t0 = unix_ms();
    engine.tick(t0).await;
    for ns in ["a", "b", "c"] {
        miss(&namespaces, ns, 20);
    }
    engine.tick(t0 + 10_000).await;
    assert_eq!(engine.alerts().active.len(), 3);
    assert_eq!(hooks.received("slack").len(), 1, "one message a minute");
    let status = &engine.notifiers()[0];
    assert_eq!((status.sent, status.dropped), (1, 2));

    // A minute later the three alerts resolve; one message goes out and reports what was lost.
    for ns in ["a", "b", "c"] {
        hit(&namespaces, ns, 20);
    }
    engine.tick(t0 + 75_000).await;
    assert!(engine.alerts().active.is_empty());
    let slack = hooks.received("slack");
    assert_eq!(slack.len(), 2);
    let text = slack[1]["text"].as_str().unwrap();
    assert!(text.starts_with("[RESOLVED]"), "{text}");
    assert!(
        text.contains("2 earlier notification(s) were dropped"),
        "{text}"
    );
    let status = &engine.notifiers()[0];
    assert_eq!((status.sent, status.dropped), (2, 4));
}

#[tokio::test]
async fn a_down_receiver_is_counted_and_does_not_stop_the_others() {
    let smtp = SmtpRecorder::start().await;
    // A port nobody listens on: bind, note the port, close.
    let closed = {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().port()
    };
    let namespaces = namespaces_with(&["sessions"], NamespaceConfig::default());
    let config = AlertsConfig {
        rules: vec![cold_rule("cold", Some("sessions"), 0)],
        notifiers: vec![
            webhook(
                format!("http://127.0.0.1:{closed}/hook"),
                WebhookFormat::Json,
                20,
            ),
            email(smtp.port),
        ],
        ..AlertsConfig::default()
    };
    let engine = AlertEngine::new(&config, namespaces.clone()).unwrap();
    let t0 = unix_ms();
    engine.tick(t0).await;
    miss(&namespaces, "sessions", 20);
    engine.tick(t0 + 10_000).await;

    let statuses = engine.notifiers();
    assert_eq!((statuses[0].sent, statuses[0].failed), (0, 1));
    assert!(
        statuses[0]
            .last_error
            .as_deref()
            .unwrap()
            .contains("webhook request failed")
    );
    assert_eq!((statuses[1].sent, statuses[1].failed), (1, 0));
    assert_eq!(smtp.received().len(), 1);
    assert_eq!(engine.alerts().active.len(), 1);
}

#[tokio::test]
async fn deleting_a_namespace_or_a_rule_resolves_its_alerts() {
    let hooks = WebhookRecorder::start().await;
    let namespaces = namespaces_with(&["gone", "kept"], NamespaceConfig::default());
    let config = AlertsConfig {
        rules: vec![
            cold_rule("every-cold", None, 60),
            cold_rule("kept-cold", Some("kept"), 60),
        ],
        notifiers: vec![webhook(hooks.url("json"), WebhookFormat::Json, 20)],
        ..AlertsConfig::default()
    };
    let engine = AlertEngine::new(&config, namespaces.clone()).unwrap();
    let t0 = unix_ms();
    engine.tick(t0).await;
    miss(&namespaces, "gone", 20);
    miss(&namespaces, "kept", 20);
    engine.tick(t0 + 10_000).await;
    assert_eq!(engine.alerts().active.len(), 3);

    namespaces.delete("gone").unwrap();
    engine.remove_rule("kept-cold").unwrap();
    // Past the 60 s cool-down, and with no more reads on "kept", every alert resolves.
    engine.tick(t0 + 80_000).await;
    let alerts = engine.alerts();
    assert!(alerts.active.is_empty(), "{alerts:?}");
    assert_eq!(alerts.recent.len(), 3);
    let resolved: Vec<(String, String)> = hooks
        .received("json")
        .iter()
        .filter(|b| b["status"] == "resolved")
        .map(|b| {
            let a = &b["alert"];
            (
                a["rule"].as_str().unwrap().into(),
                a["namespace"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(resolved.len(), 3, "{resolved:?}");
    assert!(resolved.contains(&("kept-cold".into(), "kept".into())));
    assert!(resolved.contains(&("every-cold".into(), "gone".into())));
}

#[tokio::test]
async fn bad_config_is_rejected_with_the_reason() {
    let namespaces = namespaces_with(&[], NamespaceConfig::default());
    let with = |notifiers, rules| AlertsConfig {
        notifiers,
        rules,
        ..AlertsConfig::default()
    };

    let bad_url = with(
        vec![webhook("not a url".into(), WebhookFormat::Json, 1)],
        vec![],
    );
    let err = AlertEngine::new(&bad_url, namespaces.clone())
        .err()
        .unwrap();
    assert!(
        matches!(err, AlertError::InvalidNotifier { index: 0, .. }),
        "{err}"
    );

    let mut bad_mail = email(25);
    if let NotifierConfig::Email { to, .. } = &mut bad_mail {
        to.push("not-an-address".into());
    }
    let err = AlertEngine::new(&with(vec![bad_mail], vec![]), namespaces.clone())
        .err()
        .unwrap();
    assert!(err.to_string().contains("not-an-address"), "{err}");

    let unknown = with(vec![], vec![cold_rule("x", Some("nope"), 0)]);
    let err = AlertEngine::new(&unknown, namespaces.clone())
        .err()
        .unwrap();
    assert_eq!(err, AlertError::UnknownNamespace("nope".into()));

    let engine = AlertEngine::new(&AlertsConfig::default(), namespaces).unwrap();
    engine.add_rule(cold_rule("dup", None, 0)).unwrap();
    assert_eq!(
        engine.add_rule(cold_rule("dup", None, 0)),
        Err(AlertError::DuplicateRule("dup".into()))
    );
    assert_eq!(
        engine.remove_rule("nope").err(),
        Some(AlertError::UnknownRule("nope".into()))
    );
}
