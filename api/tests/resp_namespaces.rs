//! SELECT reaches namespaces other than `default`; every key command then acts on that namespace.

mod resp_support;

use larder_runtime::NamespaceConfig;
use redis::{AsyncCommands, RedisResult, cmd};
use resp_support::{error_text, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn select_switches_namespaces() {
    let server = start().await;
    server
        .state
        .namespaces
        .create("sessions", NamespaceConfig::default())
        .unwrap();
    let mut con = server.connection().await;

    let () = con.set("k", "in-default").await.unwrap();
    let () = cmd("SELECT")
        .arg("sessions")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(con.get::<_, Option<String>>("k").await.unwrap(), None);
    let () = con.set("k", "in-sessions").await.unwrap();
    let size: i64 = cmd("DBSIZE").query_async(&mut con).await.unwrap();
    assert_eq!(size, 1);
    let info: String = cmd("CLIENT")
        .arg("INFO")
        .query_async(&mut con)
        .await
        .unwrap();
    assert!(info.contains(" ns=sessions "), "{info}");

    // The store really is the named namespace's.
    let sessions = server.state.namespaces.get("sessions").unwrap();
    assert_eq!(
        sessions.store().get_vec(b"k"),
        Some(b"in-sessions".to_vec())
    );

    // FLUSHDB clears only the selected namespace.
    let () = cmd("FLUSHDB").query_async(&mut con).await.unwrap();
    assert!(sessions.store().get_vec(b"k").is_none());

    // SELECT 0 is default; 1-15 are db1-db15, created on first use.
    let () = cmd("SELECT").arg(0).query_async(&mut con).await.unwrap();
    assert_eq!(con.get::<_, String>("k").await.unwrap(), "in-default");
    assert!(server.state.namespaces.get("db7").is_err());
    let () = cmd("SELECT").arg(7).query_async(&mut con).await.unwrap();
    assert!(server.state.namespaces.get("db7").is_ok());
    assert_eq!(con.get::<_, Option<String>>("k").await.unwrap(), None);

    for (arg, expected) in [
        ("16", "ERR DB index is out of range"),
        ("-1", "ERR DB index is out of range"),
        (
            "nope",
            "ERR namespace 'nope' does not exist; create it with POST /v1/namespaces",
        ),
    ] {
        let err: RedisResult<()> = cmd("SELECT").arg(arg).query_async(&mut con).await;
        assert_eq!(error_text(&err.unwrap_err()), expected, "SELECT {arg}");
    }
    // A failed SELECT leaves the connection where it was (db7).
    let () = con.set("seven", "x").await.unwrap();
    assert!(
        server
            .state
            .namespaces
            .get("db7")
            .unwrap()
            .store()
            .exists(b"seven")
    );

    // Another connection starts in default, unaffected.
    let mut other = server.connection().await;
    assert_eq!(other.get::<_, String>("k").await.unwrap(), "in-default");
    assert_eq!(other.get::<_, Option<String>>("seven").await.unwrap(), None);

    // A client configured with a database number selects it on connect.
    let client = redis::Client::open(format!("redis://{}/7", server.addr)).unwrap();
    let mut numbered = client.get_multiplexed_async_connection().await.unwrap();
    assert_eq!(numbered.get::<_, String>("seven").await.unwrap(), "x");
    let client = redis::Client::open(format!("redis://{}/3", server.addr)).unwrap();
    let mut three = client.get_multiplexed_async_connection().await.unwrap();
    let () = three.set("k", "in-three").await.unwrap();
    assert!(
        server
            .state
            .namespaces
            .get("db3")
            .unwrap()
            .store()
            .exists(b"k")
    );

    // FLUSHALL empties every namespace.
    let () = cmd("FLUSHALL").query_async(&mut other).await.unwrap();
    for ns in server.state.namespaces.list() {
        assert_eq!(ns.store().stats().keys, 0, "{}", ns.name());
    }
}
