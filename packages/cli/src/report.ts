/**
 * `report.html`: a self-contained page (no network, no script) with inline SVG charts of the
 * run, the diagnosis in words, the trainable-parameter line and the config.
 */

export interface ReportPoint {
  step: number;
  value: number;
}

export interface ReportSeries {
  name: string;
  color: string;
  points: ReportPoint[];
}

export interface ReportChart {
  title: string;
  series: ReportSeries[];
  /** Plot the values on a log scale (loss). */
  log?: boolean;
}

export interface ReportInput {
  title: string;
  /** One paragraph a case: what the run shows and what to do. */
  diagnosis: { verdict: string; details: string[]; advice: string[] };
  trainableLine: string;
  charts: ReportChart[];
  /** Key figures shown in a table (e.g. "val_loss before" → 3.21). */
  summary: Array<[string, string]>;
  config: Record<string, unknown>;
  samples?: Array<{ prompt: string; before?: string; after: string }>;
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** A tick label: round values in a compact form (0.25, 5e-4, 2K). */
export function formatTick(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a >= 1000) return new Intl.NumberFormat('en', { notation: 'compact', maximumSignificantDigits: 3 }).format(v);
  if (a !== 0 && a < 1e-3) {
    const [m, e] = v.toExponential().split('e');
    return `${Number(Number(m).toPrecision(3))}e${Number(e)}`;
  }
  return String(Number(v.toPrecision(6)));
}

/** The 1-2-5 step giving about `target` intervals over `span`. */
function niceStep(span: number, target = 5): number {
  const raw = span / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  return (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
}

/** Ticks on a 1-2-5 step covering [lo, hi]: the axis runs from the first to the last. */
export function linearTicks(lo: number, hi: number, target = 5): number[] {
  const step = niceStep(hi - lo || Math.abs(lo) || 1, target);
  const first = Math.floor(lo / step + 1e-9);
  const last = Math.ceil(hi / step - 1e-9);
  return Array.from({ length: last - first + 1 }, (_, i) => Number(((first + i) * step).toPrecision(12)));
}

/**
 * Ticks of a log axis over [lo, hi] (lo > 0): the decades, then their halves (5·10^k) when fewer
 * than three decades fall inside, then 1-2-5 steps when the range is narrower still.
 */
export function logTicks(lo: number, hi: number): number[] {
  const inside = (v: number) => v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9);
  const decades: number[] = [];
  for (let k = Math.floor(Math.log10(lo)); k <= Math.ceil(Math.log10(hi)); k++) decades.push(Number((10 ** k).toPrecision(12)));
  const onDecades = decades.filter(inside);
  if (onDecades.length >= 3) return onDecades;
  const withHalves = decades
    .flatMap((d) => [d, Number((5 * d).toPrecision(12))])
    .filter(inside)
    .sort((a, b) => a - b);
  if (withHalves.length >= 3) return withHalves;
  return linearTicks(lo, hi).filter((v) => v > 0 && inside(v));
}

interface Axis {
  lo: number;
  hi: number;
  ticks: number[];
}

/** The y axis: a linear one spans its 1-2-5 ticks; a log one spans the data (in log10) with a margin. */
function valueAxis(values: number[], log: boolean): Axis {
  const min = Math.min(...values);
  const max = Math.max(...values);
  if (log) {
    const [lo, hi] = min === max ? [min / 2, max * 2] : [min / 1.05, max * 1.05];
    return { lo: Math.log10(lo), hi: Math.log10(hi), ticks: logTicks(lo, hi) };
  }
  const ticks = linearTicks(min === max ? min - Math.abs(min || 1) / 2 : min, min === max ? max + Math.abs(max || 1) / 2 : max);
  return { lo: ticks[0], hi: ticks[ticks.length - 1], ticks };
}

function stepAxis(steps: number[]): Axis {
  const min = Math.min(...steps);
  const max = Math.max(...steps);
  const ticks = linearTicks(min, max === min ? min + 1 : max).filter((v) => Number.isInteger(v));
  return { lo: Math.min(min, ticks[0]), hi: Math.max(max === min ? min + 1 : max, ticks[ticks.length - 1]), ticks };
}

/** One line chart as an inline SVG string. */
export function svgChart(chart: ReportChart, width = 560, height = 260): string {
  const pad = { l: 66, r: 16, t: 28, b: 36 };
  const usable = (p: ReportPoint) => Number.isFinite(p.value) && (!chart.log || p.value > 0);
  const all = chart.series.flatMap((s) => s.points).filter(usable);
  const head = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${esc(chart.title)}">`;
  const title = `<text x="${pad.l}" y="18" font-size="14" font-weight="600" fill="#222">${esc(chart.title)}</text>`;
  if (all.length === 0) {
    return `${head}${title}<text x="${width / 2}" y="${height / 2}" text-anchor="middle" fill="#888">no data</text></svg>`;
  }
  const tx = (v: number) => (chart.log ? Math.log10(v) : v);
  const ys = valueAxis(
    all.map((p) => p.value),
    !!chart.log,
  );
  const xs = stepAxis(all.map((p) => p.step));
  const W = width - pad.l - pad.r;
  const H = height - pad.t - pad.b;
  const px = (s: number) => pad.l + ((s - xs.lo) / (xs.hi - xs.lo)) * W;
  const py = (v: number) => pad.t + (1 - (tx(v) - ys.lo) / (ys.hi - ys.lo)) * H;
  const parts: string[] = [head, title];
  parts.push(`<rect x="${pad.l}" y="${pad.t}" width="${W}" height="${H}" fill="#fafafa" stroke="#ccc"/>`);
  for (const v of ys.ticks) {
    const y = py(v).toFixed(1);
    parts.push(`<line x1="${pad.l}" x2="${pad.l + W}" y1="${y}" y2="${y}" stroke="#e4e4e4"/>`);
    parts.push(`<text x="${pad.l - 6}" y="${Number(y) + 4}" font-size="11" text-anchor="end" fill="#555">${formatTick(v)}</text>`);
  }
  for (const s of xs.ticks) {
    parts.push(
      `<text x="${px(s).toFixed(1)}" y="${pad.t + H + 16}" font-size="11" text-anchor="middle" fill="#555">${formatTick(s)}</text>`,
    );
  }
  parts.push(`<text x="${pad.l + W / 2}" y="${height - 4}" font-size="11" text-anchor="middle" fill="#555">step</text>`);
  chart.series.forEach((s, k) => parts.push(...seriesSvg(s, k, usable, px, py, pad.l + W - 110, pad.t + 14)));
  parts.push('</svg>');
  return parts.join('');
}

/** A series' line, its dots (up to 40 points) and its legend entry. */
function seriesSvg(
  s: ReportSeries,
  k: number,
  usable: (p: ReportPoint) => boolean,
  px: (s: number) => number,
  py: (v: number) => number,
  lx: number,
  top: number,
): string[] {
  const pts = s.points.filter(usable);
  if (pts.length === 0) return [];
  const d = pts.map((p, i) => `${i ? 'L' : 'M'}${px(p.step).toFixed(1)},${py(p.value).toFixed(1)}`).join(' ');
  const out = [`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"/>`];
  if (pts.length <= 40)
    for (const p of pts) out.push(`<circle cx="${px(p.step).toFixed(1)}" cy="${py(p.value).toFixed(1)}" r="2.5" fill="${s.color}"/>`);
  const ly = top + k * 16;
  out.push(`<line x1="${lx}" x2="${lx + 18}" y1="${ly - 4}" y2="${ly - 4}" stroke="${s.color}" stroke-width="3"/>`);
  out.push(`<text x="${lx + 24}" y="${ly}" font-size="12" fill="#222">${esc(s.name)}</text>`);
  return out;
}

/** The whole page. */
export function renderReport(r: ReportInput): string {
  const rows = r.summary.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join('');
  const samples = (r.samples ?? [])
    .map(
      (s) =>
        `<div class="sample"><div class="prompt">${esc(s.prompt)}</div>` +
        (s.before !== undefined ? `<div><b>before</b> ${esc(s.before)}</div>` : '') +
        `<div><b>after</b> ${esc(s.after)}</div></div>`,
    )
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(r.title)}</title>
<style>
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1200px;color:#222;padding:0 16px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px}
.charts{display:flex;flex-wrap:wrap;gap:12px}
.verdict{font-size:17px;font-weight:600;padding:10px 14px;background:#eef5ff;border-left:4px solid #2d6cdf}
table{border-collapse:collapse}th,td{padding:4px 10px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}
code,pre{background:#f5f5f5;padding:2px 4px;border-radius:3px}pre{padding:10px;overflow:auto}
.sample{border:1px solid #e5e5e5;border-radius:6px;padding:8px 12px;margin:8px 0}.prompt{color:#666;font-style:italic}
</style></head><body>
<h1>${esc(r.title)}</h1>
<p><code>${esc(r.trainableLine)}</code></p>
<h2>Diagnosis</h2>
<div class="verdict">${esc(r.diagnosis.verdict)}</div>
<ul>${r.diagnosis.details.map((d) => `<li>${esc(d)}</li>`).join('')}</ul>
${r.diagnosis.advice.length ? `<p><b>What to try</b></p><ul>${r.diagnosis.advice.map((d) => `<li>${esc(d)}</li>`).join('')}</ul>` : ''}
<h2>Charts</h2>
<div class="charts">${r.charts.map((c) => svgChart(c)).join('\n')}</div>
<h2>Summary</h2>
<table>${rows}</table>
${samples ? `<h2>Generations</h2>${samples}` : ''}
<h2>Config</h2>
<pre>${esc(JSON.stringify(r.config, null, 2))}</pre>
</body></html>
`;
}
