//! Sequential prefetch: after an access to a key ending in a number (`page:41`, `chunk/0007`),
//! prefetch the next two numbers with the same prefix and width (`page:42`, `page:43`).

use larder_sdk::{Plugin, Prefetch, PrefetchKeys, export_plugin};

const AHEAD: u64 = 2;

#[derive(Default)]
pub struct Sequential;

impl Plugin for Sequential {}

/// Write `n` in decimal into `buf`, zero-padded to `width`; returns the digits' length.
fn digits(mut n: u64, width: usize, buf: &mut [u8; 20]) -> usize {
    let mut tmp = [0u8; 20];
    let mut len = 0;
    loop {
        tmp[len] = b'0' + (n % 10) as u8;
        n /= 10;
        len += 1;
        if n == 0 {
            break;
        }
    }
    while len < width.min(20) {
        tmp[len] = b'0';
        len += 1;
    }
    for i in 0..len {
        buf[i] = tmp[len - 1 - i];
    }
    len
}

impl Prefetch for Sequential {
    fn prefetch(&mut self, key: &[u8], _hash: u64, _hit: bool, out: &mut PrefetchKeys) {
        let width = key.iter().rev().take_while(|b| b.is_ascii_digit()).count();
        if width == 0 || width > 18 {
            return;
        }
        let (prefix, number) = key.split_at(key.len() - width);
        let n: u64 = number.iter().fold(0, |acc, d| acc * 10 + (d - b'0') as u64);
        let mut next = [0u8; 256];
        if prefix.len() + 20 > next.len() {
            return;
        }
        next[..prefix.len()].copy_from_slice(prefix);
        for step in 1..=AHEAD {
            let mut d = [0u8; 20];
            let len = digits(n + step, width, &mut d);
            next[prefix.len()..prefix.len() + len].copy_from_slice(&d[..len]);
            out.push(&next[..prefix.len() + len]);
        }
    }
}

export_plugin!(Sequential, [prefetch]);
