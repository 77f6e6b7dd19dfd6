//! Read-through against a real HTTP origin: values are fetched, stored and returned; concurrent
//! misses share one request; misses, failures and slow origins give a miss or a clear error.

mod origin_support;

use std::sync::Arc;
use std::time::Duration;

use larder_runtime::origin::{self, OriginCollector, OriginConfig, OriginError};
use larder_runtime::{NamespaceConfig, NamespaceError, Namespaces, Ttl};
use origin_support::{TestOrigin, eventually, namespace_with};

/// Hang detector only: every call under test must return long before this.
const GUARD: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_miss_is_fetched_stored_and_returned() {
    let origin = TestOrigin::start(Duration::ZERO).await;
    let (_all, ns) = namespace_with(origin.config("items"));

    let value = origin::get_or_fetch(&ns, b"alpha").await.unwrap();
    assert_eq!(value.as_deref(), Some(&b"v:alpha"[..]));
    assert_eq!(
        ns.store().get_vec(b"alpha").as_deref(),
        Some(&b"v:alpha"[..])
    );

    // Now resident: answered by the store, the origin is not asked again.
    let again = origin::get_or_fetch(&ns, b"alpha").await.unwrap();
    assert_eq!(again.as_deref(), Some(&b"v:alpha"[..]));
    assert_eq!(origin.seen.requests_for("alpha"), 1);

    // Keys are percent-encoded: a slash or a space does not change the URL's shape.
    let odd = origin::get_or_fetch(&ns, b"a/b c").await.unwrap();
    assert_eq!(odd.as_deref(), Some(&b"v:a/b c"[..]));
    assert_eq!(origin.seen.requests_for("a/b c"), 1);

    let stats = ns.origin().stats();
    assert_eq!(
        (stats.requests, stats.found, stats.total_errors()),
        (2, 2, 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_for_one_key_make_one_origin_request() {
    let origin = TestOrigin::start(Duration::from_millis(200)).await;
    let (_all, ns) = namespace_with(origin.config("items"));

    let start = Arc::new(tokio::sync::Barrier::new(50));
    let readers: Vec<_> = (0..50)
        .map(|_| {
            let ns = Arc::clone(&ns);
            let start = Arc::clone(&start);
            tokio::spawn(async move {
                start.wait().await;
                origin::get_or_fetch(&ns, b"hot").await
            })
        })
        .collect();
    for reader in readers {
        let value = reader.await.unwrap().unwrap();
        assert_eq!(value.as_deref(), Some(&b"v:hot"[..]));
    }
    assert_eq!(origin.seen.requests_for("hot"), 1);
    assert_eq!(origin.seen.requests(), 1);
    let stats = ns.origin().stats();
    assert_eq!(stats.requests, 1);
    // Every reader but the first either joined the flight or found the stored value.
    assert!(stats.joins >= 1, "{stats:?}");
    assert!(!ns.origin().in_flight(b"hot"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_found_at_the_origin_is_a_miss() {
    let origin = TestOrigin::start(Duration::ZERO).await;
    let (_all, ns) = namespace_with(origin.config("missing"));
    assert_eq!(origin::get_or_fetch(&ns, b"nope").await, Ok(None));
    assert!(!ns.store().exists(b"nope"));
    // Misses are not cached: the next read asks again.
    assert_eq!(origin::get_or_fetch(&ns, b"nope").await, Ok(None));
    assert_eq!(origin.seen.requests_for("nope"), 2);
    let stats = ns.origin().stats();
    assert_eq!((stats.not_found, stats.total_errors()), (2, 0));

    let (_all, gone) = namespace_with(origin.config("gone"));
    assert_eq!(origin::get_or_fetch(&gone, b"old").await, Ok(None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_error_is_a_clear_error_and_is_not_remembered() {
    let origin = TestOrigin::start(Duration::ZERO).await;
    let (_all, ns) = namespace_with(origin.config("broken"));

    let err = origin::get_or_fetch(&ns, b"k").await.unwrap_err();
    assert_eq!(err, OriginError::Status { status: 500 });
    assert_eq!(err.code(), "origin_status");
    assert_eq!(err.http_status(), 502);
    assert!(!ns.store().exists(b"k"));
    assert!(
        !ns.origin().in_flight(b"k"),
        "a failed flight must leave the map"
    );

    // The next read tries again rather than replaying the failure.
    assert!(origin::get_or_fetch(&ns, b"k").await.is_err());
    assert_eq!(origin.seen.requests_for("k"), 2);
    assert_eq!(ns.origin().stats().errors_of("origin_status"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_is_origin_unavailable() {
    // A port that was just free and is closed again: connecting is refused.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let (_all, ns) = namespace_with(OriginConfig::new(format!(
        "http://127.0.0.1:{port}/items/{{key}}"
    )));
    let err = tokio::time::timeout(GUARD, origin::get_or_fetch(&ns, b"k"))
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, OriginError::Unavailable(_)), "{err:?}");
    assert_eq!(err.code(), "origin_unavailable");
    assert!(
        !err.to_string().contains(&port.to_string()),
        "the origin URL stays internal: {err}"
    );
    assert_eq!(ns.origin().stats().errors_of("origin_unavailable"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_origin_times_out_instead_of_hanging() {
    let origin = TestOrigin::start(Duration::ZERO).await;
    let cfg = OriginConfig {
        timeout_ms: 150,
        ..origin.config("slow")
    };
    let (_all, ns) = namespace_with(cfg);

    // Concurrent readers of the slow key all get the timeout, not a hang.
    let readers: Vec<_> = (0..5)
        .map(|_| {
            let ns = Arc::clone(&ns);
            tokio::spawn(async move { origin::get_or_fetch(&ns, b"sloth").await })
        })
        .collect();
    for reader in readers {
        let result = tokio::time::timeout(GUARD, reader)
            .await
            .expect("returned")
            .unwrap();
        assert_eq!(result, Err(OriginError::Timeout { timeout_ms: 150 }));
    }
    assert_eq!(origin.seen.requests_for("sloth"), 1);
    assert_eq!(
        OriginError::Timeout { timeout_ms: 1 }.code(),
        "origin_timeout"
    );
    assert_eq!(OriginError::Timeout { timeout_ms: 1 }.http_status(), 504);
    assert!(!ns.origin().in_flight(b"sloth"));
    assert_eq!(ns.origin().stats().in_flight, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_concurrency_limit_holds_at_the_origin() {
    let origin = TestOrigin::start(Duration::from_millis(50)).await;
    let cfg = OriginConfig {
        concurrency: 3,
        timeout_ms: 20_000,
        ..origin.config("items")
    };
    let (_all, ns) = namespace_with(cfg);

    let readers: Vec<_> = (0..20)
        .map(|i| {
            let ns = Arc::clone(&ns);
            tokio::spawn(async move { origin::get_or_fetch(&ns, format!("k{i}").as_bytes()).await })
        })
        .collect();
    for (i, reader) in readers.into_iter().enumerate() {
        let value = reader.await.unwrap().unwrap();
        assert_eq!(value, Some(format!("v:k{i}").into()));
    }
    assert_eq!(origin.seen.requests(), 20);
    let max = origin.seen.max_in_flight();
    assert!(
        (1..=3).contains(&max),
        "origin saw {max} requests at once; the limit is 3"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saturated_origin_makes_waiters_time_out() {
    let origin = TestOrigin::start(Duration::ZERO).await;
    let cfg = OriginConfig {
        concurrency: 1,
        timeout_ms: 150,
        ..origin.config("slow")
    };
    let (_all, ns) = namespace_with(cfg);

    let readers: Vec<_> = (0..4)
        .map(|i| {
            let ns = Arc::clone(&ns);
            tokio::spawn(async move { origin::get_or_fetch(&ns, format!("s{i}").as_bytes()).await })
        })
        .collect();
    for reader in readers {
        let result = tokio::time::timeout(GUARD, reader)
            .await
            .expect("returned")
            .unwrap();
        assert_eq!(result.unwrap_err().code(), "origin_timeout");
    }
    assert_eq!(origin.seen.max_in_flight(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_larger_than_the_namespace_allows_is_refused() {
    let origin = TestOrigin::start(Duration::ZERO).await;
    let (_all, ns) = namespace_with(origin.config("big"));
    let err = origin::get_or_fetch(&ns, b"huge").await.unwrap_err();
    assert_eq!(err, OriginError::TooLarge { max: 16 * 1024 });
    assert_eq!(err.code(), "origin_value_too_large");
    assert!(!ns.store().exists(b"huge"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_a_url_cannot_carry_are_refused_without_asking() {
    let origin = TestOrigin::start(Duration::ZERO).await;
    let (_all, ns) = namespace_with(origin.config("items"));
    for key in [&b".."[..], b".", b""] {
        let err = origin::get_or_fetch(&ns, key).await.unwrap_err();
        assert_eq!(err.code(), "origin_invalid_key", "{key:?}");
    }
    assert_eq!(origin.seen.requests(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetched_values_get_the_origin_ttl() {
    let origin = TestOrigin::start(Duration::ZERO).await;
    let cfg = OriginConfig {
        ttl_secs: Some(60),
        ..origin.config("items")
    };
    let (_all, ns) = namespace_with(cfg);
    origin::get_or_fetch(&ns, b"t").await.unwrap();
    match ns.store().ttl(b"t") {
        Ttl::RemainingMs(ms) => assert!(ms > 0 && ms <= 60_000, "{ms}"),
        other => panic!("expected a TTL, got {other:?}"),
    }
    // Without one, the namespace default applies (none here).
    let (_all, plain) = namespace_with(origin.config("items"));
    origin::get_or_fetch(&plain, b"t").await.unwrap();
    assert_eq!(plain.store().ttl(b"t"), Ttl::Persistent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_during_the_fetch_wins_over_the_origin_copy() {
    let origin = TestOrigin::start(Duration::from_millis(300)).await;
    let (_all, ns) = namespace_with(origin.config("items"));
    let reader = {
        let ns = Arc::clone(&ns);
        tokio::spawn(async move { origin::get_or_fetch(&ns, b"w").await })
    };
    let seen = Arc::clone(&origin.seen);
    eventually("the origin is asked", move || seen.in_flight() == 1).await;
    ns.store().set(b"w", b"client", Default::default()).unwrap();
    let fetched = reader.await.unwrap().unwrap();
    assert_eq!(fetched.as_deref(), Some(&b"v:w"[..]));
    assert_eq!(ns.store().get_vec(b"w").as_deref(), Some(&b"client"[..]));
    assert_eq!(ns.origin().stats().store_refusals, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_after_miss_is_inert_without_an_origin() {
    let all = Namespaces::new(NamespaceConfig::default()).unwrap();
    let ns = all.get("default").unwrap();
    assert!(!ns.origin().is_enabled());
    assert_eq!(origin::fetch_after_miss(&ns, b"x").await, Ok(None));
    ns.store().set(b"x", b"1", Default::default()).unwrap();
    assert_eq!(
        origin::get_or_fetch(&ns, b"x").await.unwrap().as_deref(),
        Some(&b"1"[..])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_origin_can_be_added_changed_and_removed_live() {
    let origin = TestOrigin::start(Duration::ZERO).await;
    let all = Namespaces::new(NamespaceConfig::default()).unwrap();
    let plain = NamespaceConfig {
        capacity_bytes: 16 << 20,
        ..Default::default()
    };
    let ns = all.create("live", plain.clone()).unwrap();
    assert_eq!(origin::get_or_fetch(&ns, b"a").await, Ok(None));

    all.update(
        "live",
        NamespaceConfig {
            origin: Some(origin.config("items")),
            ..plain.clone()
        },
    )
    .unwrap();
    assert!(ns.origin().is_enabled());
    assert_eq!(
        origin::get_or_fetch(&ns, b"a").await.unwrap().as_deref(),
        Some(&b"v:a"[..])
    );

    all.update(
        "live",
        NamespaceConfig {
            origin: Some(origin.config("missing")),
            ..plain.clone()
        },
    )
    .unwrap();
    assert_eq!(origin::get_or_fetch(&ns, b"b").await, Ok(None));
    assert_eq!(origin.seen.requests_for("b"), 1);

    all.update("live", plain).unwrap();
    assert!(!ns.origin().is_enabled());
    assert_eq!(origin::get_or_fetch(&ns, b"c").await, Ok(None));
    assert_eq!(origin.seen.requests_for("c"), 0);
}

#[test]
fn invalid_origin_configs_are_refused_naming_the_field() {
    let all = Namespaces::new(NamespaceConfig::default()).unwrap();
    let with = |origin: OriginConfig| NamespaceConfig {
        capacity_bytes: 16 << 20,
        origin: Some(origin),
        ..Default::default()
    };
    let field = |cfg| match all.create("bad", cfg) {
        Err(NamespaceError::InvalidConfig { field, .. }) => field,
        other => panic!("expected a config error, got {other:?}"),
    };
    assert_eq!(
        field(with(OriginConfig::new("http://127.0.0.1:1/no-key"))),
        "origin.url"
    );
    assert_eq!(
        field(with(OriginConfig::new("::not a url::/{key}"))),
        "origin.url"
    );
    let zero = OriginConfig {
        timeout_ms: 0,
        ..OriginConfig::new("http://127.0.0.1:1/{key}")
    };
    assert_eq!(field(with(zero)), "origin.timeout_ms");
    let none = OriginConfig {
        concurrency: 0,
        ..OriginConfig::new("http://127.0.0.1:1/{key}")
    };
    assert_eq!(field(with(none)), "origin.concurrency");

    // JSON: only the URL is required.
    let cfg: NamespaceConfig =
        serde_json::from_str(r#"{"origin": {"url": "http://127.0.0.1:1/items/{key}"}}"#).unwrap();
    let parsed = cfg.origin.unwrap();
    assert_eq!(
        (parsed.timeout_ms, parsed.concurrency, parsed.ttl_secs),
        (1000, 16, None)
    );
    let unknown = serde_json::from_str::<NamespaceConfig>(
        r#"{"origin": {"url": "http://h/{key}", "retries": 3}}"#,
    );
    assert!(unknown.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origin_metrics_are_exported_per_namespace() {
    let origin = TestOrigin::start(Duration::ZERO).await;
    let (all, ns) = namespace_with(origin.config("items"));
    origin::get_or_fetch(&ns, b"m").await.unwrap();
    all.create(
        "failing",
        NamespaceConfig {
            capacity_bytes: 16 << 20,
            origin: Some(origin.config("broken")),
            ..Default::default()
        },
    )
    .unwrap();
    let failing = all.get("failing").unwrap();
    assert!(origin::get_or_fetch(&failing, b"m").await.is_err());

    let registry = prometheus::Registry::new();
    registry
        .register(Box::new(OriginCollector::new(Arc::clone(&all))))
        .unwrap();
    let mut text = Vec::new();
    prometheus::Encoder::encode(
        &prometheus::TextEncoder::new(),
        &registry.gather(),
        &mut text,
    )
    .unwrap();
    let text = String::from_utf8(text).unwrap();
    assert!(
        text.contains(r#"larder_origin_requests_total{namespace="catalog"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"larder_origin_found_total{namespace="catalog"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"larder_origin_request_duration_seconds_count{namespace="catalog"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"larder_origin_errors_total{kind="origin_timeout",namespace="catalog"} 0"#),
        "{text}"
    );
    assert!(
        text.contains(r#"larder_origin_errors_total{kind="origin_status",namespace="failing"} 1"#),
        "{text}"
    );
    // The default namespace never had an origin and is left out.
    assert!(!text.contains(r#"namespace="default""#), "{text}");
}
