//! Caps on what one client may send in a single request.
//!
//! A request that breaks a cap is a protocol error: the client gets `-ERR Protocol error: …` and
//! its connection is closed; every other connection carries on. The caps bound the memory one
//! connection can pin in its read buffer.

/// Request-size caps for the Redis-protocol server. [`Default`] gives values that suit a cache:
/// generous for real values, small enough that one bad client cannot exhaust the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RespLimits {
    /// Largest single argument (bulk string), in bytes. Redis's `proto-max-bulk-len` is 512 MiB;
    /// a cache item beyond 64 MiB is almost certainly a mistake.
    pub max_bulk_len: usize,
    /// Most arguments in one command, the command name included (Redis allows 1 Mi).
    pub max_args: usize,
    /// Longest inline command (a plain text line such as `PING\r\n` typed into telnet).
    pub max_inline_len: usize,
    /// Largest whole request frame, in bytes: what a connection may buffer for one command.
    pub max_request_len: usize,
}

impl Default for RespLimits {
    fn default() -> Self {
        Self {
            max_bulk_len: 64 * 1024 * 1024,
            max_args: 1024 * 1024,
            max_inline_len: 64 * 1024,
            max_request_len: 256 * 1024 * 1024,
        }
    }
}
