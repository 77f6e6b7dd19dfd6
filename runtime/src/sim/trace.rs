//! The in-memory trace every reader produces and every replay consumes.
//!
//! A trace is a sequence of [`Request`]s: an object id, the object's size, and the index of the
//! next request for the same object. The next-access index is what makes Belady's optimum
//! computable in one forward pass; readers for formats that carry it (oracleGeneral) keep the
//! file's value, the others get it from [`Trace::from_keys`], which computes it in one backward
//! pass.

use hashbrown::HashMap;

/// `next_access` of a request whose object is never requested again.
pub const NEVER: u64 = u64::MAX;

/// One request of a trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    /// The object's identity (the key).
    pub id: u64,
    /// Object size in bytes (1 where the source has no sizes).
    pub size: u32,
    /// 0-based index of the next request for `id` in the same trace, or [`NEVER`].
    pub next_access: u64,
}

/// A whole trace, loaded, with the totals capacities are expressed against.
#[derive(Debug, Clone, Default)]
pub struct Trace {
    requests: Vec<Request>,
    distinct_objects: u64,
    distinct_bytes: u64,
    requested_bytes: u64,
}

impl Trace {
    /// A trace whose requests already carry their next-access index.
    ///
    /// The caller vouches for `next_access`; [`Trace::next_access_is_consistent`] checks it.
    pub fn from_requests(requests: Vec<Request>) -> Self {
        let mut sizes: HashMap<u64, u32> = HashMap::with_capacity(requests.len() / 4);
        let mut requested_bytes = 0u64;
        for r in &requests {
            requested_bytes += u64::from(r.size);
            // The first size seen is the one a cache would have stored.
            sizes.entry(r.id).or_insert(r.size);
        }
        let distinct_bytes = sizes.values().map(|&s| u64::from(s)).sum();
        Self {
            distinct_objects: sizes.len() as u64,
            distinct_bytes,
            requested_bytes,
            requests,
        }
    }

    /// A trace from `(id, size)` pairs; next-access indices are computed here.
    pub fn from_keys(keys: impl IntoIterator<Item = (u64, u32)>) -> Self {
        let mut requests: Vec<Request> = keys
            .into_iter()
            .map(|(id, size)| Request {
                id,
                size,
                next_access: NEVER,
            })
            .collect();
        fill_next_access(&mut requests);
        Self::from_requests(requests)
    }

    pub fn requests(&self) -> &[Request] {
        &self.requests
    }
    pub fn len(&self) -> usize {
        self.requests.len()
    }
    pub fn is_empty(&self) -> bool {
        self.requests.is_empty()
    }
    /// Number of distinct object ids (the working-set size in objects).
    pub fn distinct_objects(&self) -> u64 {
        self.distinct_objects
    }
    /// Sum of the first-seen size of every distinct object (the working-set size in bytes).
    pub fn distinct_bytes(&self) -> u64 {
        self.distinct_bytes
    }
    /// Sum of the sizes of all requests.
    pub fn requested_bytes(&self) -> u64 {
        self.requested_bytes
    }

    /// Whether every request's `next_access` names the next request for the same id (and
    /// [`NEVER`] only the last one). Used to check a trace file's precomputed field.
    pub fn next_access_is_consistent(&self) -> bool {
        let mut expected = self.requests.clone();
        fill_next_access(&mut expected);
        expected
            .iter()
            .zip(&self.requests)
            .all(|(a, b)| a.next_access == b.next_access)
    }
}

/// Set `next_access` of every request by walking the trace backwards.
fn fill_next_access(requests: &mut [Request]) {
    let mut seen: HashMap<u64, u64> = HashMap::with_capacity(requests.len() / 4);
    for (i, r) in requests.iter_mut().enumerate().rev() {
        r.next_access = seen.insert(r.id, i as u64).unwrap_or(NEVER);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_access_points_at_the_following_request_of_the_same_id() {
        let t = Trace::from_keys([(1, 1), (2, 1), (1, 1), (3, 1), (2, 1)]);
        let next: Vec<u64> = t.requests().iter().map(|r| r.next_access).collect();
        assert_eq!(next, vec![2, 4, NEVER, NEVER, NEVER]);
        assert_eq!(t.distinct_objects(), 3);
        assert!(t.next_access_is_consistent());
    }

    #[test]
    fn inconsistent_next_access_is_detected() {
        let r = |id, next_access| Request {
            id,
            size: 1,
            next_access,
        };
        let t = Trace::from_requests(vec![r(1, 1), r(1, NEVER), r(2, 0)]);
        assert!(!t.next_access_is_consistent());
    }
}
