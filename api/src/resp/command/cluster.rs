//! CLUSTER and the cluster connection flags (READONLY, READWRITE, ASKING), as Redis Cluster
//! answers them, so cluster-aware clients find the slot map.
//!
//! A node id is the member's 64-bit raft id as 40 hex digits (Redis's id length). Every member
//! is a primary (replicas arrive with replication). COUNTKEYSINSLOT and GETKEYSINSLOT walk the
//! selected namespace's keys: correct, but O(keys), meant for operators, not hot paths.

use larder_cluster::slot::SLOTS;
use larder_cluster::{ClusterView, Member, NodeId};

use super::{Args, is, not_an_integer, parse_i64};
use crate::resp::context::ServerContext;
use crate::resp::reply::Reply;
use crate::resp::session::Session;
use crate::slot_rule::slot_in;

const DISABLED: &str = "ERR This instance has cluster support disabled";

/// READONLY, READWRITE, ASKING: accepted in a cluster (reads are always served by the owner and
/// slots never migrate half-way), refused on a single node as Redis refuses them.
pub fn connection_flag(ctx: &ServerContext, reply: &mut Reply) {
    if ctx.state.cluster.is_some() {
        reply.ok();
    } else {
        reply.error(DISABLED);
    }
}

pub fn cluster(args: &Args<'_>, session: &Session, ctx: &ServerContext, reply: &mut Reply) {
    let sub = args.get(1);
    if is(sub, "KEYSLOT") {
        return match args.len() {
            // In the connection's namespace: its routing hook, when it has one, decides.
            3 => reply.integer(i64::from(slot_in(&session.namespace, args.get(2)))),
            _ => wrong_sub_arity("keyslot", reply),
        };
    }
    if is(sub, "HELP") {
        return help(reply);
    }
    let Some(cluster) = &ctx.state.cluster else {
        return reply.error(DISABLED);
    };
    let view = cluster.node.view();
    if is(sub, "MYID") || is(sub, "MYSHARDID") {
        reply.bulk(node_name(view.me).as_bytes());
    } else if is(sub, "INFO") {
        reply.bulk(info(&view, cluster.node.raft_status().term).as_bytes());
    } else if is(sub, "SLOTS") {
        slots(&view, reply);
    } else if is(sub, "SHARDS") {
        shards(&view, reply);
    } else if is(sub, "NODES") {
        reply.bulk(nodes(&view).as_bytes());
    } else if is(sub, "COUNTKEYSINSLOT") || is(sub, "GETKEYSINSLOT") {
        keys_in_slot(args, session, reply);
    } else {
        reply.error_fmt(format_args!(
            "ERR unknown subcommand '{}'. Try CLUSTER HELP.",
            String::from_utf8_lossy(sub)
        ));
    }
}

fn wrong_sub_arity(sub: &str, reply: &mut Reply) {
    reply.error_fmt(format_args!(
        "ERR wrong number of arguments for 'cluster|{sub}' command"
    ));
}

fn help(reply: &mut Reply) {
    const LINES: &[&str] = &[
        "CLUSTER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "COUNTKEYSINSLOT <slot>",
        "GETKEYSINSLOT <slot> <count>",
        "INFO",
        "KEYSLOT <key>",
        "MYID",
        "MYSHARDID",
        "NODES",
        "SHARDS",
        "SLOTS",
        "HELP",
    ];
    reply.help(LINES);
}

/// A member's id as Redis Cluster spells node ids: 40 hex digits.
fn node_name(id: NodeId) -> String {
    format!("{id:040x}")
}

fn host_port(addr: &str) -> (&str, i64) {
    match addr.rsplit_once(':') {
        Some((host, port)) => (
            host.trim_start_matches('[').trim_end_matches(']'),
            port.parse().unwrap_or(0),
        ),
        None => (addr, 0),
    }
}

fn info(view: &ClusterView, term: u64) -> String {
    let counts = view.slots.counts();
    let assigned: usize = counts.values().sum();
    let state = if assigned == usize::from(SLOTS) {
        "ok"
    } else {
        "fail"
    };
    format!(
        "cluster_state:{state}\r\n\
         cluster_slots_assigned:{assigned}\r\n\
         cluster_slots_ok:{assigned}\r\n\
         cluster_slots_pfail:0\r\n\
         cluster_slots_fail:0\r\n\
         cluster_known_nodes:{known}\r\n\
         cluster_size:{size}\r\n\
         cluster_current_epoch:{term}\r\n\
         cluster_my_epoch:{epoch}\r\n\
         larder_slot_table_epoch:{epoch}\r\n\
         larder_voters:{voters}\r\n",
        known = view.members.len(),
        size = counts.len(),
        epoch = view.slots.epoch,
        voters = view.voters.len(),
    )
}

/// An owner, its addresses and the runs of slots (first, last) it holds.
type Owner<'a> = (NodeId, &'a Member, Vec<(u16, u16)>);

/// The owners, each with the runs of slots it holds.
fn owners(view: &ClusterView) -> Vec<Owner<'_>> {
    let mut out: Vec<Owner<'_>> = Vec::new();
    for (range, owner) in view.slots.ranges() {
        let Some(member) = view.members.get(&owner) else {
            continue;
        };
        match out.iter_mut().find(|(id, _, _)| *id == owner) {
            Some((_, _, runs)) => runs.push((*range.start(), *range.end())),
            None => out.push((owner, member, vec![(*range.start(), *range.end())])),
        }
    }
    out
}

fn slots(view: &ClusterView, reply: &mut Reply) {
    let ranges: Vec<_> = view
        .slots
        .ranges()
        .into_iter()
        .filter_map(|(r, id)| view.members.get(&id).map(|m| (r, id, m)))
        .collect();
    reply.array(ranges.len());
    for (range, id, member) in ranges {
        let (host, port) = host_port(&member.resp);
        reply.array(3);
        reply.integer(i64::from(*range.start()));
        reply.integer(i64::from(*range.end()));
        reply.array(3);
        reply.bulk(host.as_bytes());
        reply.integer(port);
        reply.bulk(node_name(id).as_bytes());
    }
}

fn shards(view: &ClusterView, reply: &mut Reply) {
    let owners = owners(view);
    reply.array(owners.len());
    for (id, member, runs) in owners {
        let (host, port) = host_port(&member.resp);
        reply.map(2);
        reply.bulk(b"slots");
        reply.array(runs.len() * 2);
        for (start, end) in runs {
            reply.integer(i64::from(start));
            reply.integer(i64::from(end));
        }
        reply.bulk(b"nodes");
        reply.array(1);
        reply.map(7);
        reply.bulk(b"id");
        reply.bulk(node_name(id).as_bytes());
        reply.bulk(b"port");
        reply.integer(port);
        reply.bulk(b"ip");
        reply.bulk(host.as_bytes());
        reply.bulk(b"endpoint");
        reply.bulk(host.as_bytes());
        reply.bulk(b"role");
        reply.bulk(b"master");
        reply.bulk(b"replication-offset");
        reply.integer(0);
        reply.bulk(b"health");
        reply.bulk(b"online");
    }
}

/// One line per member in Redis's `CLUSTER NODES` format.
fn nodes(view: &ClusterView) -> String {
    let owners = owners(view);
    let mut out = String::new();
    for (&id, member) in &view.members {
        let (_, bus_port) = host_port(&member.bus);
        let flags = match (id == view.me, view.failed.contains(&id)) {
            (true, false) => "myself,master",
            (true, true) => "myself,master,fail",
            (false, false) => "master",
            (false, true) => "master,fail",
        };
        let link = if view.failed.contains(&id) {
            "disconnected"
        } else {
            "connected"
        };
        out.push_str(&format!(
            "{} {}@{bus_port} {flags} - 0 0 {} {link}",
            node_name(id),
            member.resp,
            view.slots.epoch
        ));
        if let Some((_, _, runs)) = owners.iter().find(|(o, _, _)| *o == id) {
            for (start, end) in runs {
                if start == end {
                    out.push_str(&format!(" {start}"));
                } else {
                    out.push_str(&format!(" {start}-{end}"));
                }
            }
        }
        out.push('\n');
    }
    out
}

fn keys_in_slot(args: &Args<'_>, session: &Session, reply: &mut Reply) {
    let count_only = is(args.get(1), "COUNTKEYSINSLOT");
    if args.len() != if count_only { 3 } else { 4 } {
        return wrong_sub_arity(
            if count_only {
                "countkeysinslot"
            } else {
                "getkeysinslot"
            },
            reply,
        );
    }
    let slot = match parse_i64(args.get(2)) {
        Some(s) if (0..i64::from(SLOTS)).contains(&s) => s as u16,
        Some(_) => return reply.error("ERR Invalid slot"),
        None => return not_an_integer(reply),
    };
    let limit = if count_only {
        usize::MAX
    } else {
        match parse_i64(args.get(3)) {
            Some(n) if n >= 0 => n as usize,
            _ => return reply.error("ERR Invalid number of keys"),
        }
    };
    let store = session.namespace.store();
    let mut found = Vec::new();
    let mut batch = Vec::new();
    let mut cursor = 0;
    loop {
        batch.clear();
        cursor = store.scan(cursor, 1024, &mut batch);
        found.extend(
            batch
                .drain(..)
                .filter(|k| slot_in(&session.namespace, k) == slot),
        );
        if cursor == 0 || found.len() >= limit {
            break;
        }
    }
    if count_only {
        return reply.integer(found.len() as i64);
    }
    found.truncate(limit);
    reply.array(found.len());
    for key in &found {
        reply.bulk(key);
    }
}
