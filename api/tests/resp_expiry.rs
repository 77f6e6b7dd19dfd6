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
