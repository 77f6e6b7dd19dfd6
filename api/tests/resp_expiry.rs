//! Keys written with a short TTL disappear; reads never return them. Polled with bounded retries,
//! never judged against a clock.

mod resp_support;

use std::time::Duration;

use redis::{AsyncCommands, cmd};
use resp_support::start;

async fn wait_until_gone(con: &mut redis::aio::MultiplexedConnection, key: &str) -> bool {
    for _ in 0..500 {
        let value: Option<String> = con.get(key).await.unwrap();
        if value.is_none() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_ttls_expire() {
    let server = start().await;
    let mut con = server.connection().await;
    let () = cmd("SET")
        .arg("px")
        .arg("v")
        .arg("PX")
        .arg(30)
        .query_async(&mut con)
        .await
        .unwrap();
    let () = cmd("PSETEX")
        .arg("psetex")
        .arg(30)
        .arg("v")
        .query_async(&mut con)
        .await
        .unwrap();
    let () = con.set("pexpire", "v").await.unwrap();
    let set: i64 = cmd("PEXPIRE")
        .arg("pexpire")
        .arg(30)
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(set, 1);
    for key in ["px", "psetex", "pexpire"] {
        assert!(wait_until_gone(&mut con, key).await, "{key} never expired");
        assert_eq!(con.ttl::<_, i64>(key).await.unwrap(), -2);
        assert!(!con.exists::<_, bool>(key).await.unwrap());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn getex_keeps_a_session_alive_and_persist_stops_expiry() {
    let server = start().await;
    let mut con = server.connection().await;
    let () = cmd("SET")
        .arg("s")
        .arg("v")
        .arg("PX")
        .arg(50)
        .query_async(&mut con)
        .await
        .unwrap();
    // Slide the session far into the future: it must survive its original deadline.
    let v: String = cmd("GETEX")
        .arg("s")
        .arg("EX")
        .arg(3600)
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(v, "v");
    let () = cmd("SET")
        .arg("marker")
        .arg("v")
        .arg("PX")
        .arg(50)
        .query_async(&mut con)
        .await
        .unwrap();
    assert!(wait_until_gone(&mut con, "marker").await);
    // `marker` had the same original deadline and is gone; the slid session is not.
    assert_eq!(con.get::<_, String>("s").await.unwrap(), "v");
}

/// `DEBUG SET-ACTIVE-EXPIRE 0` pauses the sweeps, so an expired key stays counted until a read
/// removes it; `1` resumes them and the sweep reclaims keys nobody reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_set_active_expire_pauses_the_sweeps() {
    let server = start().await;
    let sweeper = tokio::spawn(larder_runtime::expiry::run_active_expiry(
        server.state.namespaces.clone(),
        std::time::Duration::from_millis(20),
    ));
    let mut con = server.connection().await;
    let dbsize = |con: &mut redis::aio::MultiplexedConnection| {
        let mut con = con.clone();
        async move {
            redis::cmd("DBSIZE")
                .query_async::<i64>(&mut con)
                .await
                .unwrap()
        }
    };

    let () = redis::cmd("DEBUG")
        .arg("SET-ACTIVE-EXPIRE")
        .arg(0)
        .query_async(&mut con)
        .await
        .unwrap();
    let () = redis::cmd("PSETEX")
        .arg("lazy")
        .arg(100)
        .arg("v")
        .query_async(&mut con)
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(dbsize(&mut con).await, 1, "no sweep while paused");
    let got: Option<String> = redis::cmd("GET")
        .arg("lazy")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(got, None);
    assert_eq!(dbsize(&mut con).await, 0, "the read removed it");

    let () = redis::cmd("DEBUG")
        .arg("SET-ACTIVE-EXPIRE")
        .arg(1)
        .query_async(&mut con)
        .await
        .unwrap();
    let () = redis::cmd("PSETEX")
        .arg("swept")
        .arg(100)
        .arg("v")
        .query_async(&mut con)
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while dbsize(&mut con).await != 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the sweep never removed the key"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    let err = redis::cmd("DEBUG")
        .arg("OBJECT")
        .arg("x")
        .query_async::<()>(&mut con)
        .await
        .unwrap_err();
    assert_eq!(
        resp_support::error_text(&err),
        "ERR DEBUG OBJECT is not supported (only SET-ACTIVE-EXPIRE is)"
    );
    sweeper.abort();
}
