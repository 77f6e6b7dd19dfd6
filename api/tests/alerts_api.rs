//! Alerting through the admin API of a real node (`server::start` on 127.0.0.1:0): rules are
//! added and removed over HTTP, a real condition is driven through the REST data API (reads of
//! missing keys, then of a present one), the node's own evaluation loop fires and resolves, and a
//! webhook receiver started by the test records the notifications.

mod alerts_receivers;

use std::time::Duration;

use alerts_receivers::WebhookRecorder;
use larder::config::Config;
use larder::server::{self, RunningServer};
use larder_runtime::alert::{AlertsConfig, NotifierConfig, WebhookFormat};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

/// Generous bound on waiting for the evaluation loop; never a measure of speed.
const MAX_POLLS: usize = 600;
const POLL: Duration = Duration::from_millis(50);

struct Node {
    _server: RunningServer,
    http: Client,
    base: String,
}

impl Node {
    async fn start(alerts: AlertsConfig) -> Self {
        let config = Config {
            alerts,
            ..loopback_config()
        };
        let server = server::start(&config).await.expect("server starts");
        let base = format!("http://{}", server.http_addr);
        Self {
            _server: server,
            http: Client::new(),
            base,
        }
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }

    async fn json(&self, path: &str) -> Value {
        let response = self.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.json().await.unwrap()
    }

    async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    async fn delete(&self, path: &str) -> reqwest::Response {
        self.http
            .delete(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }
}

/// Defaults, on free loopback ports.
fn loopback_config() -> Config {
    Config {
        resp_addr: "127.0.0.1:0".parse().unwrap(),
        http_addr: "127.0.0.1:0".parse().unwrap(),
        ..Config::default()
    }
}

fn cold_rule(name: &str) -> Value {
    json!({
        "name": name,
        "namespace": "default",
        "condition": {"kind": "hit_ratio_below", "threshold": 0.5, "min_reads": 10},
        "severity": "critical",
        "window_secs": 1,
        "cooldown_secs": 1,
    })
}

async fn error_code(response: reqwest::Response) -> (StatusCode, String, String) {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    let code = body["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let message = body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    (status, code, message)
}

#[tokio::test]
async fn a_rule_added_over_http_fires_and_resolves_on_real_traffic() {
    let hooks = WebhookRecorder::start().await;
    let node = Node::start(AlertsConfig {
        evaluate_every_ms: 50,
        notifiers: vec![NotifierConfig::Webhook {
            url: hooks.url("json"),
            format: WebhookFormat::Json,
            max_per_minute: 60,
        }],
        ..AlertsConfig::default()
    })
    .await;

    let created = node
        .post("/v1/alerts/rules", &cold_rule("default-cold"))
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let rules = node.json("/v1/alerts/rules").await;
    assert_eq!(rules["rules"][0]["name"], "default-cold");
    assert_eq!(rules["rules"][0]["condition"]["min_reads"], 10);

    // Keep missing until the node's own loop notices; stop the moment it does.
    let mut fired = None;
    for _ in 0..MAX_POLLS {
        for i in 0..20 {
            let miss = node
                .get(&format!("/v1/namespaces/default/keys/absent-{i}"))
                .await;
            assert_eq!(miss.status(), StatusCode::NOT_FOUND);
        }
        let alerts = node.json("/v1/alerts").await;
        if let Some(a) = alerts["active"].as_array().and_then(|a| a.first()) {
            fired = Some(a.clone());
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    let fired = fired.expect("the low hit ratio alert fires");
    assert_eq!(fired["rule"], "default-cold");
    assert_eq!(fired["namespace"], "default");
    assert_eq!(fired["state"], "firing");
    assert_eq!(fired["value"], 0.0);

    // Now serve hits only; once clear for the cool-down the alert resolves.
    let put = node
        .http
        .put(format!("{}/v1/namespaces/default/keys/hot", node.base))
        .body("value")
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success());
    let mut resolved = None;
    for _ in 0..MAX_POLLS {
        for _ in 0..20 {
            assert_eq!(
                node.get("/v1/namespaces/default/keys/hot").await.status(),
                StatusCode::OK
            );
        }
        let alerts = node.json("/v1/alerts").await;
        if alerts["active"].as_array().is_some_and(Vec::is_empty) {
            resolved = alerts["recent"].as_array().and_then(|r| r.first()).cloned();
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    let resolved = resolved.expect("the alert resolves once reads hit");
    assert_eq!(resolved["state"], "resolved");
    assert_eq!(resolved["started_at_ms"], fired["started_at_ms"]);

    let statuses: Vec<Value> = hooks
        .received("json")
        .iter()
        .map(|b| b["status"].clone())
        .collect();
    assert_eq!(statuses, [json!("firing"), json!("resolved")]);
    let overview = node.json("/v1/alerts").await;
    assert_eq!(overview["notifiers"][0]["sent"], 2);
    assert_eq!(overview["notifiers"][0]["failed"], 0);

    assert_eq!(
        node.delete("/v1/alerts/rules/default-cold").await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(node.json("/v1/alerts/rules").await["rules"], json!([]));
}

#[tokio::test]
async fn bad_rules_get_clear_errors() {
    let node = Node::start(AlertsConfig::default()).await;

    let mut bad = cold_rule("bad");
    bad["condition"]["threshold"] = json!(2.0);
    let (status, code, message) = error_code(node.post("/v1/alerts/rules", &bad).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_alert_rule")
    );
    assert!(message.contains("condition.threshold"), "{message}");

    let (status, code, _) =
        error_code(node.post("/v1/alerts/rules", &json!({"name": "x"})).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "bad_json")
    );

    let mut elsewhere = cold_rule("elsewhere");
    elsewhere["namespace"] = json!("nope");
    let (status, code, _) = error_code(node.post("/v1/alerts/rules", &elsewhere).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "namespace_not_found")
    );

    assert_eq!(
        node.post("/v1/alerts/rules", &cold_rule("twice"))
            .await
            .status(),
        StatusCode::CREATED
    );
    let (status, code, _) =
        error_code(node.post("/v1/alerts/rules", &cold_rule("twice")).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::CONFLICT, "alert_rule_exists")
    );

    let (status, code, _) = error_code(node.delete("/v1/alerts/rules/nope").await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::NOT_FOUND, "alert_rule_not_found")
    );
}

#[tokio::test]
async fn rules_from_config_are_listed_and_bad_alert_config_stops_the_start() {
    let rule = serde_json::from_value(cold_rule("from-config")).unwrap();
    let node = Node::start(AlertsConfig {
        rules: vec![rule],
        ..AlertsConfig::default()
    })
    .await;
    assert_eq!(
        node.json("/v1/alerts/rules").await["rules"][0]["name"],
        "from-config"
    );

    let mut config = loopback_config();
    config.alerts.notifiers.push(NotifierConfig::Webhook {
        url: "ftp://example.com/".into(),
        format: WebhookFormat::Slack,
        max_per_minute: 1,
    });
    let err = server::start(&config)
        .await
        .err()
        .expect("a bad notifier is refused");
    assert!(
        format!("{err:#}").contains("scheme must be http or https"),
        "{err:#}"
    );
}

#[tokio::test]
async fn the_dashboard_or_its_build_instructions_are_served_at_the_root() {
    let node = Node::start(AlertsConfig::default()).await;
    let page = node.get("/").await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.headers()[reqwest::header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    if larder::rest::dashboard::is_built() {
        // Every script the page names is served from the binary, with a JavaScript type.
        let start = html
            .find("src=\"/assets/")
            .expect("the page loads its script from /assets/");
        let src = &html[start + 5..];
        let src = &src[..src.find('"').unwrap()];
        let script = node.get(src).await;
        assert_eq!(script.status(), StatusCode::OK);
        let kind = script.headers()[reqwest::header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_string();
        assert!(kind.contains("javascript"), "{kind}");
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "no CDN: {html}"
        );
    } else {
        assert!(html.contains("Dashboard not built"), "{html}");
        assert!(
            html.contains("npm install &amp;&amp; npm run build"),
            "{html}"
        );
    }
    let (status, code, _) = error_code(node.get("/assets/missing.js").await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::NOT_FOUND, "asset_not_found")
    );
}
