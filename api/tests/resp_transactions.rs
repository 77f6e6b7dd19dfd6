//! MULTI / EXEC / DISCARD / WATCH / UNWATCH against a real server: Redis's replies byte for
//! byte, its two kinds of errors inside a transaction, optimistic locking with WATCH under
//! concurrent writers, and EXEC's atomicity (no other client's command runs inside it).

mod resp_support;

use std::time::Duration;

use redis::AsyncCommands;
use resp_support::{Raw, cmd, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_commands_run_in_order_and_answer_in_one_array() {
    let server = start().await;
    let mut raw = Raw::connect(server.addr).await;
    raw.roundtrip(&cmd(&["MULTI"]), b"+OK\r\n").await;
    raw.roundtrip(&cmd(&["SET", "a", "1"]), b"+QUEUED\r\n")
        .await;
    raw.roundtrip(&cmd(&["INCRBY", "a", "41"]), b"+QUEUED\r\n")
        .await;
    raw.roundtrip(&cmd(&["GET", "a"]), b"+QUEUED\r\n").await;
    raw.roundtrip(&cmd(&["GET", "missing"]), b"+QUEUED\r\n")
        .await;
    raw.roundtrip(&cmd(&["EXEC"]), b"*4\r\n+OK\r\n:42\r\n$2\r\n42\r\n$-1\r\n")
        .await;
    // An empty transaction is an empty array; DISCARD drops the queue.
    raw.roundtrip(&cmd(&["MULTI"]), b"+OK\r\n").await;
    raw.roundtrip(&cmd(&["EXEC"]), b"*0\r\n").await;
    raw.roundtrip(&cmd(&["MULTI"]), b"+OK\r\n").await;
    raw.roundtrip(&cmd(&["SET", "a", "dropped"]), b"+QUEUED\r\n")
        .await;
    raw.roundtrip(&cmd(&["DISCARD"]), b"+OK\r\n").await;
    raw.roundtrip(&cmd(&["GET", "a"]), b"$2\r\n42\r\n").await;

    // The redis crate's atomic pipeline is MULTI … EXEC.
    let mut con = server.connection().await;
    let (set, n, got): (String, i64, String) = redis::pipe()
        .atomic()
        .set("p", "10")
        .incr("p", 5)
        .get("p")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!((set.as_str(), n, got.as_str()), ("OK", 15, "15"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_while_queueing_abort_and_errors_while_running_do_not() {
    let server = start().await;
    let mut raw = Raw::connect(server.addr).await;
    raw.roundtrip(&cmd(&["MULTI"]), b"+OK\r\n").await;
    raw.roundtrip(&cmd(&["SET", "x", "1"]), b"+QUEUED\r\n")
        .await;
    raw.roundtrip(
        &cmd(&["NOSUCHCOMMAND", "x"]),
        b"-ERR unknown command 'NOSUCHCOMMAND', with args beginning with: 'x' \r\n",
    )
    .await;
    raw.roundtrip(
        &cmd(&["GET"]),
        b"-ERR wrong number of arguments for 'get' command\r\n",
    )
    .await;
    raw.roundtrip(
        &cmd(&["EXEC"]),
        b"-EXECABORT Transaction discarded because of previous errors.\r\n",
    )
    .await;
    raw.roundtrip(&cmd(&["EXISTS", "x"]), b":0\r\n").await;

    // A command that fails when it runs answers its error inside the array; the rest run.
    raw.roundtrip(&cmd(&["SET", "s", "not a number"]), b"+OK\r\n")
        .await;
    raw.roundtrip(&cmd(&["MULTI"]), b"+OK\r\n").await;
    raw.roundtrip(&cmd(&["INCR", "s"]), b"+QUEUED\r\n").await;
    raw.roundtrip(&cmd(&["SET", "t", "1"]), b"+QUEUED\r\n")
        .await;
    raw.roundtrip(
        &cmd(&["EXEC"]),
        b"*2\r\n-ERR value is not an integer or out of range\r\n+OK\r\n",
    )
    .await;
    raw.roundtrip(&cmd(&["GET", "t"]), b"$1\r\n1\r\n").await;

    // Misuse, worded as Redis words it.
    raw.roundtrip(&cmd(&["EXEC"]), b"-ERR EXEC without MULTI\r\n")
        .await;
    raw.roundtrip(&cmd(&["DISCARD"]), b"-ERR DISCARD without MULTI\r\n")
        .await;
    raw.roundtrip(&cmd(&["MULTI"]), b"+OK\r\n").await;
    raw.roundtrip(&cmd(&["MULTI"]), b"-ERR MULTI calls can not be nested\r\n")
        .await;
    raw.roundtrip(
        &cmd(&["WATCH", "x"]),
        b"-ERR WATCH inside MULTI is not allowed\r\n",
    )
    .await;
    // Neither misuse aborts the transaction; a command Redis refuses inside one does.
    raw.roundtrip(&cmd(&["SET", "u", "1"]), b"+QUEUED\r\n")
        .await;
    raw.roundtrip(&cmd(&["EXEC"]), b"*1\r\n+OK\r\n").await;
    raw.roundtrip(&cmd(&["MULTI"]), b"+OK\r\n").await;
    raw.roundtrip(
        &cmd(&["SAVE"]),
        b"-ERR Command not allowed inside a transaction\r\n",
    )
    .await;
    raw.roundtrip(
        &cmd(&["EXEC"]),
        b"-EXECABORT Transaction discarded because of previous errors.\r\n",
    )
    .await;
    raw.roundtrip(&cmd(&["MULTI"]), b"+OK\r\n").await;
    raw.roundtrip(&cmd(&["SET", "u", "1"]), b"+QUEUED\r\n")
        .await;
    raw.roundtrip(&cmd(&["EXEC"]), b"*1\r\n+OK\r\n").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_aborts_exec_when_anyone_changed_a_watched_key() {
    let server = start().await;
    let mut a = Raw::connect(server.addr).await;
    let mut b = Raw::connect(server.addr).await;
    a.roundtrip(&cmd(&["SET", "k", "0"]), b"+OK\r\n").await;

    // Untouched: EXEC runs.
    a.roundtrip(&cmd(&["WATCH", "k", "other"]), b"+OK\r\n")
        .await;
    b.roundtrip(&cmd(&["SET", "unrelated", "1"]), b"+OK\r\n")
        .await;
    b.roundtrip(&cmd(&["GET", "k"]), b"$1\r\n0\r\n").await;
    a.roundtrip(&cmd(&["MULTI"]), b"+OK\r\n").await;
    a.roundtrip(&cmd(&["SET", "k", "a"]), b"+QUEUED\r\n").await;
    a.roundtrip(&cmd(&["EXEC"]), b"*1\r\n+OK\r\n").await;

    // Changed by another client between WATCH and EXEC: nothing runs, a null array.
    for change in [
        vec!["SET", "k", "b"],
        vec!["SET", "k", "b"], // the same value again is still a write
        vec!["DEL", "k"],
        vec!["EXPIRE", "k", "100"],
        vec!["FLUSHDB"],
    ] {
        a.roundtrip(&cmd(&["SET", "k", "b"]), b"+OK\r\n").await;
        a.roundtrip(&cmd(&["WATCH", "k"]), b"+OK\r\n").await;
        b.send(&cmd(&change)).await;
        let _ = b
            .read_exact_len(if change[0] == "DEL" || change[0] == "EXPIRE" {
                4
            } else {
                5
            })
            .await;
        a.roundtrip(&cmd(&["MULTI"]), b"+OK\r\n").await;
        a.roundtrip(&cmd(&["SET", "k", "a"]), b"+QUEUED\r\n").await;
        a.roundtrip(&cmd(&["EXEC"]), b"*-1\r\n").await;
        // EXEC released the watch: the next transaction is not aborted by the old change.
        a.roundtrip(&cmd(&["MULTI"]), b"+OK\r\n").await;
        a.roundtrip(&cmd(&["PING"]), b"+QUEUED\r\n").await;
        a.roundtrip(&cmd(&["EXEC"]), b"*1\r\n+PONG\r\n").await;
    }

    // A key that was absent when watched and written since counts as changed too.
    a.roundtrip(&cmd(&["WATCH", "fresh"]), b"+OK\r\n").await;
    b.roundtrip(&cmd(&["SET", "fresh", "1"]), b"+OK\r\n").await;
    a.roundtrip(&cmd(&["MULTI"]), b"+OK\r\n").await;
    a.roundtrip(&cmd(&["EXEC"]), b"*-1\r\n").await;

    // UNWATCH and DISCARD forget the watches.
    a.roundtrip(&cmd(&["WATCH", "k"]), b"+OK\r\n").await;
    a.roundtrip(&cmd(&["UNWATCH"]), b"+OK\r\n").await;
    b.roundtrip(&cmd(&["SET", "k", "z"]), b"+OK\r\n").await;
    a.roundtrip(&cmd(&["MULTI"]), b"+OK\r\n").await;
    a.roundtrip(&cmd(&["EXEC"]), b"*0\r\n").await;

    // A watched key whose TTL runs out before EXEC has changed.
    a.roundtrip(&cmd(&["SET", "soon", "v", "PX", "50"]), b"+OK\r\n")
        .await;
    a.roundtrip(&cmd(&["WATCH", "soon"]), b"+OK\r\n").await;
    tokio::time::sleep(Duration::from_millis(120)).await;
    a.roundtrip(&cmd(&["MULTI"]), b"+OK\r\n").await;
    a.roundtrip(&cmd(&["SET", "soon", "again"]), b"+QUEUED\r\n")
        .await;
    a.roundtrip(&cmd(&["EXEC"]), b"*-1\r\n").await;

    // RESP3: the aborted EXEC is a null.
    a.roundtrip(&cmd(&["WATCH", "k"]), b"+OK\r\n").await;
    b.roundtrip(&cmd(&["SET", "k", "y"]), b"+OK\r\n").await;
    a.send(&cmd(&["HELLO", "3"])).await;
    let mut hello = Vec::new();
    while !hello.ends_with(b"modules\r\n*0\r\n") {
        hello.extend(a.read_exact_len(1).await);
    }
    a.roundtrip(&cmd(&["MULTI"]), b"+OK\r\n").await;
    a.roundtrip(&cmd(&["EXEC"]), b"_\r\n").await;
}

/// Four clients each add 1 to a counter 50 times with WATCH / GET / MULTI / SET / EXEC, retrying
/// when EXEC aborts: no increment is lost, which only holds if a changed key always aborts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_and_set_with_watch_loses_no_increment_under_contention() {
    let server = start().await;
    let client = server.client();
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let mut con = client.get_multiplexed_async_connection().await.unwrap();
            let mut aborted = 0u32;
            for _ in 0..50 {
                loop {
                    let _: () = redis::cmd("WATCH")
                        .arg("counter")
                        .query_async(&mut con)
                        .await
                        .unwrap();
                    let now: Option<i64> = con.get("counter").await.unwrap();
                    let next = now.unwrap_or(0) + 1;
                    let done: Option<(String,)> = redis::pipe()
                        .atomic()
                        .set("counter", next)
                        .query_async(&mut con)
                        .await
                        .unwrap();
                    if done.is_some() {
                        break;
                    }
                    aborted += 1;
                }
            }
            aborted
        }));
    }
    let mut aborted = 0;
    for t in tasks {
        aborted += t.await.unwrap();
    }
    let mut con = server.connection().await;
    let total: i64 = con.get("counter").await.unwrap();
    assert_eq!(
        total, 200,
        "every increment kept ({aborted} EXECs aborted and retried)"
    );
}

/// A transaction writes two keys; readers on other connections never see one without the
/// other (EXEC holds every other command out while it runs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_other_command_runs_inside_exec() {
    let server = start().await;
    let client = server.client();
    let writer = {
        let client = client.clone();
        tokio::spawn(async move {
            let mut con = client.get_multiplexed_async_connection().await.unwrap();
            for i in 0..1000 {
                let _: () = redis::pipe()
                    .atomic()
                    .set("left", i)
                    .ignore()
                    .set("right", i)
                    .ignore()
                    .query_async(&mut con)
                    .await
                    .unwrap();
            }
        })
    };
    let mut readers = Vec::new();
    for _ in 0..2 {
        let client = client.clone();
        readers.push(tokio::spawn(async move {
            let mut con = client.get_multiplexed_async_connection().await.unwrap();
            let mut seen = 0;
            for _ in 0..2000 {
                let (l, r): (Option<i64>, Option<i64>) =
                    con.mget(&["left", "right"]).await.unwrap();
                assert_eq!(l, r, "a reader saw half a transaction");
                seen += 1;
            }
            seen
        }));
    }
    writer.await.unwrap();
    for r in readers {
        assert_eq!(r.await.unwrap(), 2000);
    }
}
