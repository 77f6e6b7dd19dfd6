// Turns two snapshots of cumulative namespace counters into rates for the live charts.

export interface Counters {
  hits: number;
  misses: number;
  sets: number;
  bytes: number;
  capacity_bytes: number;
}

export interface Snapshot {
  atMs: number;
  totals: Counters;
}

export interface Rates {
  /** Reads and writes per second over the interval. */
  opsPerSec: number;
  /** hits / reads over the interval; null when there were no reads. */
  hitRatio: number | null;
  /** Bytes in use / capacity, now. */
  memoryShare: number;
}

export function sum(items: Counters[]): Counters {
  const total: Counters = { hits: 0, misses: 0, sets: 0, bytes: 0, capacity_bytes: 0 };
  for (const c of items) {
    total.hits += c.hits;
    total.misses += c.misses;
    total.sets += c.sets;
    total.bytes += c.bytes;
    total.capacity_bytes += c.capacity_bytes;
  }
  return total;
}

/** Rates between two snapshots; counters that went backwards (a deleted namespace) count as 0. */
export function rates(before: Snapshot, after: Snapshot): Rates {
  const secs = Math.max((after.atMs - before.atMs) / 1000, 1e-3);
  const d = (k: 'hits' | 'misses' | 'sets') => Math.max(after.totals[k] - before.totals[k], 0);
  const reads = d('hits') + d('misses');
  const cap = after.totals.capacity_bytes;
  return {
    opsPerSec: (reads + d('sets')) / secs,
    hitRatio: reads === 0 ? null : d('hits') / reads,
    memoryShare: cap === 0 ? 0 : after.totals.bytes / cap,
  };
}
