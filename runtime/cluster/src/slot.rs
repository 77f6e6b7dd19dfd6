//! Hash slots: which of the 16384 slots a key belongs to, computed exactly as Redis Cluster
//! clients compute it, so a cluster-aware client can send each command straight to its owner.
//!
//! `slot = crc16(routing key) mod 16384`, where the routing key is the key's hash tag when it has
//! one: the bytes between the first `{` and the first `}` after it, if that span is not empty.
//! `{user42}:cart` and `{user42}:profile` therefore share a slot; `{}x` and `x{` hash whole.

/// How many hash slots the keyspace is cut into (Redis Cluster's number).
pub const SLOTS: u16 = 16384;

/// A slot number, `0..SLOTS`.
pub type Slot = u16;

/// The slot of `key` by the Redis hash-tag rule.
pub fn key_slot(key: &[u8]) -> Slot {
    crc16(hash_tag(key)) % SLOTS
}

/// The part of `key` that decides its slot: the hash tag when there is a non-empty one, else the
/// whole key.
pub fn hash_tag(key: &[u8]) -> &[u8] {
    if let Some(open) = key.iter().position(|&b| b == b'{')
        && let Some(len) = key[open + 1..].iter().position(|&b| b == b'}')
        && len > 0
    {
        return &key[open + 1..open + 1 + len];
    }
    key
}

/// CRC-16/XMODEM (polynomial 0x1021, initial value 0), the checksum Redis Cluster uses.
pub fn crc16(bytes: &[u8]) -> u16 {
    let mut crc = 0u16;
    for &b in bytes {
        crc = (crc << 8) ^ CRC16_TABLE[usize::from(((crc >> 8) as u8) ^ b)];
    }
    crc
}

const CRC16_TABLE: [u16; 256] = {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc16_has_the_xmodem_check_value() {
        assert_eq!(crc16(b"123456789"), 0x31C3);
    }

    #[test]
    fn keys_land_in_the_slots_redis_documents() {
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"somekey"), 11058);
        assert_eq!(key_slot(b"foo{hash_tag}"), 2515);
        assert_eq!(
            key_slot(b"{user1000}.following"),
            key_slot(b"{user1000}.followers")
        );
    }

    #[test]
    fn only_a_non_empty_first_tag_counts() {
        assert_eq!(hash_tag(b"{user42}:cart"), b"user42");
        assert_eq!(hash_tag(b"a{b}{c}"), b"b");
        assert_eq!(hash_tag(b"{}x"), b"{}x");
        assert_eq!(hash_tag(b"x{"), b"x{");
        assert_eq!(hash_tag(b"x}{y"), b"x}{y");
        assert_eq!(hash_tag(b"{{a}}"), b"{a");
    }
}
