//! Proxy mode's multi-key split: `MGET`, `MSET`, `DEL`, `UNLINK`, `EXISTS` and `TOUCH` whose
//! keys fall in slots of different owners.
//!
//! Redis Cluster answers these `-CROSSSLOT`, and so does redirect mode. In proxy mode a plain
//! client does not know the slots exist, so the node it reached splits the command by owner,
//! runs each part where its keys live (this node's part in a short-lived session, as a forward
//! from another node would run; the others over the bus), and gathers the answers: `MGET`'s
//! values in the order the client gave the keys, `MSET`'s `OK` once every part said it, the other
//! commands' counts summed. This is safe because each of them is a set of independent single-key
//! operations; the parts are not atomic together (nor are they in Redis Cluster, which refuses
//! them): a reader may see some of an `MSET`'s keys written before the others. `MSETNX`, whose
//! point is all or nothing, does not split. A part that fails (an error,
//! an owner that does not answer) fails the whole command with that part's error; the other
//! parts may have run, as with any forwarded command that times out.

use futures_util::future::join_all;
use larder_cluster::{ClusterView, Forward, Member, NodeId};

use super::cluster_route::FORWARD_TIMEOUT;
use super::command::{self, Args, CommandKind};
use super::context::ServerContext;
use super::forward;
use super::reply::Reply;
use crate::slot_rule::SlotRule;

/// How the parts' answers combine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Gather {
    /// One value per key, in the client's order.
    Values,
    /// The parts' integer answers, summed.
    Sum,
    /// `+OK` once every part answered it.
    Ok,
}

/// A command split by owner, ready to run.
pub struct Split {
    gather: Gather,
    keys: usize,
    parts: Vec<Part>,
}

/// The keys one member owns, as a command of their own.
struct Part {
    /// `None` for this node.
    owner: Option<Member>,
    /// Where each of the part's keys was in the client's command (0-based, among the keys).
    positions: Vec<usize>,
    request: Forward,
}

/// The split of `args` by owner, when `kind` is one of the commands that split (`None`
/// otherwise). `Err` carries the error to answer: a slot with no owner.
pub fn plan(
    kind: CommandKind,
    args: &Args<'_>,
    view: &ClusterView,
    rule: SlotRule<'_>,
    namespace: String,
    resp3: bool,
) -> Option<Result<Split, &'static str>> {
    // How many arguments each key comes with: a key, or a key and its value.
    let (gather, step) = match kind {
        CommandKind::MGet => (Gather::Values, 1),
        CommandKind::Del | CommandKind::Unlink | CommandKind::Exists | CommandKind::Touch => {
            (Gather::Sum, 1)
        }
        CommandKind::MSet => (Gather::Ok, 2),
        _ => return None,
    };
    if !(args.len() - 1).is_multiple_of(step) {
        return Some(Err("ERR wrong number of arguments for 'mset' command"));
    }
    let mut parts: Vec<(NodeId, Part)> = Vec::new();
    for (position, i) in (1..args.len()).step_by(step).enumerate() {
        let key = args.get(i);
        let Some((owner, member)) = view.owner(rule.slot(key)) else {
            return Some(Err("CLUSTERDOWN Hash slot not served"));
        };
        let at = match parts.iter().position(|(o, _)| *o == owner) {
            Some(at) => at,
            None => {
                parts.push((
                    owner,
                    Part {
                        owner: (owner != view.me).then(|| member.clone()),
                        positions: Vec::new(),
                        request: Forward {
                            namespace: namespace.clone(),
                            resp3,
                            args: vec![args.get(0).to_vec()],
                        },
                    },
                ));
                parts.len() - 1
            }
        };
        let part = &mut parts[at].1;
        part.positions.push(position);
        part.request.args.push(key.to_vec());
        if step == 2 {
            part.request.args.push(args.get(i + 1).to_vec());
        }
    }
    Some(Ok(Split {
        gather,
        keys: (args.len() - 1) / step,
        parts: parts.into_iter().map(|(_, p)| p).collect(),
    }))
}

impl Split {
    /// Run every part and append the gathered answer (or the first part's error) to `reply`.
    pub async fn answer(self, ctx: &ServerContext, reply: &mut Reply) {
        let Some(cluster) = &ctx.state.cluster else {
            return reply.error("ERR This instance has cluster support disabled");
        };
        let runs = self.parts.iter().map(|part| async {
            match &part.owner {
                None => Ok(forward::run(ctx, part.request.clone()).await),
                Some(owner) => cluster
                    .node
                    .forward(owner, part.request.clone(), FORWARD_TIMEOUT)
                    .await
                    .map_err(|e| {
                        format!(
                            "TRYAGAIN the slot's owner at {} did not answer: {e}",
                            owner.resp
                        )
                    }),
            }
        });
        let answers = join_all(runs).await;
        match self.gather(&answers) {
            Ok(bytes) => reply.buf.extend_from_slice(&bytes),
            Err(message) => reply.error(&message),
        }
    }

    /// The client's answer from the parts' answers, in the parts' order.
    fn gather(&self, answers: &[Result<Vec<u8>, String>]) -> Result<Vec<u8>, String> {
        let mut values: Vec<&[u8]> = vec![&[]; self.keys];
        let mut sum: i64 = 0;
        for (part, answer) in self.parts.iter().zip(answers) {
            let bytes = answer.as_ref().map_err(Clone::clone)?;
            if let Some(error) = bytes.strip_prefix(b"-") {
                let line = error.split(|&b| b == b'\r').next().unwrap_or_default();
                return Err(String::from_utf8_lossy(line).into_owned());
            }
            match self.gather {
                Gather::Ok if bytes == b"+OK\r\n" => {}
                Gather::Ok => return Err(malformed("status")),
                Gather::Sum => sum += parse_integer(bytes)?,
                Gather::Values => {
                    let elements = parse_array(bytes)?;
                    if elements.len() != part.positions.len() {
                        return Err(format!(
                            "ERR a part of the split command answered {} values for {} keys",
                            elements.len(),
                            part.positions.len()
                        ));
                    }
                    for (&at, element) in part.positions.iter().zip(elements) {
                        values[at] = element;
                    }
                }
            }
        }
        Ok(match self.gather {
            Gather::Ok => b"+OK\r\n".to_vec(),
            Gather::Sum => format!(":{sum}\r\n").into_bytes(),
            Gather::Values => {
                let mut out = format!("*{}\r\n", self.keys).into_bytes();
                for value in values {
                    out.extend_from_slice(value);
                }
                out
            }
        })
    }
}

fn malformed(what: &str) -> String {
    format!("ERR a part of the split command answered a malformed {what}")
}

/// `:<n>\r\n`.
fn parse_integer(bytes: &[u8]) -> Result<i64, String> {
    let (line, _) = line(bytes, 1).ok_or_else(|| malformed("integer"))?;
    if bytes[0] != b':' {
        return Err(malformed("integer"));
    }
    command::parse_i64_arg(line).ok_or_else(|| malformed("integer"))
}

/// An array of bulk strings and nulls (`$-1` in RESP2, `_` in RESP3), as each element's bytes.
fn parse_array(bytes: &[u8]) -> Result<Vec<&[u8]>, String> {
    let bad = || malformed("array");
    if bytes.first() != Some(&b'*') {
        return Err(bad());
    }
    let (count, mut at) = line(bytes, 1).ok_or_else(bad)?;
    let count: usize = std::str::from_utf8(count)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(bad)?;
    let mut out = Vec::with_capacity(count.min(bytes.len()));
    for _ in 0..count {
        let start = at;
        match bytes.get(at) {
            Some(b'_') => at = line(bytes, at + 1).ok_or_else(bad)?.1,
            Some(b'$') => {
                let (len, body) = line(bytes, at + 1).ok_or_else(bad)?;
                if len == b"-1" {
                    at = body;
                } else {
                    let len: usize = std::str::from_utf8(len)
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .ok_or_else(bad)?;
                    let end = body.checked_add(len).ok_or_else(bad)?;
                    if bytes.get(end..end + 2) != Some(b"\r\n") {
                        return Err(bad());
                    }
                    at = end + 2;
                }
            }
            _ => return Err(bad()),
        }
        out.push(&bytes[start..at]);
    }
    if at != bytes.len() {
        return Err(bad());
    }
    Ok(out)
}

/// The line starting at `from` (without its `\r\n`) and where the next one starts.
fn line(bytes: &[u8], from: usize) -> Option<(&[u8], usize)> {
    let rest = bytes.get(from..)?;
    let end = rest.windows(2).position(|w| w == b"\r\n")?;
    Some((&rest[..end], from + end + 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_of_bulk_strings_and_nulls_parse_in_both_protocols() {
        let resp2 = b"*3\r\n$1\r\na\r\n$-1\r\n$4\r\nb\r\nc\r\n";
        assert_eq!(
            parse_array(resp2).unwrap(),
            [&b"$1\r\na\r\n"[..], b"$-1\r\n", b"$4\r\nb\r\nc\r\n"]
        );
        assert_eq!(parse_array(b"*2\r\n_\r\n$0\r\n\r\n").unwrap().len(), 2);
        assert_eq!(parse_array(b"*0\r\n").unwrap().len(), 0);
        for bad in [
            &b"*2\r\n$1\r\na\r\n"[..],
            b"*1\r\n$5\r\nab\r\n",
            b"*1\r\n:1\r\n",
            b"*x\r\n",
            b"$1\r\na\r\n",
            b"*1\r\n$1\r\nab\r\n",
            b"*1\r\n$99999999999999999999\r\n",
        ] {
            assert!(
                parse_array(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(parse_integer(b":42\r\n"), Ok(42));
        assert!(parse_integer(b"+OK\r\n").is_err());
        assert!(parse_integer(b":\r\n").is_err());
    }
}
