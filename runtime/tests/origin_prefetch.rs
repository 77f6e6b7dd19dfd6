//! Background prefetch against a real HTTP origin: requested keys are fetched and stored, the
//! queue is bounded, resident and in-flight keys are skipped, and prefetches stay within half of
//! the origin's request slots.

mod origin_support;

use std::sync::Arc;
use std::time::Duration;

use larder_plugin_wasm as wasm;
use larder_runtime::origin::{self, OriginConfig};
use larder_runtime::{NamespaceConfig, Namespaces, PolicyRef};
use origin_support::{TestOrigin, eventually, namespace_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requested_keys_are_fetched_and_stored() {
    let origin = TestOrigin::start(Duration::ZERO).await;
    let (_all, ns) = namespace_with(origin.config("items"));

    assert_eq!(ns.origin().prefetcher().request(["p1", "p2", "p3"]), 3);
    let n = Arc::clone(&ns);
    eventually("three prefetches land", move || {
        n.origin().stats().prefetch_fetched == 3
    })
    .await;
    for key in ["p1", "p2", "p3"] {
        assert_eq!(
            ns.store().get_vec(key.as_bytes()),
            Some(format!("v:{key}").into_bytes())
        );
    }
    assert_eq!(origin.seen.requests(), 3);

    // Resident now: a second request is skipped, not fetched.
    ns.origin().prefetcher().request(["p1"]);
    let n = Arc::clone(&ns);
    eventually("the resident key is skipped", move || {
        n.origin().stats().prefetch_skipped == 1
    })
    .await;
    assert_eq!(origin.seen.requests(), 3);
    let stats = ns.origin().stats();
    assert_eq!((stats.prefetch_queued, stats.prefetch_dropped), (4, 0));
}

// A current-thread runtime: nothing drains the queue while `request` runs, so exactly the queue's
// capacity is accepted.
#[tokio::test]
async fn the_queue_is_bounded_and_overflow_is_dropped_and_counted() {
    let origin = TestOrigin::start(Duration::from_millis(20)).await;
    let cfg = OriginConfig {
        prefetch_queue: 4,
        ..origin.config("items")
    };
    let (_all, ns) = namespace_with(cfg);

    let keys: Vec<String> = (0..100).map(|i| format!("q{i}")).collect();
    assert_eq!(ns.origin().prefetcher().request(&keys), 4);
    let stats = ns.origin().stats();
    assert_eq!((stats.prefetch_queued, stats.prefetch_dropped), (4, 96));

    let n = Arc::clone(&ns);
    eventually("the queued keys land", move || {
        n.origin().stats().prefetch_fetched == 4
    })
    .await;
    assert_eq!(origin.seen.requests(), 4);
    assert_eq!(ns.store().stats().keys, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefetches_use_at_most_half_the_origin_slots() {
    let origin = TestOrigin::start(Duration::from_millis(30)).await;
    let cfg = OriginConfig {
        concurrency: 4,
        ..origin.config("items")
    };
    let (_all, ns) = namespace_with(cfg);

    let keys: Vec<String> = (0..24).map(|i| format!("h{i}")).collect();
    assert_eq!(ns.origin().prefetcher().request(&keys), 24);
    let n = Arc::clone(&ns);
    eventually("all prefetches land", move || {
        n.origin().stats().prefetch_fetched == 24
    })
    .await;
    let max = origin.seen.max_in_flight();
    assert!(
        (1..=2).contains(&max),
        "prefetch had {max} requests at the origin; at most 2 allowed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_joins_the_prefetch_of_its_key() {
    let origin = TestOrigin::start(Duration::from_millis(300)).await;
    let (_all, ns) = namespace_with(origin.config("items"));

    ns.origin().prefetcher().request(["soon"]);
    let seen = Arc::clone(&origin.seen);
    eventually("the prefetch reaches the origin", move || {
        seen.in_flight() == 1
    })
    .await;
    assert!(ns.origin().in_flight(b"soon"));

    let value = origin::get_or_fetch(&ns, b"soon").await.unwrap();
    assert_eq!(value.as_deref(), Some(&b"v:soon"[..]));
    assert_eq!(origin.seen.requests_for("soon"), 1);
    assert_eq!(ns.origin().stats().joins, 1);

    // And a prefetch of a key a read is fetching is skipped.
    let reader = {
        let ns = Arc::clone(&ns);
        tokio::spawn(async move { origin::get_or_fetch(&ns, b"now").await })
    };
    let n = Arc::clone(&ns);
    eventually("the read is in flight", move || {
        n.origin().in_flight(b"now")
    })
    .await;
    ns.origin().prefetcher().request(["now"]);
    let n = Arc::clone(&ns);
    eventually("the prefetch is skipped", move || {
        n.origin().stats().prefetch_skipped == 1
    })
    .await;
    assert_eq!(
        reader.await.unwrap().unwrap().as_deref(),
        Some(&b"v:now"[..])
    );
    assert_eq!(origin.seen.requests_for("now"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefetch_without_an_origin_drops_and_counts() {
    let all = Namespaces::new(Default::default()).unwrap();
    let ns = all.get("default").unwrap();
    assert_eq!(ns.origin().prefetcher().request(["a", "b"]), 0);
    assert_eq!(ns.origin().stats().prefetch_dropped, 2);
}

#[test]
fn prefetch_outside_a_runtime_drops_and_counts() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let origin = rt.block_on(TestOrigin::start(Duration::ZERO));
    let (_all, ns) = namespace_with(origin.config("items"));
    // Not inside the runtime: no task can drain a queue, so nothing is accepted.
    assert_eq!(ns.origin().prefetcher().request(["x"]), 0);
    assert_eq!(ns.origin().stats().prefetch_dropped, 1);
    drop(rt);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_named_by_the_prefetch_hook_are_fetched_in_the_background() {
    let origin = TestOrigin::start(Duration::ZERO).await;
    let all = Namespaces::new(NamespaceConfig::default()).unwrap();
    let plugin = all
        .plugins()
        .upload(wasm::SEQUENTIAL_PREFETCH, "seq", "test")
        .unwrap()
        .version;
    let cfg = NamespaceConfig {
        capacity_bytes: 16 << 20,
        max_item_size: Some(16 * 1024),
        prefetch: Some(PolicyRef::plugin(&plugin.id)),
        origin: Some(origin.config("items")),
        ..Default::default()
    };
    let ns = all.create("pages", cfg).unwrap();

    // A miss: fetched itself, and the hook names the next two pages.
    let value = origin::get_or_fetch(&ns, b"page:41").await.unwrap();
    assert_eq!(value.as_deref(), Some(&b"v:page:41"[..]));
    let n = Arc::clone(&ns);
    eventually("the named pages land", move || {
        n.origin().stats().prefetch_fetched == 2
    })
    .await;
    assert_eq!(
        ns.store().get_vec(b"page:42").as_deref(),
        Some(&b"v:page:42"[..])
    );
    assert_eq!(
        ns.store().get_vec(b"page:43").as_deref(),
        Some(&b"v:page:43"[..])
    );

    // A hit is reported too: reading the prefetched page:43 brings 44 and 45.
    let hit = origin::get_or_fetch(&ns, b"page:43").await.unwrap();
    assert_eq!(hit.as_deref(), Some(&b"v:page:43"[..]));
    let n = Arc::clone(&ns);
    eventually("the next pages land", move || {
        n.origin().stats().prefetch_fetched == 4
    })
    .await;
    assert!(ns.store().exists(b"page:44") && ns.store().exists(b"page:45"));
    // page:42 and 43 were never asked for twice.
    assert_eq!(origin.seen.requests_for("page:43"), 1);
    assert_eq!(origin.seen.requests(), 5);
}
