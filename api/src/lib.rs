//! # larder — the binary's library half
//!
//! The `larder` binary is a thin `main.rs` over this crate, so integration tests can start a real
//! server in-process on `127.0.0.1:0`.
//!
//! | module | holds |
//! |---|---|
//! | `state` | [`state::AppState`], shared by every front end |
//! | `metrics` | the server's Prometheus registry |
//! | `resp` | the Redis-protocol (RESP2/RESP3) server |
//! | `rest` | the REST data and admin API (axum + utoipa) |
//! | `config` | [`config::Config`]: file, environment and flags, merged and validated |
//! | `server` | [`server::start`]: bind, spawn, shut down gracefully |
//! | `persistence` | the data directory at run time: load at start, catalog after admin changes, snapshots |
//! | `auth` | the operator key, API keys and their scopes: who may do what on both ports |
//! | `tenants` | tenants: their namespaces' names, owned plugins, quotas and the checks changes make |
//! | `tls` | TLS for the RESP and HTTP ports (rustls, ring), reloadable; `larder certs` |
//! | `cluster_records` | tenants, API keys, users and alert rules committed to raft as records; every member applies them |
//! | `cluster_alerts` | the cluster's signals for the `member_down` and `replication_backlog_above` alert rules |
//! | `cluster_cleanup` | a cluster member drops the keys of slots other members own now |
//! | `slot_rule` | a namespace's key → hash slot: the hash-tag rule, or its routing hook |
//! | `slot_sync` | an owner copies its slots' keys to a replica that is syncing, then commits it in sync |
//! | `cluster_namespaces` | namespaces configured once: committed to raft, reconciled on every member |
//! | `cluster_plugins` | plugin versions committed to raft by id; members fetch the bytes over the bus |
//! | `cluster_metrics` | a cluster member's Prometheus metrics: members, slots, replication backlog |
//! | `replication` | a cluster member's changes reach its slots' replicas before writes are acknowledged |
//! | `data_dir_lock` | one node per data directory (an exclusive lock on `<data-dir>/LOCK`) |
//! | `cli` | the command line (`larder serve`, `larder openapi`, …) |
//! | `cli_plugin` | `larder plugin push|list|attach`: upload and attach policy plugins over the admin API |
//! | `cli_sim` | `larder sim`: the trace simulator's command line (engine in `larder_runtime::sim`) |

pub mod auth;
pub mod cli;
pub mod cli_plugin;
pub mod cli_sim;
pub mod cluster_alerts;
pub mod cluster_cleanup;
pub mod cluster_metrics;
pub mod cluster_namespaces;
pub mod cluster_plugins;
pub mod cluster_records;
pub mod config;
pub mod data_dir_lock;
pub mod metrics;
pub mod persistence;
pub mod replication;
pub mod resp;
pub mod rest;
pub mod server;
pub mod slot_rule;
pub mod slot_sync;
pub mod state;
pub mod tenants;
pub mod tls;
