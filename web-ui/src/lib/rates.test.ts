import { describe, expect, it } from 'vitest';
import { rates, sum } from './rates';

const c = (hits: number, misses: number, sets: number, bytes = 0, capacity_bytes = 100) => ({
  hits,
  misses,
  sets,
  bytes,
  capacity_bytes,
});

describe('rates', () => {
  it('computes per-second ops and the interval hit ratio', () => {
    const r = rates({ atMs: 0, totals: c(10, 10, 0) }, { atMs: 2000, totals: c(40, 20, 20, 50) });
    expect(r.opsPerSec).toBe(30);
    expect(r.hitRatio).toBe(0.75);
    expect(r.memoryShare).toBe(0.5);
  });

  it('has no hit ratio without reads and never goes negative', () => {
    const r = rates({ atMs: 0, totals: c(100, 100, 5) }, { atMs: 1000, totals: c(0, 0, 5) });
    expect(r.hitRatio).toBeNull();
    expect(r.opsPerSec).toBe(0);
  });

  it('sums namespaces', () => {
    expect(sum([c(1, 2, 3, 4, 5), c(10, 20, 30, 40, 50)])).toEqual(c(11, 22, 33, 44, 55));
  });
});
