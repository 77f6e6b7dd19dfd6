// A live line chart (uPlot): the caller appends points; the chart keeps the last `keep`.
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface ChartProps {
  title: string;
  /** Seconds since the epoch, one per point. */
  times: number[];
  series: { label: string; values: (number | null)[]; color: string }[];
  /** Fixed y range, e.g. [0, 100] for percentages. */
  yRange?: [number, number];
}

export function Chart({ title, times, series, yRange }: ChartProps) {
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);

  useEffect(() => {
    if (!host.current) return;
    const opts: uPlot.Options = {
      title,
      width: Math.max(host.current.clientWidth, 300),
      height: 200,
      scales: yRange ? { y: { range: yRange } } : {},
      series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.color, width: 2 }))],
    };
    plot.current = new uPlot(opts, [times, ...series.map((s) => s.values)] as uPlot.AlignedData, host.current);
    return () => {
      plot.current?.destroy();
      plot.current = null;
    };
  }, [title, series.length]);

  useEffect(() => {
    plot.current?.setData([times, ...series.map((s) => s.values)] as uPlot.AlignedData);
  }, [times, series]);

  return <div class="chart" ref={host} data-testid={`chart-${title}`} />;
}
