import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatTick, linearTicks, logTicks, renderReport, svgChart } from '../src/report.js';
import { tmp } from './helpers.js';

const CHROMIUM = process.env.PEFTJS_CHROMIUM ?? '/usr/bin/chromium';

const steps = Array.from({ length: 60 }, (_, i) => i + 1);
const report = renderReport({
  title: 'test run',
  trainableLine: 'trainable params: 10 || all params: 100 || trainable%: 10.0000',
  diagnosis: { verdict: 'healthy: both falling', details: ['loss falling'], advice: ['keep going'] },
  charts: [
    {
      title: 'loss and val_loss',
      log: true,
      series: [
        { name: 'loss', color: '#2d6cdf', points: steps.map((s) => ({ step: s, value: 3 * Math.exp(-s / 20) + 0.2 })) },
        {
          name: 'val_loss',
          color: '#e0662d',
          points: steps.filter((s) => s % 10 === 0).map((s) => ({ step: s, value: 3 * Math.exp(-s / 25) + 0.3 })),
        },
      ],
    },
    {
      title: 'learning rate',
      series: [{ name: 'lr', color: '#2a9d57', points: steps.map((s) => ({ step: s, value: 1e-3 * (1 - s / 60) })) }],
    },
  ],
  summary: [['steps', '60']],
  config: { r: 8 },
});

describe('report.html', () => {
  it('is one self-contained page: inline SVG charts, no script, no network', () => {
    expect(report).toContain('<svg');
    expect(report.match(/<svg/g)).toHaveLength(2);
    expect(report).not.toMatch(/<script|<link|src="http/);
  });

  it('draws a line per series, scaled into the plot area', () => {
    const svg = svgChart(
      {
        title: 't',
        series: [
          {
            name: 'a',
            color: '#000',
            points: [
              { step: 0, value: 1 },
              { step: 10, value: 2 },
            ],
          },
        ],
      },
      560,
      260,
    );
    const d = /<path d="([^"]+)"/.exec(svg)![1];
    const nums = d.match(/[\d.]+/g)!.map(Number);
    for (let i = 0; i < nums.length; i += 2) {
      expect(nums[i]).toBeGreaterThanOrEqual(66);
      expect(nums[i]).toBeLessThanOrEqual(544);
      expect(nums[i + 1]).toBeGreaterThanOrEqual(28);
      expect(nums[i + 1]).toBeLessThanOrEqual(224);
    }
  });

  it('labels axes with round ticks: 1-2-5 steps, decades and their halves on the log axis, compact numbers', () => {
    expect(linearTicks(0, 0.003938)).toEqual([0, 0.001, 0.002, 0.003, 0.004]);
    expect(linearTicks(1, 120)).toEqual([0, 20, 40, 60, 80, 100, 120]);
    expect(linearTicks(0.31, 0.3431)).toEqual([0.31, 0.315, 0.32, 0.325, 0.33, 0.335, 0.34, 0.345]);
    expect(logTicks(0.002, 30)).toEqual([0.01, 0.1, 1, 10]);
    expect(logTicks(0.3, 40)).toEqual([0.5, 1, 5, 10]);
    expect(logTicks(0.9, 3.5)).toEqual([1, 1.5, 2, 2.5, 3, 3.5]);
    expect([0.001, 5e-4, 2e-5, 0.25, 1, 2500, 1_500_000].map(formatTick)).toEqual(['0.001', '5e-4', '2e-5', '0.25', '1', '2.5K', '1.5M']);
    const labels = [...report.matchAll(/text-anchor="end" fill="#555">([^<]+)</g)].map((m) => m[1]);
    expect(labels.length).toBeGreaterThan(6);
    for (const l of labels) expect(l, l).toMatch(/^(\d+(\.\d{1,3})?|\de-\d+|\d+(\.\d)?[KM])$/);
  });

  it.skipIf(!existsSync(CHROMIUM))(
    'opens in headless Chromium with no network and shows its charts (the screenshot is not blank)',
    async () => {
      const { chromium } = await import('playwright-core');
      const dir = tmp();
      const file = join(dir, 'report.html');
      writeFileSync(file, report);
      const browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: [
          '--no-sandbox',
          '--disable-gpu',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
          '--no-first-run',
        ],
      });
      try {
        const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
        const requests: string[] = [];
        page.on('request', (r) => requests.push(r.url()));
        await page.goto(`file://${file}`);
        const boxes = await page.$$eval('svg', (els) => els.map((e) => e.getBoundingClientRect().width * e.getBoundingClientRect().height));
        expect(boxes).toHaveLength(2);
        for (const b of boxes) expect(b).toBeGreaterThan(100_000);
        const png = await page.screenshot({ fullPage: false });
        writeFileSync(join(dir, 'report.png'), png);
        // Count the screenshot's coloured pixels in the browser itself (no PNG decoder needed here).
        const colored = await page.evaluate(async (b64) => {
          const img = new Image();
          img.src = `data:image/png;base64,${b64}`;
          await img.decode();
          const c = document.createElement('canvas');
          c.width = img.width;
          c.height = img.height;
          const ctx = c.getContext('2d')!;
          ctx.drawImage(img, 0, 0);
          const px = ctx.getImageData(0, 0, c.width, c.height).data;
          let blue = 0;
          let orange = 0;
          for (let i = 0; i < px.length; i += 4) {
            if (px[i] < 80 && px[i + 2] > 180) blue++;
            if (px[i] > 200 && px[i + 1] > 80 && px[i + 1] < 130 && px[i + 2] < 80) orange++;
          }
          return { blue, orange };
        }, png.toString('base64'));
        expect(colored.blue, 'loss line pixels').toBeGreaterThan(200);
        expect(colored.orange, 'val_loss line pixels').toBeGreaterThan(50);
        expect(requests.filter((u) => !u.startsWith('file:') && !u.startsWith('data:'))).toEqual([]);
      } finally {
        await browser.close();
      }
    },
  );
});
