/** Drives the built page in headless Chromium (Debian's, never a download) and checks it from Node. */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { PeftModel, loadAdapter, registry, type ModelOutput, type TokenBatch } from '@peftjs/core';
import { lora } from '@peftjs/lora';
import { loadModel, loadTokenizer } from '@peftjs/models';
import { collateExamples, evaluateModel, loadJsonlDataset } from '@peftjs/train';

export const CHROMIUM = process.env.PEFTJS_CHROMIUM ?? '/usr/bin/chromium';
const QUIET = ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
export const WEBGPU_FLAGS = [
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--use-vulkan=swiftshader',
  '--use-webgpu-adapter=swiftshader',
  ...QUIET,
];
export const NO_GPU_FLAGS = ['--disable-gpu', ...QUIET];

export const REPO = new URL('../../../', import.meta.url).pathname;
export const MODEL_DIR = join(REPO, 'packages/models/assets/peftjs-tiny-llama');
export const RIDDLES = join(REPO, 'packages/cli/assets/riddles');

export interface PageState {
  backend: { name: string; adapter?: string; reason: string } | null;
  loss: Array<{ step: number; value: number }>;
  val: Array<{ step: number; value: number }>;
  totalSteps: number;
  training: boolean;
  summary: { step: number; totalSteps: number; stopReason: string; diagnosis: { case: string; summary: string } } | null;
  saved: { files: string[]; tensors: Record<string, { shape: number[]; sum: number }> } | null;
  errors: string[];
  offered: { key: string; step: number; totalSteps: number; method: string } | null;
  storedStep: number | null;
  recoveries: Array<{ why: string; backend?: string; resumedFrom?: number }>;
}

export const state = (page: Page) => page.evaluate(() => (globalThis as unknown as { peftjsPage: PageState }).peftjsPage);

/** Fails at once with the page's own error message instead of waiting for a timeout. */
export async function until(page: Page, what: string, cond: (s: PageState) => boolean, timeoutMs: number): Promise<PageState> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const s = await state(page);
    if (s.errors.length) throw new Error(`page error while waiting for ${what}: ${s.errors.join(' | ')}`);
    if (cond(s)) return s;
    if (Date.now() > end)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}: ${JSON.stringify({ loss: s.loss, val: s.val, summary: s.summary })}`,
      );
    await new Promise((r) => setTimeout(r, 250));
  }
}

export async function openPage(browser: Browser, url: string): Promise<{ page: Page; downloads: string }> {
  const page = await browser.newPage({ viewport: { width: 1100, height: 1400 }, acceptDownloads: true });
  page.on('pageerror', (e) => console.log(`[page] ${e.message}`));
  await page.goto(url);
  await until(page, 'the model and data', () => true, 1);
  await page.waitForFunction(
    () =>
      !(document.getElementById('train') as HTMLButtonElement).disabled ||
      (globalThis as unknown as { peftjsPage: PageState }).peftjsPage.errors.length > 0,
    null,
    { timeout: 120_000 },
  );
  return { page, downloads: mkdtempSync(join(tmpdir(), 'peftjs-browser-')) };
}

export async function setTraining(
  page: Page,
  s: { steps: number; batchSize: number; evalEvery: number; lr: number; warmup: number; saveEvery?: number },
): Promise<void> {
  if (s.saveEvery !== undefined) await page.fill('#save-every', String(s.saveEvery));
  await page.fill('#steps', String(s.steps));
  await page.fill('#batch-size', String(s.batchSize));
  await page.fill('#eval-every', String(s.evalEvery));
  await page.fill('#lr', String(s.lr));
  await page.fill('#warmup', String(s.warmup));
}

/** Clicks "Download adapter" and stores the files the page offers. */
export async function downloadAdapter(page: Page, dir: string): Promise<string[]> {
  const got: string[] = [];
  const all = new Promise<void>((resolve) => {
    page.on('download', async (d) => {
      await d.saveAs(join(dir, d.suggestedFilename()));
      got.push(d.suggestedFilename());
      if (got.length === 2) resolve();
    });
  });
  await page.click('#save');
  await Promise.race([
    all,
    new Promise((_, reject) => setTimeout(() => reject(new Error(`downloads: got only ${got.join(', ')}`)), 60_000)),
  ]);
  return got.sort();
}

/** Coloured pixels of the loss (blue) and val_loss (orange) lines in a screenshot of the chart. */
export async function chartPixels(page: Page, png: Buffer): Promise<{ blue: number; orange: number }> {
  return page.evaluate(async (b64) => {
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
      if (px[i] < 90 && px[i + 1] > 80 && px[i + 1] < 140 && px[i + 2] > 190) blue++;
      if (px[i] > 200 && px[i + 1] > 80 && px[i + 1] < 130 && px[i + 2] < 80) orange++;
    }
    return { blue, orange };
  }, png.toString('base64'));
}

export function saveShot(png: Buffer, name: string): string {
  const dir = process.env.PEFTJS_BROWSER_SHOTS ?? join(REPO, 'examples/browser/test-output');
  const path = join(dir, name);
  try {
    writeFileSync(path, png);
  } catch {
    /* screenshots are for people; the checks do not need them */
  }
  return path;
}

/**
 * Loads the downloaded adapter onto the bundled model in Node with @peftjs/core (wasm backend)
 * and computes the validation loss the page reports, on the same split of the same data.
 */
export async function checkInNode(
  dir: string,
  data: { train: string; validation: string | number },
  maxLength: number,
): Promise<{ valLoss: number; sums: Record<string, number>; config: Record<string, unknown> }> {
  const { setupBackend } = await import('@peftjs/backend-node');
  await setupBackend({ prefer: 'wasm' });
  if (!registry.has('LORA')) registry.use(lora);
  const base = await loadModel(MODEL_DIR);
  const tok = await loadTokenizer(MODEL_DIR);
  const peft = new PeftModel(base as never, { registry }) as PeftModel<TokenBatch, ModelOutput>;
  try {
    await loadAdapter(peft, dir, 'default', { trainable: false });
    const ds = await loadJsonlDataset(data.train, tok, { maxLength, validation: data.validation, seed: 42, warn: () => undefined });
    const pad = tok.padTokenId ?? tok.eosTokenId ?? 0;
    const valLoss = evaluateModel(peft, ds.validation, { batchSize: 16, collate: (x) => collateExamples(x, pad) }).loss;
    const sums: Record<string, number> = {};
    for (const [name, v] of peft.namedParameters()) if (name.includes('lora_')) sums[name] = v.sum().dataSync()[0];
    return { valLoss, sums, config: JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8')) };
  } finally {
    peft.dispose();
  }
}
