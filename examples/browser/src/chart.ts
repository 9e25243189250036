/** The live loss chart: loss (blue line) and val_loss (orange line with dots) on a log scale, drawn on a canvas. */
export interface Point {
  step: number;
  value: number;
}

export const LOSS_COLOR = '#2d6cdf';
export const VAL_COLOR = '#e0662d';

function label(v: number): string {
  return v >= 100 || v < 0.01 ? v.toExponential(1) : Number(v.toPrecision(3)).toString();
}

export function drawChart(canvas: HTMLCanvasElement, loss: Point[], val: Point[], totalSteps: number): void {
  const dpr = globalThis.devicePixelRatio || 1;
  const w = canvas.clientWidth;
  const h = canvas.clientHeight;
  if (canvas.width !== Math.round(w * dpr)) canvas.width = Math.round(w * dpr);
  if (canvas.height !== Math.round(h * dpr)) canvas.height = Math.round(h * dpr);
  const ctx = canvas.getContext('2d')!;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  const pad = { l: 56, r: 14, t: 12, b: 30 };
  const W = w - pad.l - pad.r;
  const H = h - pad.t - pad.b;
  ctx.fillStyle = '#fafafa';
  ctx.fillRect(pad.l, pad.t, W, H);
  ctx.strokeStyle = '#ccc';
  ctx.strokeRect(pad.l, pad.t, W, H);
  const all = [...loss, ...val].filter((p) => Number.isFinite(p.value) && p.value > 0);
  ctx.font = '11px system-ui, sans-serif';
  ctx.fillStyle = '#666';
  if (all.length === 0) {
    ctx.textAlign = 'center';
    ctx.fillText('the loss appears here while training', pad.l + W / 2, pad.t + H / 2);
    return;
  }
  let y0 = Math.log10(Math.min(...all.map((p) => p.value)));
  let y1 = Math.log10(Math.max(...all.map((p) => p.value)));
  if (y1 - y0 < 0.05) {
    y0 -= 0.05;
    y1 += 0.05;
  }
  const m = (y1 - y0) * 0.06;
  y0 -= m;
  y1 += m;
  const x1 = Math.max(1, totalSteps, ...all.map((p) => p.step));
  const px = (s: number) => pad.l + (s / x1) * W;
  const py = (v: number) => pad.t + (1 - (Math.log10(v) - y0) / (y1 - y0)) * H;
  for (let i = 0; i <= 4; i++) {
    const y = pad.t + (i / 4) * H;
    ctx.strokeStyle = '#e6e6e6';
    ctx.beginPath();
    ctx.moveTo(pad.l, y);
    ctx.lineTo(pad.l + W, y);
    ctx.stroke();
    ctx.textAlign = 'right';
    ctx.fillText(label(10 ** (y1 - ((y1 - y0) * i) / 4)), pad.l - 6, y + 4);
    ctx.textAlign = 'center';
    ctx.fillText(String(Math.round((x1 * i) / 4)), pad.l + (W * i) / 4, pad.t + H + 16);
  }
  ctx.fillText('step', pad.l + W / 2, h - 2);
  const line = (pts: Point[], color: string, dots: boolean) => {
    const ok = pts.filter((p) => Number.isFinite(p.value) && p.value > 0);
    if (!ok.length) return;
    ctx.strokeStyle = color;
    ctx.fillStyle = color;
    ctx.lineWidth = 2.5;
    ctx.beginPath();
    ok.forEach((p, i) => (i ? ctx.lineTo(px(p.step), py(p.value)) : ctx.moveTo(px(p.step), py(p.value))));
    ctx.stroke();
    if (dots || ok.length === 1) for (const p of ok) ctx.fillRect(px(p.step) - 3, py(p.value) - 3, 6, 6);
    ctx.lineWidth = 1;
  };
  line(loss, LOSS_COLOR, false);
  line(val, VAL_COLOR, true);
  const legend: Array<[string, string]> = [
    ['loss', LOSS_COLOR],
    ['val_loss', VAL_COLOR],
  ];
  legend.forEach(([name, color], k) => {
    const lx = pad.l + W - 92;
    const ly = pad.t + 16 + k * 16;
    ctx.fillStyle = color;
    ctx.fillRect(lx, ly - 6, 18, 3);
    ctx.fillStyle = '#222';
    ctx.textAlign = 'left';
    ctx.fillText(name, lx + 24, ly);
  });
}
