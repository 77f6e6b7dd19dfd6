// Polling as a hook: run `load` now and every `everyMs`, keep the latest result or error.
import { useEffect, useState } from 'preact/hooks';

export function usePoll<T>(load: () => Promise<T>, everyMs: number, deps: unknown[] = []) {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let alive = true;
    const run = () =>
      load().then(
        (d) => {
          if (alive) {
            setData(d);
            setError(null);
          }
        },
        (e: unknown) => alive && setError(e instanceof Error ? e.message : String(e)),
      );
    run();
    const timer = setInterval(run, everyMs);
    return () => {
      alive = false;
      clearInterval(timer);
    };
  }, [tick, ...deps]);
  return { data, error, reload: () => setTick((t) => t + 1) };
}
