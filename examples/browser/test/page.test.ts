import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import {
  CHROMIUM,
  MODEL_DIR,
  NO_GPU_FLAGS,
  RIDDLES,
  WEBGPU_FLAGS,
  chartPixels,
  checkInNode,
  downloadAdapter,
  openPage,
  saveShot,
  setTraining,
  state,
  until,
} from './page-driver.js';
import { serveStatic } from './serve.js';

const haveChromium = existsSync(CHROMIUM);
if (!haveChromium)
  console.log(
    `examples/browser: skipping the browser tests: no Chromium at ${CHROMIUM} (Debian: apt install chromium libvulkan1; or set PEFTJS_CHROMIUM)`,
  );

let server: { url: string; close(): Promise<void> } | undefined;

beforeAll(async () => {
  if (!haveChromium) return;
  const { build } = await import('vite');
  const outDir = mkdtempSync(join(tmpdir(), 'peftjs-page-'));
  const t0 = Date.now();
  await build({ root: new URL('..', import.meta.url).pathname, logLevel: 'warn', build: { outDir, emptyOutDir: true } });
  console.log(`page built in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  server = await serveStatic(outDir);
}, 120_000);

afterAll(async () => {
  await server?.close();
});

async function launch(args: string[]): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath: CHROMIUM, args });
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe.skipIf(!haveChromium)('the fine-tuning page in headless Chromium', () => {
  it('without WebGPU: falls back to wasm and says why; trains 8 steps on the riddles with stop/resume, charts, generates, downloads an adapter that @peftjs/core loads with the same val_loss', async () => {
    const browser = await launch(NO_GPU_FLAGS);
    try {
      const t0 = Date.now();
      const { page, downloads } = await openPage(browser, server!.url);
      const s0 = await state(page);
      expect(s0.backend?.name).toBe('wasm');
      expect(s0.backend?.reason).toMatch(/WebGPU unavailable/);
      // the same wasm kernels as Node's (@peftjs/backend-node/browser); Chromium validates relaxed SIMD
      expect(s0.backend?.reason).toMatch(/peftjs wasm kernels \(GEMM relaxed-SIMD FMA, 1 thread\)/);
      expect(await page.textContent('#backend')).toMatch(/wasm/);
      await setTraining(page, { steps: 8, batchSize: 8, evalEvery: 4, lr: 5e-3, warmup: 2 });
      await page.click('#train');
      await until(page, 'step 2', (s) => s.loss.length >= 2, 120_000);
      await page.click('#stop');
      const stopped = await until(page, 'the stop', (s) => s.summary?.stopReason === 'stopped', 60_000);
      expect(stopped.summary!.step).toBeLessThan(8);
      expect(await page.isEnabled('#resume')).toBe(true);
      await page.click('#resume');
      const done = await until(page, 'the end of training', (s) => s.summary?.stopReason === 'completed', 240_000);
      console.log(
        `wasm: ${done.summary!.step} steps (stopped at ${stopped.summary!.step}) in ${((Date.now() - t0) / 1000).toFixed(1)} s incl. page load; loss ${done.loss[0].value.toFixed(3)} → ${done.loss.at(-1)!.value.toFixed(3)}, val_loss ${done.val[0].value.toFixed(3)} → ${done.val.at(-1)!.value.toFixed(3)}`,
      );
      expect(done.loss.map((p) => p.step)).toEqual(Array.from({ length: 8 }, (_, i) => i + 1));
      expect(mean(done.loss.slice(-3).map((p) => p.value))).toBeLessThan(mean(done.loss.slice(0, 3).map((p) => p.value)));
      expect(done.val.at(-1)!.value).toBeLessThan(done.val[0].value);
      expect(await page.textContent('#diagnosis')).toContain(done.summary!.diagnosis.summary);

      const png = await page.locator('#chart').screenshot();
      saveShot(await page.screenshot({ fullPage: true }), 'page-wasm.png');
      const px = await chartPixels(page, png);
      expect(px.blue, 'loss line pixels').toBeGreaterThan(300);
      expect(px.orange, 'val_loss line pixels').toBeGreaterThan(100);

      await page.fill('#max-new', '6');
      await page.click('#generate');
      await page.waitForFunction(() => document.getElementById('out-base')!.dataset.done === 'true', null, { timeout: 60_000 });
      expect((await page.textContent('#out-base'))!.length).toBeGreaterThan(0);
      expect((await page.textContent('#out-adapter'))!.length).toBeGreaterThan(0);

      expect(await downloadAdapter(page, downloads)).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
      const saved = (await state(page)).saved!;
      const node = await checkInNode(downloads, { train: join(RIDDLES, 'train.jsonl'), validation: join(RIDDLES, 'valid.jsonl') }, 64);
      expect(node.config.peft_type).toBe('LORA');
      expect(node.valLoss).toBeCloseTo(done.val.at(-1)!.value, 4);
      expect(Object.keys(node.sums).sort()).toEqual(Object.keys(saved.tensors).sort());
      for (const [name, t] of Object.entries(saved.tensors)) expect(node.sums[name], name).toBeCloseTo(t.sum, 4);

      // load it back into the page from disk: the page reports the same adapter
      await page.setInputFiles('#adapter-files', [join(downloads, 'adapter_config.json'), join(downloads, 'adapter_model.safetensors')]);
      await page.waitForFunction(() => document.getElementById('adapter-info')!.dataset.state !== 'empty', null, { timeout: 60_000 });
      expect(await page.textContent('#adapter-info')).toMatch(/loaded a LORA adapter/);
    } finally {
      await browser.close();
    }
  }, 420_000);

  it('a Hugging Face folder picked from disk loads with the real loaders, is cached in IndexedDB, and loads from the cache after a reload', async () => {
    const browser = await launch(NO_GPU_FLAGS);
    try {
      const { page } = await openPage(browser, `${server!.url}?backend=wasm`);
      expect(await page.textContent('#backend')).toMatch(/wasm/);
      await page.setInputFiles('#model-folder', MODEL_DIR);
      await page.click('#load-model');
      await page.waitForFunction(() => /picked folder/.test(document.getElementById('model-info')!.textContent ?? ''), null, {
        timeout: 120_000,
      });
      expect(await page.textContent('#model-info')).toMatch(
        /peftjs-tiny-llama: LlamaForCausalLM, 2,164,416 parameters.*now cached in this browser/,
      );
      await page.reload();
      await page.waitForFunction(() => !document.getElementById('cached-row')!.hidden, null, { timeout: 120_000 });
      await page.waitForFunction(() => !(document.getElementById('load-model') as HTMLButtonElement).disabled, null, { timeout: 120_000 });
      await page.check('input[name=model][value=cached]');
      await page.selectOption('#cached-models', 'peftjs-tiny-llama');
      await page.click('#load-model');
      await page.waitForFunction(() => /browser cache/.test(document.getElementById('model-info')!.textContent ?? ''), null, {
        timeout: 120_000,
      });
      expect(await page.textContent('#model-info')).toMatch(/2,164,416 parameters.*browser cache \(IndexedDB\)/);
      // a JSONL with a bad line gets the CLI's error, naming the file and line
      const bad = join(mkdtempSync(join(tmpdir(), 'peftjs-bad-')), 'bad.jsonl');
      writeFileSync(bad, '{"text": "a fine line"}\n{"text": oops}\n');
      await page.setInputFiles('#data-file', bad);
      await page.waitForFunction(() => document.getElementById('data-info')!.dataset.state === 'error', null, { timeout: 60_000 });
      expect(await page.textContent('#data-info')).toMatch(/bad\.jsonl:2: invalid JSON/);
      expect(await page.isDisabled('#train')).toBe(true);
    } finally {
      await browser.close();
    }
  }, 300_000);

  it('checkpoints are stored in the browser: after a reload the page offers "Resume from step N" and the run continues from that step with the same numbers', async () => {
    const browser = await launch(NO_GPU_FLAGS);
    try {
      const { page } = await openPage(browser, `${server!.url}?backend=wasm`);
      await setTraining(page, { steps: 6, batchSize: 4, evalEvery: 3, lr: 5e-3, warmup: 1, saveEvery: 2 });
      await page.click('#train');
      const before = await until(page, 'step 3 and a stored checkpoint', (s) => s.loss.length >= 3 && (s.storedStep ?? 0) >= 2, 120_000);
      await page.reload(); // the worker and everything in memory are gone
      await page.waitForFunction(() => !(document.getElementById('resume-stored') as HTMLButtonElement).disabled, null, {
        timeout: 120_000,
      });
      const offered = (await state(page)).offered!;
      expect(offered.step % 2, 'a checkpoint step').toBe(0);
      expect(offered.step).toBeGreaterThanOrEqual(2);
      expect(offered.step).toBeLessThan(6);
      expect(await page.textContent('#resume-stored')).toBe(`Resume from step ${offered.step}`);
      await page.fill('#steps', '60'); // the stored run's settings are used, not the form's
      await page.click('#resume-stored');
      const done = await until(page, 'the end of the resumed run', (s) => s.summary?.stopReason === 'completed', 240_000);
      expect(done.summary!.step).toBe(6);
      expect(done.totalSteps).toBe(6);
      expect(await page.inputValue('#steps')).toBe('6');
      // one loss per step: the history up to the checkpoint restored, then the steps after it
      expect(done.loss.map((p) => p.step)).toEqual([1, 2, 3, 4, 5, 6]);
      const seen = new Map(before.loss.map((p) => [p.step, p.value]));
      for (const p of done.loss.filter((p) => p.step <= offered.step))
        expect(p.value, `restored loss of step ${p.step}`).toBe(seen.get(p.step));
      // a step that ran before the reload runs again from the checkpoint with the same number:
      // same adapter weights, optimizer state, learning-rate schedule and data order
      const again = done.loss.filter((p) => p.step > offered.step && seen.has(p.step));
      for (const p of again) expect(p.value, `loss of step ${p.step} after the resume`).toBeCloseTo(seen.get(p.step)!, 5);
      console.log(
        `reload: stored step ${offered.step}; losses ${done.loss.map((p) => p.value.toFixed(4)).join(' ')}; ${again.length} step(s) compared with the run before the reload`,
      );
      expect(done.val[0].step).toBe(0);
      expect(done.val.at(-1)!.value).toBeLessThan(done.val[0].value);
      // a finished run is not offered again
      await page.reload();
      await page.waitForFunction(() => document.getElementById('stored-info')!.dataset.state === 'checked', null, { timeout: 120_000 });
      expect((await state(page)).offered).toBeNull();
    } finally {
      await browser.close();
    }
  }, 420_000);

  it('with WebGPU (SwiftShader): shows the adapter, trains a dropped JSONL, recovers from a lost device by resuming from the stored checkpoint, the loss falls, and the downloaded adapter gives the page val_loss in Node', async () => {
    const browser = await launch(WEBGPU_FLAGS);
    try {
      const t0 = Date.now();
      const { page, downloads } = await openPage(browser, server!.url);
      const s0 = await state(page);
      expect(s0.backend?.name, s0.backend?.reason).toBe('webgpu');
      expect(await page.textContent('#backend')).toMatch(/WebGPU: .*swiftshader/i);
      // a small JSONL dropped on the page: 16 riddles, a quarter held out (SwiftShader compiles every shader on the CPU)
      const lines = readFileSync(join(RIDDLES, 'train.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .filter((_, i) => i % 7 === 0)
        .slice(0, 16);
      const file = join(downloads, 'few-riddles.jsonl');
      writeFileSync(file, `${lines.join('\n')}\n`);
      await page.fill('#val-split', '0.25');
      await page.setInputFiles('#data-file', file);
      await page.waitForFunction(
        () => /few-riddles\.jsonl: 12 training and 4 validation/.test(document.getElementById('data-info')!.textContent ?? ''),
        null,
        { timeout: 60_000 },
      );
      await setTraining(page, { steps: 3, batchSize: 4, evalEvery: 3, lr: 1e-2, warmup: 0, saveEvery: 1 });
      await page.click('#train');
      // the device is lost (destroyed, as a driver reset would) once step 1's checkpoint is stored
      const lost = await until(page, 'the checkpoint of step 1', (s) => (s.storedStep ?? 0) >= 1, 600_000);
      await page.evaluate(() => (globalThis as unknown as { peftjsTest: { loseDevice(): Promise<void> } }).peftjsTest.loseDevice());
      const done = await until(
        page,
        'the end of training',
        (s) => s.summary?.stopReason === 'completed',
        Number(process.env.PEFTJS_BROWSER_WEBGPU_MS ?? 900_000),
      );
      console.log(
        `webgpu: ${done.summary!.step} steps in ${((Date.now() - t0) / 1000).toFixed(1)} s incl. page load; loss ${done.loss.map((p) => p.value.toFixed(3)).join(' → ')}, val_loss ${done.val.map((p) => p.value.toFixed(3)).join(' → ')}`,
      );
      expect(done.recoveries).toHaveLength(1);
      const r = done.recoveries[0];
      expect(r.why).toMatch(/device lost \(destroyed\)/);
      expect(r.resumedFrom).toBeGreaterThanOrEqual(lost.storedStep!);
      expect(['webgpu', 'wasm']).toContain(r.backend);
      // a new WebGPU device, or wasm with the reason in the log
      if (r.backend === 'wasm')
        expect(await page.textContent('#log')).toMatch(/WebGPU did not start again: going on with wasm \(wasm: WebGPU unavailable: /);
      expect(await page.textContent('#backend')).toMatch(r.backend === 'webgpu' ? /WebGPU: .*swiftshader/i : /wasm/);
      expect(await page.textContent('#log')).toMatch(/the GPU device was lost .*resuming from the last stored checkpoint/);
      console.log(`webgpu: device lost after step ${lost.loss.length}; backend again: ${r.backend}; resumed from step ${r.resumedFrom}`);
      // the steps continue from the checkpoint: one loss per step, the ones before the loss kept
      expect(done.loss.map((p) => p.step)).toEqual([1, 2, 3]);
      for (const p of lost.loss.filter((p) => p.step <= r.resumedFrom!))
        expect(done.loss[p.step - 1].value, `loss of step ${p.step}`).toBe(p.value);
      expect(done.loss.at(-1)!.value).toBeLessThan(done.loss[0].value);
      expect(done.val.at(-1)!.value).toBeLessThan(done.val[0].value);
      const png = await page.locator('#chart').screenshot();
      saveShot(await page.screenshot({ fullPage: true }), 'page-webgpu.png');
      const px = await chartPixels(page, png);
      expect(px.blue, 'loss line pixels').toBeGreaterThan(100);
      expect(px.orange, 'val_loss line pixels').toBeGreaterThan(50);
      await downloadAdapter(page, downloads);
      const saved = (await state(page)).saved!;
      const node = await checkInNode(downloads, { train: file, validation: 0.25 }, 64);
      expect(node.valLoss).toBeCloseTo(done.val.at(-1)!.value, 3);
      for (const [name, t] of Object.entries(saved.tensors)) expect(node.sums[name], name).toBeCloseTo(t.sum, 3);
    } finally {
      await browser.close();
    }
  }, 1_000_000);
});
