import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { PeftModel, PeftRegistry, loadAdapter, readAdapterConfig, saveAdapter } from '@peftjs/core';
import { loadModel } from '@peftjs/models';
import { FIXTURES, ON_WEBGPU, findMethod, maxAbsDiff, packageFor, readIndex, readTensors } from './fixtures.js';

const index = readIndex();
const TOL = 1e-4;
const tmp = mkdtempSync(join(tmpdir(), 'peftjs-parity-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const batchOf = (io: Map<string, tf.Tensor>) => ({ inputIds: io.get('input_ids')!, attentionMask: io.get('attention_mask')! });

describe('base models match transformers', () => {
  for (const [name, base] of Object.entries(index.bases)) {
    it(`${name}: logits within ${TOL} of transformers`, async () => {
      const model = await loadModel(join(FIXTURES, base.dir));
      const io = readTensors(join(FIXTURES, base.dir, 'io_base.safetensors'));
      const out = tf.tidy(() => model.forward(batchOf(io)).logits);
      const want = io.get('logits') ?? io.get('logits_base')!;
      const err = await maxAbsDiff(out, want);
      console.log(`[parity] base ${name}: max abs diff ${err.toExponential(2)}`);
      expect(err).toBeLessThan(TOL);
      model.dispose();
    });
  }
});

const methods = new Map<string, Awaited<ReturnType<typeof findMethod>>>();
for (const c of index.cases) if (!methods.has(c.method)) methods.set(c.method, await findMethod(c.method));
for (const rel of adapterFolders(FIXTURES)) {
  const t = String(JSON.parse(readFileSync(join(FIXTURES, rel, 'adapter_config.json'), 'utf8')).peft_type);
  if (!methods.has(t)) methods.set(t, await findMethod(t));
}

describe('adapters saved by PEFT: load, match logits, write back identical', () => {
  for (const c of index.cases) {
    if (c.status !== 'ok') {
      it.skip(`${c.case}: status "${c.status}" in index.json (not an ok case)`, () => undefined);
      continue;
    }
    const method = methods.get(c.method);
    if (!method) {
      it.todo(`${c.case}: pending — ${packageFor(c.method)} (${c.method}) is not built yet`);
      continue;
    }
    const dir = join(FIXTURES, c.case);
    const registry = new PeftRegistry().use(method);

    it(`${c.case}: PEFT, merged and reloaded logits within ${TOL}`, async () => {
      const cfg = await readAdapterConfig(dir);
      const base = await loadModel(join(FIXTURES, String(cfg.base_model_name_or_path)));
      const peft = new PeftModel(base, { registry });
      await loadAdapter(peft, dir);
      const out = join(tmp, c.case.replace('/', '_'));
      // webgpu in Node reads tensors back only asynchronously: save while the loaded weights are still in host memory
      if (ON_WEBGPU) await saveAdapter(peft, out);
      const io = readTensors(join(dir, 'io.safetensors'));
      const errs: string[] = [];
      const check = async (label: string, key: string) => {
        const want = io.get(key);
        if (!want) return;
        const got = tf.tidy(() => peft.forward(batchOf(io) as never).logits as tf.Tensor);
        const err = await maxAbsDiff(got, want);
        errs.push(`${label} ${err.toExponential(2)}`);
        expect(err, `${c.case} ${label}`).toBeLessThan(TOL);
      };
      await check('peft', 'logits_peft');
      const base0 = tf.tidy(() => peft.disableAdapter(() => peft.forward(batchOf(io) as never).logits as tf.Tensor));
      expect(await maxAbsDiff(base0, io.get('logits_base')!)).toBeLessThan(TOL);
      if (io.has('logits_merged') && !method.notMergeable) {
        // the safe merge, checked with await data(): the form that runs on webgpu in Node too
        await peft.safeMergeAsync();
        await check('merged', 'logits_merged');
        peft.unmerge();
      }
      // save with our writer, reload into a fresh model: PEFT's `logits_reloaded`
      if (!ON_WEBGPU) await saveAdapter(peft, out);
      const fresh = new PeftModel(await loadModel(join(FIXTURES, String(cfg.base_model_name_or_path))), { registry });
      await loadAdapter(fresh, out);
      const got = tf.tidy(() => fresh.forward(batchOf(io) as never).logits as tf.Tensor);
      const err = await maxAbsDiff(got, io.get('logits_reloaded') ?? io.get('logits_peft')!);
      errs.push(`reloaded ${err.toExponential(2)}`);
      expect(err).toBeLessThan(TOL);
      console.log(`[parity] ${c.case}: ${errs.join(', ')}`);
    });
  }
});

/** Every folder below the fixtures root that holds an adapter_config.json (walked, not listed). */
function adapterFolders(root: string, rel = ''): string[] {
  const here = join(root, rel);
  const out: string[] = existsSync(join(here, 'adapter_config.json')) ? [rel] : [];
  for (const e of readdirSync(here, { withFileTypes: true }))
    if (e.isDirectory()) out.push(...adapterFolders(root, rel ? `${rel}/${e.name}` : e.name));
  return out;
}

describe('every adapter folder under the fixtures: read, map to modules, write back identical', () => {
  for (const rel of adapterFolders(FIXTURES)) {
    const dir = join(FIXTURES, rel);
    const type = String(JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8')).peft_type);
    const method = methods.get(type);
    if (!method) {
      it.todo(`${rel}: pending — ${packageFor(type)} (${type}) is not built yet`);
      continue;
    }
    it(`${rel}: tensor names, shapes and bytes of adapter_model.safetensors and the config are PEFT's`, async () => {
      const cfg = await readAdapterConfig(dir);
      const peft = new PeftModel(await loadModel(join(FIXTURES, String(cfg.base_model_name_or_path))), {
        registry: new PeftRegistry().use(method),
      });
      await loadAdapter(peft, dir);
      const out = join(tmp, `${rel.replace(/\//g, '_')}-bytes`);
      await saveAdapter(peft, out);
      const ours = readFileSync(join(out, 'adapter_model.safetensors'));
      const theirs = readFileSync(join(dir, 'adapter_model.safetensors'));
      expect(Buffer.compare(ours, theirs), 'adapter_model.safetensors bytes').toBe(0);
      const ourCfg = JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8'));
      const theirCfg = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8'));
      expect(ourCfg).toEqual(theirCfg);
    });
  }
});
