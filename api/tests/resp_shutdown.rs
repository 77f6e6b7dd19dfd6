//! `SHUTDOWN` end to end: a real node with an operator key and a data directory on
//! 127.0.0.1:0. The command stops the node as SIGTERM does and closes the connection without an
//! answer; the final snapshot brings the data back on restart, `NOSAVE` skips it, and the
//! refusals (a tenant's caller, `SAVE` without a data directory, `ABORT`, bad arguments) leave
//! the node serving.

mod auth_support;

use std::time::Duration;

use auth_support::OPERATOR_KEY;
use larder::server::{self, RunningServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Send `commands` as the operator on one connection and read until the server closes it.
async fn as_operator_until_closed(node: &RunningServer, commands: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(node.resp_addr)
        .await
        .unwrap();
    s.write_all(format!("AUTH {OPERATOR_KEY}\r\n{commands}").as_bytes())
        .await
        .unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut got))
        .await
        .expect("the connection is closed")
        .unwrap();
    String::from_utf8_lossy(&got).into_owned()
}

async fn stopped(node: RunningServer) {
    tokio::time::timeout(Duration::from_secs(30), node.wait())
        .await
        .expect("the node stops")
        .expect("the node stops cleanly");
}

async fn operator(node: &RunningServer) -> redis::aio::MultiplexedConnection {
    auth_support::connect_with_key(node, OPERATOR_KEY).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_saves_and_stops_and_nosave_skips_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let config = auth_support::config(Some(dir.path()));

    let node = server::start(&config).await.unwrap();
    let said = as_operator_until_closed(&node, "SET kept yes\r\nSHUTDOWN\r\n").await;
    assert_eq!(said, "+OK\r\n+OK\r\n", "no answer to SHUTDOWN itself");
    stopped(node).await;

    let node = server::start(&config).await.unwrap();
    let mut c = operator(&node).await;
    let kept: Option<String> = redis::cmd("GET")
        .arg("kept")
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(
        kept.as_deref(),
        Some("yes"),
        "the final snapshot was written"
    );
    let said = as_operator_until_closed(&node, "SET lost yes\r\nSHUTDOWN NOSAVE NOW\r\n").await;
    assert_eq!(said, "+OK\r\n+OK\r\n");
    stopped(node).await;

    let node = server::start(&config).await.unwrap();
    let mut c = operator(&node).await;
    let (kept, lost): (Option<String>, Option<String>) = redis::pipe()
        .cmd("GET")
        .arg("kept")
        .cmd("GET")
        .arg("lost")
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(kept.as_deref(), Some("yes"));
    assert_eq!(lost, None, "NOSAVE wrote no snapshot");
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_shutdowns_leave_the_node_serving() {
    let node = server::start(&auth_support::config(None)).await.unwrap();
    let mut c = operator(&node).await;
    for (args, expected) in [
        (vec!["SAVE"], "data directory"),
        (vec!["ABORT"], "No shutdown in progress"),
        (vec!["SAVE", "NOSAVE"], "syntax"),
        (vec!["LATER"], "syntax"),
    ] {
        let err = redis::cmd("SHUTDOWN")
            .arg(&args)
            .query_async::<()>(&mut c)
            .await
            .unwrap_err();
        assert!(err.to_string().contains(expected), "{args:?}: {err}");
    }

    // Inside MULTI it is refused, as Redis refuses it, and the transaction is aborted.
    let mut c2 = operator(&node).await;
    let mut multi = redis::pipe();
    multi.cmd("MULTI").cmd("SHUTDOWN").cmd("EXEC");
    let err = multi
        .query_async::<redis::Value>(&mut c2)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("not allowed inside a transaction")
            || err.to_string().to_uppercase().contains("EXECABORT"),
        "{err}"
    );

    // A tenant's admin may not stop the node.
    let key = auth_support::tenant_admin(&node, "acme").await;
    let mut tenant = auth_support::connect_with_key(&node, &key).await;
    let err = redis::cmd("SHUTDOWN")
        .query_async::<()>(&mut tenant)
        .await
        .unwrap_err();
    assert!(err.to_string().to_uppercase().contains("NOPERM"), "{err}");

    let pong: String = redis::cmd("PING").query_async(&mut c).await.unwrap();
    assert_eq!(pong, "PONG", "the node still serves");
    node.shutdown().await.unwrap();
}
