//! The command table: every command the server knows, its arity and what `COMMAND` reports.
//!
//! [`CommandKind`] indexes everything per command (the spec here, the latency histogram in
//! `ServerContext`), so a command is resolved from its name once and then costs an array index.

/// What `COMMAND INFO` / `COMMAND DOCS` say about one command, and its arity for argument checks.
#[derive(Debug)]
pub struct CommandSpec {
    /// Lower case, as Redis reports it and as the `op` label of the latency histogram.
    pub name: &'static str,
    /// Redis convention: `n` means exactly `n` arguments (the name included), `-n` at least `n`.
    pub arity: i32,
    pub flags: &'static [&'static str],
    pub first_key: i64,
    pub last_key: i64,
    pub step: i64,
    pub group: &'static str,
    pub since: &'static str,
    pub summary: &'static str,
}

impl CommandSpec {
    pub fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i64;
        let arity = i64::from(self.arity);
        if arity >= 0 {
            argc == arity
        } else {
            argc >= -arity
        }
    }
}

macro_rules! commands {
    ($($kind:ident $upper:literal $name:literal $arity:literal [$($flag:literal)*]
       ($first:literal $last:literal $step:literal) $group:literal $since:literal $summary:literal;)*) => {
        /// Every command this server implements.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum CommandKind { $($kind),* }

        const SPECS: &[CommandSpec] = &[$(CommandSpec {
            name: $name,
            arity: $arity,
            flags: &[$($flag),*],
            first_key: $first,
            last_key: $last,
            step: $step,
            group: $group,
            since: $since,
            summary: $summary,
        }),*];

        impl CommandKind {
            pub const ALL: &'static [CommandKind] = &[$(CommandKind::$kind),*];

            /// The command named `name`, in any letter case.
            #[inline]
            pub fn lookup(name: &[u8]) -> Option<Self> {
                let mut upper = [0u8; 16];
                if name.len() > upper.len() {
                    return None;
                }
                for (u, b) in upper.iter_mut().zip(name) {
                    *u = b.to_ascii_uppercase();
                }
                match &upper[..name.len()] {
                    $($upper => Some(Self::$kind),)*
                    _ => None,
                }
            }
        }
    };
}

// Per-connection latency bookkeeping stores a kind's index in a byte.
const _: () = assert!(SPECS.len() <= 256);

impl CommandKind {
    pub fn spec(self) -> &'static CommandSpec {
        &SPECS[self as usize]
    }

    /// For a command whose keys are counted by a `numkeys` argument (Redis's "movablekeys"):
    /// that argument's index, and whether argument 1 is a destination key before it.
    pub fn numkeys_at(self) -> Option<(usize, bool)> {
        use CommandKind as K;
        match self {
            K::ZUnion
            | K::ZInter
            | K::ZDiff
            | K::SInterCard
            | K::ZInterCard
            | K::LMPop
            | K::ZMPop => Some((1, false)),
            K::ZUnionStore | K::ZInterStore | K::ZDiffStore => Some((2, true)),
            K::BLMPop | K::BZMPop => Some((2, false)),
            _ => None,
        }
    }

    /// The argument positions of the command's keys in `argc` arguments whose `numkeys`
    /// argument (see [`numkeys_at`](Self::numkeys_at)) says `numkeys`; from the table's
    /// first/last/step otherwise.
    pub fn key_positions(self, argc: usize, numkeys: Option<i64>) -> Vec<usize> {
        if let Some((at, destination)) = self.numkeys_at() {
            let n = numkeys.unwrap_or(0).max(0) as usize;
            let keys = (at + 1..(at + 1 + n).min(argc)).collect::<Vec<_>>();
            return if destination {
                std::iter::once(1).chain(keys).collect()
            } else {
                keys
            };
        }
        let spec = self.spec();
        if spec.first_key <= 0 {
            return Vec::new();
        }
        let len = argc as i64;
        let last = if spec.last_key < 0 {
            len + spec.last_key
        } else {
            spec.last_key.min(len - 1)
        };
        let step = spec.step.max(1) as usize;
        (spec.first_key..=last)
            .step_by(step)
            .map(|i| i as usize)
            .collect()
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

commands! {
    Get b"GET" "get" 2 ["readonly" "fast"] (1 1 1) "string" "1.0.0"
        "Returns the string value of a key.";
    Set b"SET" "set" -3 ["write" "denyoom"] (1 1 1) "string" "1.0.0"
        "Sets the string value of a key, with optional expiry and conditions.";
    SetNx b"SETNX" "setnx" 3 ["write" "denyoom" "fast"] (1 1 1) "string" "1.0.0"
        "Sets the string value of a key only when the key doesn't exist.";
    SetEx b"SETEX" "setex" 4 ["write" "denyoom"] (1 1 1) "string" "2.0.0"
        "Sets the string value and expiration time in seconds of a key.";
    PSetEx b"PSETEX" "psetex" 4 ["write" "denyoom"] (1 1 1) "string" "2.6.0"
        "Sets the string value and expiration time in milliseconds of a key.";
    GetEx b"GETEX" "getex" -2 ["write" "fast"] (1 1 1) "string" "6.2.0"
        "Returns the string value of a key after setting or clearing its expiration (sliding sessions).";
    MGet b"MGET" "mget" -2 ["readonly" "fast"] (1 -1 1) "string" "1.0.0"
        "Atomically returns the string values of one or more keys.";
    MSet b"MSET" "mset" -3 ["write" "denyoom"] (1 -1 2) "string" "1.0.1"
        "Creates or modifies the string values of one or more keys.";
    Incr b"INCR" "incr" 2 ["write" "denyoom" "fast"] (1 1 1) "string" "1.0.0"
        "Increments the integer value of a key by one.";
    IncrBy b"INCRBY" "incrby" 3 ["write" "denyoom" "fast"] (1 1 1) "string" "1.0.0"
        "Increments the integer value of a key by a number.";
    Decr b"DECR" "decr" 2 ["write" "denyoom" "fast"] (1 1 1) "string" "1.0.0"
        "Decrements the integer value of a key by one.";
    DecrBy b"DECRBY" "decrby" 3 ["write" "denyoom" "fast"] (1 1 1) "string" "1.0.0"
        "Decrements a number from the integer value of a key.";
    MSetNx b"MSETNX" "msetnx" -3 ["write" "denyoom"] (1 -1 2) "string" "1.0.1"
        "Sets the string values of one or more keys only when none of them exists (atomically).";
    Append b"APPEND" "append" 3 ["write" "denyoom" "fast"] (1 1 1) "string" "2.0.0"
        "Appends a string to the value of a key. Creates the key if it doesn't exist.";
    StrLen b"STRLEN" "strlen" 2 ["readonly" "fast"] (1 1 1) "string" "2.2.0"
        "Returns the length of a string value.";
    GetRange b"GETRANGE" "getrange" 4 ["readonly"] (1 1 1) "string" "2.4.0"
        "Returns a substring of the string stored at a key.";
    SubStr b"SUBSTR" "substr" 4 ["readonly"] (1 1 1) "string" "1.0.0"
        "Returns a substring from a string value (the old name of GETRANGE).";
    SetRange b"SETRANGE" "setrange" 4 ["write" "denyoom"] (1 1 1) "string" "2.2.0"
        "Overwrites a part of a string value with another by an offset.";
    GetDel b"GETDEL" "getdel" 2 ["write" "fast"] (1 1 1) "string" "6.2.0"
        "Returns the string value of a key after deleting the key.";
    GetSet b"GETSET" "getset" 3 ["write" "denyoom" "fast"] (1 1 1) "string" "1.0.0"
        "Returns the previous string value of a key after setting it to a new value.";
    IncrByFloat b"INCRBYFLOAT" "incrbyfloat" 3 ["write" "denyoom" "fast"] (1 1 1) "string" "2.6.0"
        "Increments the floating point value of a key by a number.";
    SetBit b"SETBIT" "setbit" 4 ["write" "denyoom"] (1 1 1) "bitmap" "2.2.0"
        "Sets or clears the bit at offset of the string value.";
    GetBit b"GETBIT" "getbit" 3 ["readonly" "fast"] (1 1 1) "bitmap" "2.2.0"
        "Returns a bit value by offset.";
    BitCount b"BITCOUNT" "bitcount" -2 ["readonly"] (1 1 1) "bitmap" "2.6.0"
        "Counts the number of set bits (population counting) in a string.";
    BitPos b"BITPOS" "bitpos" -3 ["readonly"] (1 1 1) "bitmap" "2.8.7"
        "Finds the first set (1) or clear (0) bit in a string.";
    BitOp b"BITOP" "bitop" -4 ["write" "denyoom"] (2 -1 1) "bitmap" "2.6.0"
        "Performs bitwise operations on multiple strings, and stores the result.";
    BitField b"BITFIELD" "bitfield" -2 ["write" "denyoom"] (1 1 1) "bitmap" "3.2.0"
        "Performs arbitrary bitfield integer operations on strings.";
    BitFieldRo b"BITFIELD_RO" "bitfield_ro" -2 ["readonly" "fast"] (1 1 1) "bitmap" "6.2.0"
        "Performs arbitrary read-only bitfield integer operations on strings.";
    Lcs b"LCS" "lcs" -3 ["readonly"] (1 2 1) "string" "7.0.0"
        "Finds the longest common substring.";
    Del b"DEL" "del" -2 ["write"] (1 -1 1) "generic" "1.0.0"
        "Deletes one or more keys.";
    Unlink b"UNLINK" "unlink" -2 ["write" "fast"] (1 -1 1) "generic" "4.0.0"
        "Deletes one or more keys.";
    Exists b"EXISTS" "exists" -2 ["readonly" "fast"] (1 -1 1) "generic" "1.0.0"
        "Determines whether one or more keys exist.";
    Touch b"TOUCH" "touch" -2 ["readonly" "fast"] (1 -1 1) "generic" "3.2.1"
        "Returns the number of existing keys out of those specified after updating their access time.";
    Expire b"EXPIRE" "expire" -3 ["write" "fast"] (1 1 1) "generic" "1.0.0"
        "Sets the expiration time of a key in seconds.";
    PExpire b"PEXPIRE" "pexpire" -3 ["write" "fast"] (1 1 1) "generic" "2.6.0"
        "Sets the expiration time of a key in milliseconds.";
    ExpireAt b"EXPIREAT" "expireat" -3 ["write" "fast"] (1 1 1) "generic" "1.2.0"
        "Sets the expiration time of a key to a Unix timestamp.";
    PExpireAt b"PEXPIREAT" "pexpireat" -3 ["write" "fast"] (1 1 1) "generic" "2.6.0"
        "Sets the expiration time of a key to a Unix milliseconds timestamp.";
    Persist b"PERSIST" "persist" 2 ["write" "fast"] (1 1 1) "generic" "2.2.0"
        "Removes the expiration time of a key.";
    Ttl b"TTL" "ttl" 2 ["readonly" "fast"] (1 1 1) "generic" "1.0.0"
        "Returns the expiration time in seconds of a key.";
    PTtl b"PTTL" "pttl" 2 ["readonly" "fast"] (1 1 1) "generic" "2.6.0"
        "Returns the expiration time in milliseconds of a key.";
    ExpireTime b"EXPIRETIME" "expiretime" 2 ["readonly" "fast"] (1 1 1) "generic" "7.0.0"
        "Returns the expiration time of a key as a Unix timestamp.";
    PExpireTime b"PEXPIRETIME" "pexpiretime" 2 ["readonly" "fast"] (1 1 1) "generic" "7.0.0"
        "Returns the expiration time of a key as a Unix milliseconds timestamp.";
    Scan b"SCAN" "scan" -2 ["readonly"] (0 0 0) "generic" "2.8.0"
        "Iterates over the key names in the selected namespace.";
    Keys b"KEYS" "keys" 2 ["readonly"] (0 0 0) "generic" "1.0.0"
        "Returns all key names that match a pattern (a full scan: for debugging).";
    Type b"TYPE" "type" 2 ["readonly" "fast"] (1 1 1) "generic" "1.0.0"
        "Determines the type of value stored at a key.";
    RandomKey b"RANDOMKEY" "randomkey" 1 ["readonly"] (0 0 0) "generic" "1.0.0"
        "Returns a random key name from the selected namespace.";
    Rename b"RENAME" "rename" 3 ["write"] (1 2 1) "generic" "1.0.0"
        "Renames a key and overwrites the destination.";
    RenameNx b"RENAMENX" "renamenx" 3 ["write" "fast"] (1 2 1) "generic" "1.0.0"
        "Renames a key only when the target key name doesn't exist.";
    Copy b"COPY" "copy" -3 ["write" "denyoom"] (1 2 1) "generic" "6.2.0"
        "Copies the value of a key to a new key.";
    Move b"MOVE" "move" 3 ["write" "fast"] (1 1 1) "generic" "1.0.0"
        "Moves a key to another database (namespace), with its expiry.";
    Sort b"SORT" "sort" -2 ["write" "denyoom"] (1 1 1) "generic" "1.0.0"
        "Sorts the elements in a list, a set, or a sorted set, optionally storing the result.";
    SortRo b"SORT_RO" "sort_ro" -2 ["readonly"] (1 1 1) "generic" "7.0.0"
        "Returns the sorted elements of a list, a set, or a sorted set.";
    Dump b"DUMP" "dump" 2 ["readonly"] (1 1 1) "generic" "2.6.0"
        "Returns a serialized representation of the value stored at a key.";
    Restore b"RESTORE" "restore" -4 ["write" "denyoom"] (1 1 1) "generic" "2.6.0"
        "Creates a key from the serialized representation of a value.";
    Time b"TIME" "time" 1 ["loading" "stale" "fast"] (0 0 0) "server" "2.6.0"
        "Returns the server time: Unix seconds and microseconds.";
    Object b"OBJECT" "object" -2 ["readonly"] (2 2 1) "generic" "2.2.3"
        "A container for object introspection commands.";
    Ping b"PING" "ping" -1 ["fast"] (0 0 0) "connection" "1.0.0"
        "Returns the server's liveliness response.";
    Echo b"ECHO" "echo" 2 ["fast"] (0 0 0) "connection" "1.0.0"
        "Returns the given string.";
    Hello b"HELLO" "hello" -1 ["noscript" "loading" "stale" "fast"] (0 0 0) "connection" "6.0.0"
        "Handshakes with the server: protocol version, client name.";
    Auth b"AUTH" "auth" -2 ["noscript" "loading" "stale" "fast"] (0 0 0) "connection" "1.0.0"
        "Authenticates the connection (accepted: this server has no passwords).";
    Select b"SELECT" "select" 2 ["loading" "stale" "fast"] (0 0 0) "connection" "1.0.0"
        "Switches the connection to a namespace: 0 is 'default', 1-15 are 'db1'-'db15', or a name.";
    Client b"CLIENT" "client" -2 ["noscript" "loading" "stale"] (0 0 0) "connection" "2.4.0"
        "A container for client connection commands.";
    Acl b"ACL" "acl" -2 ["noscript" "loading" "stale"] (0 0 0) "server" "6.0.0"
        "Access control: WHOAMI (the caller's API key, token subject or `operator`).";
    Quit b"QUIT" "quit" -1 ["noscript" "loading" "stale" "fast"] (0 0 0) "connection" "1.0.0"
        "Closes the connection.";
    Reset b"RESET" "reset" 1 ["noscript" "loading" "stale" "fast" "no_auth" "allow_busy"] (0 0 0) "connection" "6.2.0"
        "Resets the connection.";
    Multi b"MULTI" "multi" 1 ["noscript" "loading" "stale" "fast"] (0 0 0) "transactions" "1.2.0"
        "Starts a transaction.";
    Exec b"EXEC" "exec" 1 ["noscript" "loading" "stale"] (0 0 0) "transactions" "1.2.0"
        "Executes all commands in a transaction.";
    Discard b"DISCARD" "discard" 1 ["noscript" "loading" "stale" "fast"] (0 0 0) "transactions" "2.0.0"
        "Discards a transaction.";
    Watch b"WATCH" "watch" -2 ["noscript" "loading" "stale" "fast"] (1 -1 1) "transactions" "2.2.0"
        "Monitors changes to keys to determine the execution of a transaction.";
    Unwatch b"UNWATCH" "unwatch" 1 ["noscript" "loading" "stale" "fast"] (0 0 0) "transactions" "2.2.0"
        "Forgets about watched keys of a transaction.";
    Subscribe b"SUBSCRIBE" "subscribe" -2 ["pubsub" "noscript" "loading" "stale"] (0 0 0) "pubsub" "2.0.0"
        "Listens for messages published to channels.";
    Unsubscribe b"UNSUBSCRIBE" "unsubscribe" -1 ["pubsub" "noscript" "loading" "stale"] (0 0 0) "pubsub" "2.0.0"
        "Stops listening to messages posted to channels.";
    PSubscribe b"PSUBSCRIBE" "psubscribe" -2 ["pubsub" "noscript" "loading" "stale"] (0 0 0) "pubsub" "2.0.0"
        "Listens for messages published to channels that match one or more patterns.";
    PUnsubscribe b"PUNSUBSCRIBE" "punsubscribe" -1 ["pubsub" "noscript" "loading" "stale"] (0 0 0) "pubsub" "2.0.0"
        "Stops listening to messages published to channels that match one or more patterns.";
    Publish b"PUBLISH" "publish" 3 ["pubsub" "loading" "stale" "fast"] (0 0 0) "pubsub" "2.0.0"
        "Posts a message to a channel.";
    SSubscribe b"SSUBSCRIBE" "ssubscribe" -2 ["pubsub" "noscript" "loading" "stale"] (1 -1 1) "pubsub" "7.0.0"
        "Listens for messages published to shard channels.";
    SUnsubscribe b"SUNSUBSCRIBE" "sunsubscribe" -1 ["pubsub" "noscript" "loading" "stale"] (1 -1 1) "pubsub" "7.0.0"
        "Stops listening to messages posted to shard channels.";
    SPublish b"SPUBLISH" "spublish" 3 ["pubsub" "loading" "stale" "fast"] (1 1 1) "pubsub" "7.0.0"
        "Post a message to a shard channel";
    PubSub b"PUBSUB" "pubsub" -2 ["pubsub" "loading" "stale"] (0 0 0) "pubsub" "2.8.0"
        "A container for pub/sub introspection: CHANNELS, NUMSUB, NUMPAT, SHARDCHANNELS, SHARDNUMSUB.";
    Info b"INFO" "info" -1 ["loading" "stale"] (0 0 0) "server" "1.0.0"
        "Returns information and statistics about the server.";
    DbSize b"DBSIZE" "dbsize" 1 ["readonly" "fast"] (0 0 0) "server" "1.0.0"
        "Returns the number of keys in the selected namespace.";
    FlushDb b"FLUSHDB" "flushdb" -1 ["write"] (0 0 0) "server" "1.0.0"
        "Removes all keys from the selected namespace.";
    FlushAll b"FLUSHALL" "flushall" -1 ["write"] (0 0 0) "server" "1.0.0"
        "Removes all keys from all namespaces.";
    Save b"SAVE" "save" 1 ["admin" "noscript"] (0 0 0) "server" "1.0.0"
        "Writes a snapshot of every namespace to the data directory, then answers.";
    BgSave b"BGSAVE" "bgsave" -1 ["admin" "noscript"] (0 0 0) "server" "1.0.0"
        "Starts writing a snapshot of every namespace in the background.";
    Shutdown b"SHUTDOWN" "shutdown" -1 ["admin" "noscript" "loading" "stale"] (0 0 0) "server" "1.0.0"
        "Stops the node as SIGTERM does: stop accepting, finish in-flight requests, snapshot (NOSAVE skips it).";
    LastSave b"LASTSAVE" "lastsave" 1 ["loading" "stale" "fast"] (0 0 0) "server" "1.0.0"
        "Unix time of the last successful snapshot (the start time when there was none).";
    Wait b"WAIT" "wait" 3 ["blocking"] (0 0 0) "generic" "3.0.0"
        "How many replicas hold this connection's writes (they all do once it was answered).";
    Function b"FUNCTION" "function" -2 ["noscript"] (0 0 0) "scripting" "7.0.0"
        "Server-side functions: none can be loaded here, so FLUSH and LIST are trivially empty.";
    Debug b"DEBUG" "debug" -2 ["admin" "noscript" "loading" "stale"] (0 0 0) "server" "1.0.0"
        "Test-suite helpers: only SET-ACTIVE-EXPIRE (pause or resume the active expiry sweeps).";
    Command b"COMMAND" "command" -1 ["loading" "stale"] (0 0 0) "server" "2.8.13"
        "Returns detailed information about all commands.";
    Config b"CONFIG" "config" -2 ["admin" "noscript" "loading" "stale"] (0 0 0) "server" "2.0.0"
        "Redis parameters mapped onto the selected namespace (maxmemory, maxmemory-policy, ...).";
    Cluster b"CLUSTER" "cluster" -2 ["loading" "stale"] (0 0 0) "cluster" "3.0.0"
        "Cluster introspection: INFO, SLOTS, SHARDS, NODES, KEYSLOT, MYID, COUNTKEYSINSLOT, GETKEYSINSLOT.";
    ReadOnly b"READONLY" "readonly" 1 ["loading" "stale" "fast"] (0 0 0) "cluster" "3.0.0"
        "Enables read-only queries to a replica (accepted; every read is served by the slot's owner).";
    ReadWrite b"READWRITE" "readwrite" 1 ["loading" "stale" "fast"] (0 0 0) "cluster" "3.0.0"
        "Disables read-only queries for the connection.";
    Asking b"ASKING" "asking" 1 ["fast"] (0 0 0) "cluster" "3.0.0"
        "Signals that the next command follows an ASK redirection (accepted; slots never migrate half-way).";
    Memory b"MEMORY" "memory" -2 ["readonly"] (0 0 0) "server" "4.0.0"
        "Memory introspection: USAGE (the bytes a key is charged against its namespace's capacity).";
    // Hashes (see `hashes`).
    HSet b"HSET" "hset" -4 ["write" "denyoom" "fast"] (1 1 1) "hash" "2.0.0"
        "Creates or modifies the value of a field in a hash.";
    HMSet b"HMSET" "hmset" -4 ["write" "denyoom" "fast"] (1 1 1) "hash" "2.0.0"
        "Sets the values of multiple fields.";
    HSetNx b"HSETNX" "hsetnx" 4 ["write" "denyoom" "fast"] (1 1 1) "hash" "2.0.0"
        "Sets the value of a field in a hash only when the field doesn't exist.";
    HGet b"HGET" "hget" 3 ["readonly" "fast"] (1 1 1) "hash" "2.0.0"
        "Returns the value of a field in a hash.";
    HMGet b"HMGET" "hmget" -3 ["readonly" "fast"] (1 1 1) "hash" "2.0.0"
        "Returns the values of all fields in a hash.";
    HGetAll b"HGETALL" "hgetall" 2 ["readonly"] (1 1 1) "hash" "2.0.0"
        "Returns all fields and values in a hash.";
    HKeys b"HKEYS" "hkeys" 2 ["readonly"] (1 1 1) "hash" "2.0.0"
        "Returns all fields in a hash.";
    HVals b"HVALS" "hvals" 2 ["readonly"] (1 1 1) "hash" "2.0.0"
        "Returns all values in a hash.";
    HDel b"HDEL" "hdel" -3 ["write" "fast"] (1 1 1) "hash" "2.0.0"
        "Deletes one or more fields and their values from a hash. Deletes the hash if no fields remain.";
    HExists b"HEXISTS" "hexists" 3 ["readonly" "fast"] (1 1 1) "hash" "2.0.0"
        "Determines whether a field exists in a hash.";
    HLen b"HLEN" "hlen" 2 ["readonly" "fast"] (1 1 1) "hash" "2.0.0"
        "Returns the number of fields in a hash.";
    HStrLen b"HSTRLEN" "hstrlen" 3 ["readonly" "fast"] (1 1 1) "hash" "3.2.0"
        "Returns the length of the value of a field.";
    HIncrBy b"HINCRBY" "hincrby" 4 ["write" "denyoom" "fast"] (1 1 1) "hash" "2.0.0"
        "Increments the integer value of a field in a hash by a number.";
    HIncrByFloat b"HINCRBYFLOAT" "hincrbyfloat" 4 ["write" "denyoom" "fast"] (1 1 1) "hash" "2.6.0"
        "Increments the floating point value of a field by a number.";
    HRandField b"HRANDFIELD" "hrandfield" -2 ["readonly"] (1 1 1) "hash" "6.2.0"
        "Returns one or more random fields from a hash.";
    HScan b"HSCAN" "hscan" -3 ["readonly"] (1 1 1) "hash" "2.8.0"
        "Iterates over fields and values of a hash.";
    HExpire b"HEXPIRE" "hexpire" -6 ["write" "fast"] (1 1 1) "hash" "7.4.0"
        "Set expiry for hash field using relative time to expire (seconds).";
    HPExpire b"HPEXPIRE" "hpexpire" -6 ["write" "fast"] (1 1 1) "hash" "7.4.0"
        "Set expiry for hash field using relative time to expire (milliseconds).";
    HExpireAt b"HEXPIREAT" "hexpireat" -6 ["write" "fast"] (1 1 1) "hash" "7.4.0"
        "Set expiry for hash field using an absolute Unix timestamp (seconds).";
    HPExpireAt b"HPEXPIREAT" "hpexpireat" -6 ["write" "fast"] (1 1 1) "hash" "7.4.0"
        "Set expiry for hash field using an absolute Unix timestamp (milliseconds).";
    HTtl b"HTTL" "httl" -5 ["readonly" "fast"] (1 1 1) "hash" "7.4.0"
        "Returns the TTL in seconds of a hash field.";
    HPTtl b"HPTTL" "hpttl" -5 ["readonly" "fast"] (1 1 1) "hash" "7.4.0"
        "Returns the TTL in milliseconds of a hash field.";
    HExpireTime b"HEXPIRETIME" "hexpiretime" -5 ["readonly" "fast"] (1 1 1) "hash" "7.4.0"
        "Returns the expiration time of a hash field as a Unix timestamp, in seconds.";
    HPExpireTime b"HPEXPIRETIME" "hpexpiretime" -5 ["readonly" "fast"] (1 1 1) "hash" "7.4.0"
        "Returns the expiration time of a hash field as a Unix timestamp, in msec.";
    HPersist b"HPERSIST" "hpersist" -5 ["write" "fast"] (1 1 1) "hash" "7.4.0"
        "Removes the expiration time for each specified field.";
    // Lists (see `lists`).
    LPush b"LPUSH" "lpush" -3 ["write" "denyoom" "fast"] (1 1 1) "list" "1.0.0"
        "Prepends one or more elements to a list. Creates the key if it doesn't exist.";
    RPush b"RPUSH" "rpush" -3 ["write" "denyoom" "fast"] (1 1 1) "list" "1.0.0"
        "Appends one or more elements to a list. Creates the key if it doesn't exist.";
    LPushX b"LPUSHX" "lpushx" -3 ["write" "denyoom" "fast"] (1 1 1) "list" "2.2.0"
        "Prepends one or more elements to a list only when the list exists.";
    RPushX b"RPUSHX" "rpushx" -3 ["write" "denyoom" "fast"] (1 1 1) "list" "2.2.0"
        "Appends an element to a list only when the list exists.";
    LPop b"LPOP" "lpop" -2 ["write" "fast"] (1 1 1) "list" "1.0.0"
        "Returns the first elements in a list after removing it. Deletes the list if the last element was popped.";
    RPop b"RPOP" "rpop" -2 ["write" "fast"] (1 1 1) "list" "1.0.0"
        "Returns and removes the last elements of a list. Deletes the list if the last element was popped.";
    LLen b"LLEN" "llen" 2 ["readonly" "fast"] (1 1 1) "list" "1.0.0"
        "Returns the length of a list.";
    LRange b"LRANGE" "lrange" 4 ["readonly"] (1 1 1) "list" "1.0.0"
        "Returns a range of elements from a list.";
    LIndex b"LINDEX" "lindex" 3 ["readonly"] (1 1 1) "list" "1.0.0"
        "Returns an element from a list by its index.";
    LSet b"LSET" "lset" 4 ["write" "denyoom"] (1 1 1) "list" "1.0.0"
        "Sets the value of an element in a list by its index.";
    LTrim b"LTRIM" "ltrim" 4 ["write"] (1 1 1) "list" "1.0.0"
        "Removes elements from both ends a list. Deletes the list if all elements were trimmed.";
    LRem b"LREM" "lrem" 4 ["write"] (1 1 1) "list" "1.0.0"
        "Removes elements from a list. Deletes the list if the last element was removed.";
    LInsert b"LINSERT" "linsert" 5 ["write" "denyoom"] (1 1 1) "list" "2.2.0"
        "Inserts an element before or after another element in a list.";
    LPos b"LPOS" "lpos" -3 ["readonly"] (1 1 1) "list" "6.0.6"
        "Returns the index of matching elements in a list.";
    LMove b"LMOVE" "lmove" 5 ["write" "denyoom"] (1 2 1) "list" "6.2.0"
        "Returns an element after popping it from one list and pushing it to another. Deletes the list if the last element was moved.";
    RPopLPush b"RPOPLPUSH" "rpoplpush" 3 ["write" "denyoom"] (1 2 1) "list" "1.2.0"
        "Returns the last element of a list after removing and pushing it to another list.";
    LMPop b"LMPOP" "lmpop" -4 ["write"] (0 0 0) "list" "7.0.0"
        "Returns multiple elements from a list after removing them. Deletes the list if the last element was popped.";
    BLPop b"BLPOP" "blpop" -3 ["write" "blocking"] (1 -2 1) "list" "2.0.0"
        "Removes and returns the first element in a list. Blocks until an element is available otherwise.";
    BRPop b"BRPOP" "brpop" -3 ["write" "blocking"] (1 -2 1) "list" "2.0.0"
        "Removes and returns the last element in a list. Blocks until an element is available otherwise.";
    BLMPop b"BLMPOP" "blmpop" -5 ["write" "blocking"] (0 0 0) "list" "7.0.0"
        "Pops the first element from one of multiple lists. Blocks until an element is available otherwise.";
    BLMove b"BLMOVE" "blmove" 6 ["write" "denyoom" "blocking"] (1 2 1) "list" "6.2.0"
        "Pops an element from a list, pushes it to another list and returns it. Blocks until an element is available otherwise.";
    BRPopLPush b"BRPOPLPUSH" "brpoplpush" 4 ["write" "denyoom" "blocking"] (1 2 1) "list" "2.2.0"
        "Pops an element from a list, pushes it to another list and returns it. Block until an element is available otherwise.";
    // Sets (see `sets`).
    SAdd b"SADD" "sadd" -3 ["write" "denyoom" "fast"] (1 1 1) "set" "1.0.0"
        "Adds one or more members to a set. Creates the key if it doesn't exist.";
    SRem b"SREM" "srem" -3 ["write" "fast"] (1 1 1) "set" "1.0.0"
        "Removes one or more members from a set. Deletes the set if the last member was removed.";
    SMembers b"SMEMBERS" "smembers" 2 ["readonly"] (1 1 1) "set" "1.0.0"
        "Returns all members of a set.";
    SIsMember b"SISMEMBER" "sismember" 3 ["readonly" "fast"] (1 1 1) "set" "1.0.0"
        "Determines whether a member belongs to a set.";
    SMIsMember b"SMISMEMBER" "smismember" -3 ["readonly" "fast"] (1 1 1) "set" "6.2.0"
        "Determines whether multiple members belong to a set.";
    SCard b"SCARD" "scard" 2 ["readonly" "fast"] (1 1 1) "set" "1.0.0"
        "Returns the number of members in a set.";
    SPop b"SPOP" "spop" -2 ["write" "fast"] (1 1 1) "set" "1.0.0"
        "Returns one or more random members from a set after removing them. Deletes the set if the last member was popped.";
    SRandMember b"SRANDMEMBER" "srandmember" -2 ["readonly"] (1 1 1) "set" "1.0.0"
        "Get one or multiple random members from a set";
    SMove b"SMOVE" "smove" 4 ["write" "fast"] (1 2 1) "set" "1.0.0"
        "Moves a member from one set to another.";
    SInter b"SINTER" "sinter" -2 ["readonly"] (1 -1 1) "set" "1.0.0"
        "Returns the intersect of multiple sets.";
    SUnion b"SUNION" "sunion" -2 ["readonly"] (1 -1 1) "set" "1.0.0"
        "Returns the union of multiple sets.";
    SDiff b"SDIFF" "sdiff" -2 ["readonly"] (1 -1 1) "set" "1.0.0"
        "Returns the difference of multiple sets.";
    SInterStore b"SINTERSTORE" "sinterstore" -3 ["write" "denyoom"] (1 -1 1) "set" "1.0.0"
        "Stores the intersect of multiple sets in a key.";
    SUnionStore b"SUNIONSTORE" "sunionstore" -3 ["write" "denyoom"] (1 -1 1) "set" "1.0.0"
        "Stores the union of multiple sets in a key.";
    SDiffStore b"SDIFFSTORE" "sdiffstore" -3 ["write" "denyoom"] (1 -1 1) "set" "1.0.0"
        "Stores the difference of multiple sets in a key.";
    SInterCard b"SINTERCARD" "sintercard" -3 ["readonly"] (0 0 0) "set" "7.0.0"
        "Returns the number of members of the intersect of multiple sets.";
    SScan b"SSCAN" "sscan" -3 ["readonly"] (1 1 1) "set" "2.8.0"
        "Iterates over members of a set.";
    // Sorted sets (see `zsets`).
    ZAdd b"ZADD" "zadd" -4 ["write" "denyoom" "fast"] (1 1 1) "sorted-set" "1.2.0"
        "Adds one or more members to a sorted set, or updates their scores. Creates the key if it doesn't exist.";
    ZIncrBy b"ZINCRBY" "zincrby" 4 ["write" "denyoom" "fast"] (1 1 1) "sorted-set" "1.2.0"
        "Increments the score of a member in a sorted set.";
    ZRem b"ZREM" "zrem" -3 ["write" "fast"] (1 1 1) "sorted-set" "1.2.0"
        "Removes one or more members from a sorted set. Deletes the sorted set if all members were removed.";
    ZScore b"ZSCORE" "zscore" 3 ["readonly" "fast"] (1 1 1) "sorted-set" "1.2.0"
        "Returns the score of a member in a sorted set.";
    ZMScore b"ZMSCORE" "zmscore" -3 ["readonly" "fast"] (1 1 1) "sorted-set" "6.2.0"
        "Returns the score of one or more members in a sorted set.";
    ZCard b"ZCARD" "zcard" 2 ["readonly" "fast"] (1 1 1) "sorted-set" "1.2.0"
        "Returns the number of members in a sorted set.";
    ZCount b"ZCOUNT" "zcount" 4 ["readonly" "fast"] (1 1 1) "sorted-set" "2.0.0"
        "Returns the count of members in a sorted set that have scores within a range.";
    ZLexCount b"ZLEXCOUNT" "zlexcount" 4 ["readonly" "fast"] (1 1 1) "sorted-set" "2.8.9"
        "Returns the number of members in a sorted set within a lexicographical range.";
    ZRank b"ZRANK" "zrank" -3 ["readonly" "fast"] (1 1 1) "sorted-set" "2.0.0"
        "Returns the index of a member in a sorted set ordered by ascending scores.";
    ZRevRank b"ZREVRANK" "zrevrank" -3 ["readonly" "fast"] (1 1 1) "sorted-set" "2.0.0"
        "Returns the index of a member in a sorted set ordered by descending scores.";
    ZRange b"ZRANGE" "zrange" -4 ["readonly"] (1 1 1) "sorted-set" "1.2.0"
        "Returns members in a sorted set within a range of indexes, scores or members.";
    ZRevRange b"ZREVRANGE" "zrevrange" -4 ["readonly"] (1 1 1) "sorted-set" "1.2.0"
        "Returns members in a sorted set within a range of indexes, in reverse order.";
    ZRangeByScore b"ZRANGEBYSCORE" "zrangebyscore" -4 ["readonly"] (1 1 1) "sorted-set" "1.0.5"
        "Returns members in a sorted set within a range of scores.";
    ZRevRangeByScore b"ZREVRANGEBYSCORE" "zrevrangebyscore" -4 ["readonly"] (1 1 1) "sorted-set" "2.2.0"
        "Returns members in a sorted set within a range of scores in reverse order.";
    ZRangeByLex b"ZRANGEBYLEX" "zrangebylex" -4 ["readonly"] (1 1 1) "sorted-set" "2.8.9"
        "Returns members in a sorted set within a lexicographical range.";
    ZRevRangeByLex b"ZREVRANGEBYLEX" "zrevrangebylex" -4 ["readonly"] (1 1 1) "sorted-set" "2.8.9"
        "Returns members in a sorted set within a lexicographical range in reverse order.";
    ZRemRangeByScore b"ZREMRANGEBYSCORE" "zremrangebyscore" 4 ["write"] (1 1 1) "sorted-set" "1.2.0"
        "Removes members in a sorted set within a range of scores. Deletes the sorted set if all members were removed.";
    ZRemRangeByRank b"ZREMRANGEBYRANK" "zremrangebyrank" 4 ["write"] (1 1 1) "sorted-set" "2.0.0"
        "Removes members in a sorted set within a range of indexes. Deletes the sorted set if all members were removed.";
    ZRemRangeByLex b"ZREMRANGEBYLEX" "zremrangebylex" 4 ["write"] (1 1 1) "sorted-set" "2.8.9"
        "Removes members in a sorted set within a lexicographical range. Deletes the sorted set if all members were removed.";
    ZPopMin b"ZPOPMIN" "zpopmin" -2 ["write" "fast"] (1 1 1) "sorted-set" "5.0.0"
        "Returns the lowest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.";
    ZPopMax b"ZPOPMAX" "zpopmax" -2 ["write" "fast"] (1 1 1) "sorted-set" "5.0.0"
        "Returns the highest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.";
    ZRandMember b"ZRANDMEMBER" "zrandmember" -2 ["readonly"] (1 1 1) "sorted-set" "6.2.0"
        "Returns one or more random members from a sorted set.";
    ZScan b"ZSCAN" "zscan" -3 ["readonly"] (1 1 1) "sorted-set" "2.8.0"
        "Iterates over members and scores of a sorted set.";
    BZPopMin b"BZPOPMIN" "bzpopmin" -3 ["write" "blocking" "fast"] (1 -2 1) "sorted-set" "5.0.0"
        "Removes and returns the member with the lowest score from one or more sorted sets. Blocks until a member is available otherwise.";
    BZPopMax b"BZPOPMAX" "bzpopmax" -3 ["write" "blocking" "fast"] (1 -2 1) "sorted-set" "5.0.0"
        "Removes and returns the member with the highest score from one or more sorted sets. Blocks until a member available otherwise.";
    BZMPop b"BZMPOP" "bzmpop" -5 ["write" "blocking"] (0 0 0) "sorted-set" "7.0.0"
        "Removes and returns a member by score from one or more sorted sets. Blocks until a member is available otherwise.";
    // Sorted sets over several keys (see `zset_combine`).
    ZUnion b"ZUNION" "zunion" -3 ["readonly"] (0 0 0) "sorted-set" "6.2.0"
        "Returns the union of multiple sorted sets.";
    ZInter b"ZINTER" "zinter" -3 ["readonly"] (0 0 0) "sorted-set" "6.2.0"
        "Returns the intersect of multiple sorted sets.";
    ZDiff b"ZDIFF" "zdiff" -3 ["readonly"] (0 0 0) "sorted-set" "6.2.0"
        "Returns the difference between multiple sorted sets.";
    ZUnionStore b"ZUNIONSTORE" "zunionstore" -4 ["write" "denyoom"] (1 1 1) "sorted-set" "2.0.0"
        "Stores the union of multiple sorted sets in a key.";
    ZInterStore b"ZINTERSTORE" "zinterstore" -4 ["write" "denyoom"] (1 1 1) "sorted-set" "2.0.0"
        "Stores the intersect of multiple sorted sets in a key.";
    ZDiffStore b"ZDIFFSTORE" "zdiffstore" -4 ["write" "denyoom"] (1 1 1) "sorted-set" "6.2.0"
        "Stores the difference of multiple sorted sets in a key.";
    ZInterCard b"ZINTERCARD" "zintercard" -3 ["readonly"] (0 0 0) "sorted-set" "7.0.0"
        "Returns the number of members of the intersect of multiple sorted sets.";
    ZRangeStore b"ZRANGESTORE" "zrangestore" -5 ["write" "denyoom"] (1 2 1) "sorted-set" "6.2.0"
        "Stores a range of members from sorted set in a key.";
    ZMPop b"ZMPOP" "zmpop" -4 ["write"] (0 0 0) "sorted-set" "7.0.0"
        "Returns the highest- or lowest-scoring members from one or more sorted sets after removing them. Deletes the sorted set if the last member was popped.";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_finds_its_own_spec_by_name() {
        for &kind in CommandKind::ALL {
            let name = kind.spec().name;
            assert_eq!(CommandKind::lookup(name.as_bytes()), Some(kind), "{name}");
            assert_eq!(
                CommandKind::lookup(name.to_ascii_uppercase().as_bytes()),
                Some(kind)
            );
        }
        assert_eq!(CommandKind::lookup(b"NOPE"), None);
        assert_eq!(CommandKind::lookup(&[b'A'; 40]), None);
    }
}
