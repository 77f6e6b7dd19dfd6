export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

export function percent(ratio: number | null | undefined): string {
  return ratio === null || ratio === undefined ? '–' : `${(ratio * 100).toFixed(1)}%`;
}

export function time(ms: number | null | undefined): string {
  return ms ? new Date(ms).toLocaleString() : '–';
}
