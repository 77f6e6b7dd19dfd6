//! Commands: looking one up, checking its arity, and running it.
//!
//! | file | commands |
//! |---|---|
//! | [`table`] | the command table ([`CommandKind`], arity, what `COMMAND` reports) |
//! | `deadline` | EX/PX/EXAT/PXAT and EXPIRE-family time arguments |
//! | `strings` | GET, SET, SETNX, SETEX, PSETEX, GETEX, MGET, MSET, INCR/DECR family |
//! | `string_edits` | APPEND, SETRANGE, GETRANGE/SUBSTR, STRLEN, GETDEL, GETSET, MSETNX, INCRBYFLOAT |
//! | `bitops` | SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD, BITFIELD_RO |
//! | `lcs` | LCS (with IDX, LEN, MINMATCHLEN, WITHMATCHLEN) |
//! | `encodings` | what OBJECT ENCODING answers, and the CONFIG thresholds it answers by |
//! | `collection` | what the collection commands share: empty-means-deleted, ranges, `*SCAN` |
//! | `hashes` | HSET, HGET, HMGET, HGETALL, HDEL, HINCRBY, HSCAN, … and per-field expiry (HEXPIRE, HTTL, …) |
//! | `lists` | LPUSH, RPUSH, LPOP, RPOP, LRANGE, LLEN, LTRIM, LREM, LINDEX, LSET, LINSERT, LPOS, LMOVE, … |
//! | `sets` | SADD, SREM, SMEMBERS, SISMEMBER, SCARD, SPOP, SRANDMEMBER, SINTER/SUNION/SDIFF (+STORE), SSCAN, … |
//! | `zsets` | ZADD, ZINCRBY, ZREM, ZSCORE, ZRANGE (BYSCORE/BYLEX/REV/LIMIT), ZRANK, ZREMRANGEBY*, ZPOP*, ZSCAN, … |
//! | `blocking` | BLPOP, BRPOP, BLMPOP, BLMOVE, BRPOPLPUSH, BZPOPMIN, BZPOPMAX, BZMPOP |
//! | `zset_combine` | ZUNION, ZINTER, ZDIFF (+STORE), ZINTERCARD, ZRANGESTORE, ZMPOP |
//! | `keys` | DEL, UNLINK, EXISTS, TOUCH, EXPIRE family, PERSIST, TTL, PTTL, (P)EXPIRETIME |
//! | `keyspace` | SCAN, KEYS, TYPE, RANDOMKEY, RENAME, RENAMENX, COPY, MOVE, OBJECT, MEMORY USAGE |
//! | `connection` | PING, ECHO, HELLO, AUTH, SELECT, CLIENT, ACL WHOAMI, QUIT |
//! | `server` | DBSIZE, FLUSHDB, FLUSHALL, SAVE, BGSAVE, LASTSAVE, FUNCTION, TIME, DEBUG |
//! | `config` | CONFIG GET / SET / RESETSTAT / REWRITE / HELP |
//! | `cluster` | CLUSTER INFO / SLOTS / SHARDS / NODES / KEYSLOT / MYID / …, READONLY, READWRITE, ASKING |
//! | `info` | INFO |
//! | `introspection` | COMMAND |
//! | `acl` | ACL: WHOAMI, USERS, LIST, GETUSER, SETUSER, DELUSER, CAT, GENPASS over users and API keys |
//! | [`pubsub`] | SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, PUBLISH, PUBSUB |
//! | `tracking` | CLIENT TRACKING, CACHING, GETREDIR, TRACKINGINFO; what tracking clients read |
//! | [`transaction`] | MULTI, EXEC, DISCARD, WATCH, UNWATCH |
//!
//! Every handler writes exactly one reply into the [`Reply`] buffer, errors included; nothing here
//! returns a Rust error, because a bad command never affects the connection, only its own reply.

pub mod acl;
mod bitops;
mod blocking;
mod client_admin;
mod cluster;
mod collection;
mod config;
mod connection;
mod deadline;
mod dump;
mod encodings;
mod hashes;
mod info;
mod introspection;
mod keys;
mod keyspace;
mod lcs;
mod lists;
pub mod pubsub;
mod server;
mod sets;
mod sort;
mod string_edits;
mod strings;
pub mod table;
mod tracking;
pub mod transaction;
mod zset_combine;
mod zsets;

use std::ops::Range;

use larder_runtime::plugin::with_request_tags;
use larder_runtime::{Store, StoreError};

pub use connection::{DATABASES, resolve_db};
pub use table::CommandKind;

use deadline::TimeUnit;

use super::context::ServerContext;
use super::reply::Reply;
use super::session::Session;

/// The arguments of one command (the name is argument 0), as ranges into the frame's bytes.
#[derive(Clone, Copy)]
pub struct Args<'a> {
    frame: &'a [u8],
    ranges: &'a [Range<usize>],
}

impl<'a> Args<'a> {
    /// `ranges` must lie within `frame` (the parser guarantees it).
    pub fn new(frame: &'a [u8], ranges: &'a [Range<usize>]) -> Self {
        Self { frame, ranges }
    }

    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Argument `i`; empty when out of range, so a handler's indexing can never panic.
    #[inline]
    pub fn get(&self, i: usize) -> &'a [u8] {
        self.ranges
            .get(i)
            .and_then(|r| self.frame.get(r.clone()))
            .unwrap_or(&[])
    }

    /// Arguments from `i` on.
    pub fn from(&self, i: usize) -> impl ExactSizeIterator<Item = &'a [u8]> + use<'a> {
        let frame = self.frame;
        self.ranges
            .get(i..)
            .unwrap_or(&[])
            .iter()
            .map(move |r| frame.get(r.clone()).unwrap_or(&[]))
    }
}

/// Run the command in `args` and write its reply. Returns the command's kind, or `None` for an
/// unknown command, so the caller can record latency per command. Between MULTI and EXEC a
/// command is checked and queued instead (see [`transaction`]).
pub fn execute(
    args: &Args<'_>,
    session: &mut Session,
    ctx: &ServerContext,
    reply: &mut Reply,
) -> Option<CommandKind> {
    let name = args.get(0);
    let Some(kind) = CommandKind::lookup(name) else {
        transaction::refuse(session);
        unknown_command(args, reply);
        return None;
    };
    if let Some(record) = &session.record {
        record.ran(kind);
    }
    if crate::resp::clients::describes_client(kind) || session.transaction.is_some() {
        session.redescribe = true;
    }
    let spec = kind.spec();
    if !spec.arity_ok(args.len()) {
        transaction::refuse(session);
        wrong_arity(spec.name, reply);
        return Some(kind);
    }
    if pubsub::subscribed_mode(session, reply) && !pubsub::allowed_when_subscribed(kind) {
        pubsub::refuse_in_subscribed_mode(spec.name, reply);
        return Some(kind);
    }
    if session.transaction.is_some() && !transaction::runs_in_multi(kind) {
        if transaction::refused_in_multi(kind) {
            transaction::refuse(session);
            reply.error("ERR Command not allowed inside a transaction");
            return Some(kind);
        }
        transaction::queue(args, session, reply);
        return Some(kind);
    }
    if kind == CommandKind::Exec {
        // EXEC takes the gate exclusively itself; holding it shared here would wait on itself.
        let id = session.id;
        crate::resp::tracking::as_client(id, || {
            transaction::exec(session, ctx, reply, |args, session, ctx, reply| {
                run_checked(args, session, ctx, reply)
            })
        });
        return Some(kind);
    }
    let _shared = ctx.gate.shared();
    if ctx.tracking.is_active() {
        // Only tracking needs to know whose command runs (NOLOOP, one invalidation per command).
        crate::resp::tracking::as_client(session.id, || run(kind, args, session, ctx, reply));
    } else {
        run(kind, args, session, ctx, reply);
    }
    if session.tracking.is_some() {
        tracking::after_command(kind, args, session, ctx);
    }
    Some(kind)
}

/// A queued command inside EXEC: looked up and checked again (the check passed when it was
/// queued), run without the gate (EXEC holds it).
fn run_checked(args: &Args<'_>, session: &mut Session, ctx: &ServerContext, reply: &mut Reply) {
    match CommandKind::lookup(args.get(0)) {
        Some(kind) if kind.spec().arity_ok(args.len()) => run(kind, args, session, ctx, reply),
        Some(kind) => wrong_arity(kind.spec().name, reply),
        None => unknown_command(args, reply),
    }
}

/// Run a known command with the right arity.
fn run(
    kind: CommandKind,
    args: &Args<'_>,
    session: &mut Session,
    ctx: &ServerContext,
    reply: &mut Reply,
) {
    let store = session.namespace.store();
    let spec = kind.spec();
    // A collection command's writes are notified under its own name (`hset`, `lpush`, …).
    let mut data = || {
        // Some commands are notified under another's name, as Redis names them.
        let event = match kind {
            CommandKind::HMSet => "hset",
            CommandKind::BitField => "setbit",
            CommandKind::BitOp => "set",
            _ => spec.name,
        };
        crate::resp::notify::as_command(event, spec.group, || {
            data_command(kind, store, args, reply)
        })
    };
    // Only data commands reach plugin hooks, so only they run in the connection's tag scope; a
    // connection without tags pays one emptiness check.
    let handled = if session.tags.is_empty() {
        data()
    } else {
        with_request_tags(&session.tags, data)
    };
    if handled {
        return;
    }
    use CommandKind as K;
    match kind {
        K::Ping if pubsub::subscribed_mode(session, reply) => pubsub::ping(args, reply),
        K::Ping => connection::ping(args, reply),
        K::Echo => reply.bulk(args.get(1)),
        K::Hello => connection::hello(args, session, ctx, reply),
        K::Auth => connection::auth(args, session, ctx, reply),
        K::Select => connection::select(args, session, ctx, reply),
        K::Client if tracking::client(args, session, ctx, reply) => {}
        K::Client => connection::client(args, session, ctx, reply),
        K::Acl => acl::acl(args, session, ctx, reply),
        K::Reset => connection::reset(session, ctx, reply),
        K::Quit => {
            reply.ok();
            session.quit = true;
        }
        K::Info => info::info(args, session, ctx, reply),
        K::DbSize => reply.integer(session.namespace.store().stats().keys as i64),
        K::FlushDb => server::flushdb(args, session, reply),
        K::FlushAll => server::flushall(args, session, ctx, reply),
        K::Command => introspection::command(args, reply),
        K::Copy => keyspace::copy(args, session, ctx, reply),
        K::Move => keyspace::move_key(args, session, ctx, reply),
        K::Dump => dump::dump(args, session, reply),
        K::Sort => sort::sort(args, session, ctx, false, reply),
        K::SortRo => sort::sort(args, session, ctx, true, reply),
        K::Restore => dump::restore(args, session, reply),
        K::Time => server::time(reply),
        K::Debug => server::debug(args, reply),
        K::Function => server::function(args, reply),
        K::Config => config::config(args, session, ctx, reply),
        K::Save => server::save(ctx, reply),
        K::Shutdown => server::shutdown(args, session, ctx, reply),
        K::BgSave => server::bgsave(args, ctx, reply),
        K::LastSave => server::lastsave(ctx, reply),
        K::Wait => server::wait(args, ctx, reply),
        K::Subscribe => pubsub::subscribe(args, false, session, ctx, reply),
        K::PSubscribe => pubsub::subscribe(args, true, session, ctx, reply),
        K::Unsubscribe => pubsub::unsubscribe(args, false, session, ctx, reply),
        K::PUnsubscribe => pubsub::unsubscribe(args, true, session, ctx, reply),
        K::Publish => pubsub::publish(args, session, ctx, reply),
        K::SSubscribe => pubsub::ssubscribe(args, session, ctx, reply),
        K::SUnsubscribe => pubsub::sunsubscribe(args, session, ctx, reply),
        K::SPublish => pubsub::spublish(args, session, ctx, reply),
        K::PubSub => pubsub::pubsub(args, session, ctx, reply),
        K::Multi => transaction::multi(session, reply),
        K::Discard => transaction::discard(session, reply),
        K::Watch => transaction::watch(args, session, reply),
        K::Unwatch => transaction::unwatch(session, reply),
        // EXEC inside EXEC cannot happen (EXEC is never queued); answer as Redis would.
        K::Exec => reply.error("ERR EXEC without MULTI"),
        K::Cluster => cluster::cluster(args, session, ctx, reply),
        K::BLPop => blocking::blpop(args, lists::End::Left, session, ctx, reply),
        K::BRPop => blocking::blpop(args, lists::End::Right, session, ctx, reply),
        K::BLMPop => blocking::blmpop(args, session, ctx, reply),
        K::BLMove => blocking::blmove(args, None, session, ctx, reply),
        K::BRPopLPush => {
            let ends = Some((lists::End::Right, lists::End::Left));
            blocking::blmove(args, ends, session, ctx, reply)
        }
        K::BZPopMin => blocking::bzpop(args, false, session, ctx, reply),
        K::BZPopMax => blocking::bzpop(args, true, session, ctx, reply),
        K::BZMPop => blocking::bzmpop(args, session, ctx, reply),
        K::ReadOnly | K::ReadWrite | K::Asking => cluster::connection_flag(ctx, reply),
        _ => {}
    }
}

/// Run `kind` if it is a command on the selected namespace's keys; `false` (and no reply) for
/// every other command.
#[inline]
fn data_command(kind: CommandKind, store: &Store, args: &Args<'_>, reply: &mut Reply) -> bool {
    use CommandKind as K;
    match kind {
        K::Get => strings::get(store, args.get(1), reply),
        K::Set => strings::set(store, args, reply),
        K::SetNx => strings::setnx(store, args, reply),
        K::SetEx => strings::setex(store, args, 1000, reply),
        K::PSetEx => strings::setex(store, args, 1, reply),
        K::GetEx => strings::getex(store, args, reply),
        K::MGet => strings::mget(store, args, reply),
        K::MSet => strings::mset(store, args, reply),
        K::Incr => strings::incr_by(store, args.get(1), 1, reply),
        K::Decr => strings::incr_by(store, args.get(1), -1, reply),
        K::IncrBy => strings::incr_by_arg(store, args, false, reply),
        K::DecrBy => strings::incr_by_arg(store, args, true, reply),
        K::Del | K::Unlink => keys::del(store, args, reply),
        K::Exists => keys::exists(store, args, reply),
        K::Touch => keys::touch(store, args, reply),
        K::Expire => keys::expire(store, args, TimeUnit::Seconds, reply),
        K::PExpire => keys::expire(store, args, TimeUnit::Millis, reply),
        K::ExpireAt => keys::expire(store, args, TimeUnit::UnixSeconds, reply),
        K::PExpireAt => keys::expire(store, args, TimeUnit::UnixMillis, reply),
        K::Persist => keys::persist(store, args.get(1), reply),
        K::Ttl => keys::ttl(store, args.get(1), 1000, reply),
        K::PTtl => keys::ttl(store, args.get(1), 1, reply),
        K::ExpireTime => keys::expiretime(store, args.get(1), 1000, reply),
        K::PExpireTime => keys::expiretime(store, args.get(1), 1, reply),
        K::MSetNx => string_edits::msetnx(store, args, reply),
        K::Append => string_edits::append(store, args, reply),
        K::StrLen => string_edits::strlen(store, args.get(1), reply),
        K::GetRange | K::SubStr => string_edits::getrange(store, args, reply),
        K::SetRange => string_edits::setrange(store, args, reply),
        K::GetDel => string_edits::getdel(store, args.get(1), reply),
        K::GetSet => string_edits::getset(store, args, reply),
        K::IncrByFloat => string_edits::incrbyfloat(store, args, reply),
        K::SetBit => bitops::setbit(store, args, reply),
        K::GetBit => bitops::getbit(store, args, reply),
        K::BitCount => bitops::bitcount(store, args, reply),
        K::BitPos => bitops::bitpos(store, args, reply),
        K::BitOp => bitops::bitop(store, args, reply),
        K::BitField => bitops::bitfield(store, args, false, reply),
        K::BitFieldRo => bitops::bitfield(store, args, true, reply),
        K::Lcs => lcs::lcs(store, args, reply),
        K::Scan => keyspace::scan(store, args, reply),
        K::Keys => keyspace::keys(store, args.get(1), reply),
        K::Type => keyspace::key_type(store, args.get(1), reply),
        K::RandomKey => keyspace::randomkey(store, reply),
        K::Rename => keyspace::rename(store, args, false, reply),
        K::RenameNx => keyspace::rename(store, args, true, reply),
        K::Object => keyspace::object(store, args, reply),
        K::Memory => keyspace::memory(store, args, reply),
        K::HSet => hashes::hset(store, args, false, reply),
        K::HMSet => hashes::hset(store, args, true, reply),
        K::HSetNx => hashes::hsetnx(store, args, reply),
        K::HGet => hashes::hget(store, args, reply),
        K::HMGet => hashes::hmget(store, args, reply),
        K::HGetAll => hashes::hgetall(store, args, hashes::Part::All, reply),
        K::HKeys => hashes::hgetall(store, args, hashes::Part::Keys, reply),
        K::HVals => hashes::hgetall(store, args, hashes::Part::Values, reply),
        K::HDel => hashes::hdel(store, args, reply),
        K::HExists => hashes::hexists(store, args, reply),
        K::HLen => hashes::hlen(store, args, reply),
        K::HStrLen => hashes::hstrlen(store, args, reply),
        K::HIncrBy => hashes::hincrby(store, args, reply),
        K::HIncrByFloat => hashes::hincrbyfloat(store, args, reply),
        K::HRandField => hashes::hrandfield(store, args, reply),
        K::HScan => hashes::hscan(store, args, reply),
        K::HExpire => hashes::hexpire(store, args, hashes::FieldTime::Seconds, reply),
        K::HPExpire => hashes::hexpire(store, args, hashes::FieldTime::Millis, reply),
        K::HExpireAt => hashes::hexpire(store, args, hashes::FieldTime::UnixSeconds, reply),
        K::HPExpireAt => hashes::hexpire(store, args, hashes::FieldTime::UnixMillis, reply),
        K::HTtl => hashes::httl(store, args, hashes::FieldTtl::Seconds, reply),
        K::HPTtl => hashes::httl(store, args, hashes::FieldTtl::Millis, reply),
        K::HExpireTime => hashes::httl(store, args, hashes::FieldTtl::UnixSeconds, reply),
        K::HPExpireTime => hashes::httl(store, args, hashes::FieldTtl::UnixMillis, reply),
        K::HPersist => hashes::hpersist(store, args, reply),
        K::LPush => lists::lpush(store, args, lists::End::Left, false, reply),
        K::RPush => lists::lpush(store, args, lists::End::Right, false, reply),
        K::LPushX => lists::lpush(store, args, lists::End::Left, true, reply),
        K::RPushX => lists::lpush(store, args, lists::End::Right, true, reply),
        K::LPop => lists::lpop(store, args, lists::End::Left, reply),
        K::RPop => lists::lpop(store, args, lists::End::Right, reply),
        K::LLen => lists::llen(store, args, reply),
        K::LRange => lists::lrange(store, args, reply),
        K::LIndex => lists::lindex(store, args, reply),
        K::LSet => lists::lset(store, args, reply),
        K::LTrim => lists::ltrim(store, args, reply),
        K::LRem => lists::lrem(store, args, reply),
        K::LInsert => lists::linsert(store, args, reply),
        K::LPos => lists::lpos(store, args, reply),
        K::LMove => lists::lmove(store, args, None, reply),
        K::RPopLPush => lists::lmove(
            store,
            args,
            Some((lists::End::Right, lists::End::Left)),
            reply,
        ),
        K::SAdd => sets::sadd(store, args, reply),
        K::SRem => sets::srem(store, args, reply),
        K::SMembers => sets::smembers(store, args, reply),
        K::SIsMember => sets::sismember(store, args, reply),
        K::SMIsMember => sets::smismember(store, args, reply),
        K::SCard => sets::scard(store, args, reply),
        K::SPop => sets::spop(store, args, reply),
        K::SRandMember => sets::srandmember(store, args, reply),
        K::SMove => sets::smove(store, args, reply),
        K::SInter => sets::algebra(store, args, sets::Algebra::Inter, reply),
        K::SUnion => sets::algebra(store, args, sets::Algebra::Union, reply),
        K::SDiff => sets::algebra(store, args, sets::Algebra::Diff, reply),
        K::SInterStore => sets::algebra_store(store, args, sets::Algebra::Inter, reply),
        K::SUnionStore => sets::algebra_store(store, args, sets::Algebra::Union, reply),
        K::SDiffStore => sets::algebra_store(store, args, sets::Algebra::Diff, reply),
        K::SInterCard => sets::sintercard(store, args, reply),
        K::SScan => sets::sscan(store, args, reply),
        K::ZAdd => zsets::zadd(store, args, reply),
        K::ZIncrBy => zsets::zincrby(store, args, reply),
        K::ZRem => zsets::zrem(store, args, reply),
        K::ZScore => zsets::zscore(store, args, reply),
        K::ZMScore => zsets::zmscore(store, args, reply),
        K::ZCard => zsets::zcard(store, args, reply),
        K::ZCount => zsets::zcount(store, args, reply),
        K::ZLexCount => zsets::zlexcount(store, args, reply),
        K::ZRank => zsets::zrank(store, args, false, reply),
        K::ZRevRank => zsets::zrank(store, args, true, reply),
        K::ZRange => zsets::zrange(store, args, None, reply),
        K::ZRevRange => zsets::zrange(store, args, Some((zsets::RangeBy::Rank, true)), reply),
        K::ZRangeByScore => zsets::zrange(store, args, Some((zsets::RangeBy::Score, false)), reply),
        K::ZRevRangeByScore => {
            zsets::zrange(store, args, Some((zsets::RangeBy::Score, true)), reply)
        }
        K::ZRangeByLex => zsets::zrange(store, args, Some((zsets::RangeBy::Lex, false)), reply),
        K::ZRevRangeByLex => zsets::zrange(store, args, Some((zsets::RangeBy::Lex, true)), reply),
        K::ZRemRangeByScore => zsets::zremrange(store, args, zsets::RangeBy::Score, reply),
        K::ZRemRangeByRank => zsets::zremrange(store, args, zsets::RangeBy::Rank, reply),
        K::ZRemRangeByLex => zsets::zremrange(store, args, zsets::RangeBy::Lex, reply),
        K::ZPopMin => zsets::zpop(store, args, false, reply),
        K::ZPopMax => zsets::zpop(store, args, true, reply),
        K::ZRandMember => zsets::zrandmember(store, args, reply),
        K::ZScan => zsets::zscan(store, args, reply),
        K::ZUnion => {
            zset_combine::zcombine(store, args, zset_combine::Combine::Union, false, reply)
        }
        K::ZInter => {
            zset_combine::zcombine(store, args, zset_combine::Combine::Inter, false, reply)
        }
        K::ZDiff => zset_combine::zcombine(store, args, zset_combine::Combine::Diff, false, reply),
        K::ZUnionStore => {
            zset_combine::zcombine(store, args, zset_combine::Combine::Union, true, reply)
        }
        K::ZInterStore => {
            zset_combine::zcombine(store, args, zset_combine::Combine::Inter, true, reply)
        }
        K::ZDiffStore => {
            zset_combine::zcombine(store, args, zset_combine::Combine::Diff, true, reply)
        }
        K::ZInterCard => zset_combine::zintercard(store, args, reply),
        K::ZRangeStore => zset_combine::zrangestore(store, args, reply),
        K::ZMPop => zset_combine::zmpop(store, args, reply),
        K::LMPop => lists::lmpop(store, args, reply),
        _ => return false,
    }
    true
}

/// `-ERR unknown command 'foo', with args beginning with: 'a' 'b' ` (Redis's exact shape).
fn unknown_command(args: &Args<'_>, reply: &mut Reply) {
    let mut message = String::from("ERR unknown command '");
    message.push_str(&String::from_utf8_lossy(truncate(args.get(0), 128)));
    message.push_str("', with args beginning with: ");
    for arg in args.from(1) {
        if message.len() >= 256 {
            break;
        }
        message.push('\'');
        message.push_str(&String::from_utf8_lossy(truncate(arg, 128)));
        message.push_str("' ");
    }
    reply.error(&message);
}

fn truncate(bytes: &[u8], max: usize) -> &[u8] {
    &bytes[..bytes.len().min(max)]
}

pub(super) fn wrong_arity(name: &str, reply: &mut Reply) {
    reply.error_fmt(format_args!(
        "ERR wrong number of arguments for '{name}' command"
    ));
}

pub(super) fn syntax_error(reply: &mut Reply) {
    reply.error("ERR syntax error");
}

pub(super) fn not_an_integer(reply: &mut Reply) {
    reply.error("ERR value is not an integer or out of range");
}

pub(super) fn invalid_expire(name: &str, reply: &mut Reply) {
    reply.error_fmt(format_args!("ERR invalid expire time in '{name}' command"));
}

/// A store refusal as a Redis-style error line. The messages already read like Redis's
/// ("value is not an integer or out of range", "increment or decrement would overflow").
pub(super) fn store_error(error: &StoreError, reply: &mut Reply) {
    match error {
        StoreError::WrongType => reply.error_fmt(format_args!("WRONGTYPE {error}")),
        _ => reply.error_fmt(format_args!("ERR {error}")),
    }
}

/// Wall-clock milliseconds, the scale of hash field deadlines (see `larder_runtime::value::hash`).
pub(super) fn unix_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Redis's strict integer syntax: optional `-`, no `+`, no leading zeros, no spaces, fits i64.
pub(super) fn parse_i64(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    match digits {
        [] => return None,
        [b'0'] => return if negative { None } else { Some(0) },
        [b'0', ..] => return None,
        _ => {}
    }
    let mut value: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        let digit = i64::from(d - b'0');
        value = value.checked_mul(10)?;
        value = if negative {
            value.checked_sub(digit)?
        } else {
            value.checked_add(digit)?
        };
    }
    Some(value)
}

/// [`parse_i64`] for the other RESP modules (cluster routing reads `numkeys`).
pub fn parse_i64_arg(text: &[u8]) -> Option<i64> {
    parse_i64(text)
}

/// Case-insensitive comparison of an argument with an upper-case option name.
#[inline]
pub(super) fn is(arg: &[u8], option: &str) -> bool {
    arg.eq_ignore_ascii_case(option.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::parse_i64;

    #[test]
    fn integers_follow_redis_syntax() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-42"), Some(-42));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"-",
            b"+1",
            b"01",
            b"-0",
            b" 1",
            b"1.5",
            b"9223372036854775808",
        ] {
            assert_eq!(parse_i64(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
