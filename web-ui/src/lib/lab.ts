// Which namespaces have an experiment or a shadow evaluation running, read from the node's
// Prometheus text. The report routes answer 404 when nothing runs, and a browser logs every 404 of a
// fetch as a console error, so the page asks /metrics (which lists every running arm and candidate)
// before it asks for a report. Also: the rolling per-arm history behind the live hit-ratio chart.

export interface RunningLabs {
  experiments: Set<string>;
  shadows: Set<string>;
}

const NAMESPACE_LABEL = /[{,]namespace="((?:[^"\\]|\\.)*)"/;

function namespacesOf(text: string, metric: string): Set<string> {
  const found = new Set<string>();
  for (const line of text.split('\n')) {
    if (!line.startsWith(metric + '{')) continue;
    const m = NAMESPACE_LABEL.exec(line);
    if (m) found.add(m[1].replace(/\\(.)/g, '$1'));
  }
  return found;
}

export function runningLabs(metricsText: string): RunningLabs {
  return {
    experiments: namespacesOf(metricsText, 'larder_experiment_requests'),
    shadows: namespacesOf(metricsText, 'larder_shadow_sampled_requests'),
  };
}

/** Points of a live chart: one time axis, one series per name. */
export interface History {
  times: number[];
  series: Map<string, (number | null)[]>;
}

export function emptyHistory(): History {
  return { times: [], series: new Map() };
}

/**
 * A new history with one more point (`atSecs`, a value per name), keeping the last `keep`. A name
 * seen for the first time gets nulls for the earlier points; a name missing now gets a null.
 */
export function appendPoint(
  h: History,
  atSecs: number,
  values: Record<string, number | null>,
  keep: number,
): History {
  const times = [...h.times, atSecs];
  const series = new Map<string, (number | null)[]>();
  const names = new Set([...h.series.keys(), ...Object.keys(values)]);
  for (const name of names) {
    const before = h.series.get(name) ?? h.times.map(() => null);
    series.set(name, [...before, values[name] ?? null]);
  }
  const drop = Math.max(times.length - keep, 0);
  if (drop > 0) {
    for (const [name, v] of series) series.set(name, v.slice(drop));
  }
  return { times: times.slice(drop), series };
}
