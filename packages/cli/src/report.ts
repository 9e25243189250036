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

function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(2);
  return Number(v.toPrecision(4)).toString();
}

/** One line chart as an inline SVG string. */
export function svgChart(chart: ReportChart, width = 560, height = 260): string {
  const pad = { l: 66, r: 16, t: 28, b: 36 };
  const all = chart.series.flatMap((s) => s.points).filter((p) => Number.isFinite(p.value) && (!chart.log || p.value > 0));
  const head = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${esc(chart.title)}">`;
  const title = `<text x="${pad.l}" y="18" font-size="14" font-weight="600" fill="#222">${esc(chart.title)}</text>`;
  if (all.length === 0) {
    return `${head}${title}<text x="${width / 2}" y="${height / 2}" text-anchor="middle" fill="#888">no data</text></svg>`;
  }
  const tx = (v: number) => (chart.log ? Math.log10(v) : v);
  const x0 = Math.min(...all.map((p) => p.step));
  let x1 = Math.max(...all.map((p) => p.step));
  let y0 = Math.min(...all.map((p) => tx(p.value)));
  let y1 = Math.max(...all.map((p) => tx(p.value)));
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) {
    y0 -= 0.5;
    y1 += 0.5;
  }
  const m = (y1 - y0) * 0.05;
  const nonNegative = !chart.log && y0 >= 0;
  y0 = nonNegative ? Math.max(0, y0 - m) : y0 - m;
  y1 += m;
  const W = width - pad.l - pad.r;
  const H = height - pad.t - pad.b;
  const px = (s: number) => pad.l + ((s - x0) / (x1 - x0)) * W;
  const py = (v: number) => pad.t + (1 - (tx(v) - y0) / (y1 - y0)) * H;
  const parts: string[] = [head, title];
  parts.push(`<rect x="${pad.l}" y="${pad.t}" width="${W}" height="${H}" fill="#fafafa" stroke="#ccc"/>`);
  for (let i = 0; i <= 4; i++) {
    const yv = y0 + ((y1 - y0) * i) / 4;
    const y = pad.t + (1 - i / 4) * H;
    const label = chart.log ? fmt(10 ** yv) : fmt(yv);
    parts.push(`<line x1="${pad.l}" x2="${pad.l + W}" y1="${y}" y2="${y}" stroke="#e4e4e4"/>`);
    parts.push(`<text x="${pad.l - 6}" y="${y + 4}" font-size="11" text-anchor="end" fill="#555">${label}</text>`);
    const xv = x0 + ((x1 - x0) * i) / 4;
    parts.push(`<text x="${pad.l + (W * i) / 4}" y="${pad.t + H + 16}" font-size="11" text-anchor="middle" fill="#555">${Math.round(xv)}</text>`);
  }
  parts.push(`<text x="${pad.l + W / 2}" y="${height - 4}" font-size="11" text-anchor="middle" fill="#555">step</text>`);
  chart.series.forEach((s, k) => {
    const pts = s.points.filter((p) => Number.isFinite(p.value) && (!chart.log || p.value > 0));
    if (pts.length === 0) return;
    const d = pts.map((p, i) => `${i ? 'L' : 'M'}${px(p.step).toFixed(1)},${py(p.value).toFixed(1)}`).join(' ');
    parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
    if (pts.length <= 40) for (const p of pts) parts.push(`<circle cx="${px(p.step).toFixed(1)}" cy="${py(p.value).toFixed(1)}" r="2.5" fill="${s.color}"/>`);
    const lx = pad.l + W - 110;
    const ly = pad.t + 14 + k * 16;
    parts.push(`<line x1="${lx}" x2="${lx + 18}" y1="${ly - 4}" y2="${ly - 4}" stroke="${s.color}" stroke-width="3"/>`);
    parts.push(`<text x="${lx + 24}" y="${ly}" font-size="12" fill="#222">${esc(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('');
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
