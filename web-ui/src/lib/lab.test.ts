import { describe, expect, it } from 'vitest';
import { appendPoint, emptyHistory, runningLabs } from './lab';

const METRICS = `# HELP larder_experiment_requests Reads served by the arm since the experiment started.
# TYPE larder_experiment_requests gauge
larder_experiment_requests{arm="lru",namespace="web"} 10
larder_experiment_requests{arm="s3fifo",namespace="web"} 12
larder_experiment_requests_total_other{arm="x",namespace="not-this"} 1
larder_experiment_hits{arm="lru",namespace="hits-only"} 3
larder_shadow_sampled_requests{candidate="w",namespace="api.v2"} 0
larder_namespace_keys{namespace="idle"} 4
`;

describe('runningLabs', () => {
  it('finds the namespaces with running arms and shadow candidates', () => {
    const labs = runningLabs(METRICS);
    expect([...labs.experiments]).toEqual(['web']);
    expect([...labs.shadows]).toEqual(['api.v2']);
  });

  it('finds nothing in a node without labs', () => {
    const labs = runningLabs('larder_namespace_keys{namespace="default"} 1\n');
    expect(labs.experiments.size).toBe(0);
    expect(labs.shadows.size).toBe(0);
  });
});

describe('appendPoint', () => {
  it('aligns series that appear late and keeps the last points', () => {
    let h = emptyHistory();
    h = appendPoint(h, 1, { a: 0.5 }, 3);
    h = appendPoint(h, 2, { a: 0.6, b: 0.1 }, 3);
    h = appendPoint(h, 3, { b: 0.2 }, 3);
    h = appendPoint(h, 4, { a: 0.8, b: 0.3 }, 3);
    expect(h.times).toEqual([2, 3, 4]);
    expect(h.series.get('a')).toEqual([0.6, null, 0.8]);
    expect(h.series.get('b')).toEqual([0.1, 0.2, 0.3]);
  });
});
