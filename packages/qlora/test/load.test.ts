import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { serializeEntries } from '@peftjs/core/io';
import { loadModel, loadModelWithReport, type LlamaForCausalLM } from '@peftjs/models';
import '../src/register.js';
import { Linear4bit, linear4bitModules, saveQuantizedModel } from '../src/index.js';
import { QLORA, QLORA_FOLDERS, floatFolderOf, maxAbsDiff, probeLogits, readEntries } from './helpers.js';

describe.skipIf(QLORA_FOLDERS.length === 0)('loading bitsandbytes 4-bit folders', () => {
  for (const folder of QLORA_FOLDERS) {
    it(`${folder}: linears stay packed, logits equal the float model of dequantized.safetensors (1e-5); saving gives the same files`, async () => {
      const dir = join(QLORA, folder);
      const { model, report, config } = await loadModelWithReport(dir);
      const q = model as LlamaForCausalLM;
      const quantKeys = [...readEntries(join(dir, 'model.safetensors')).keys()].filter((k) => k.includes('.weight.quant_state.'));
      expect(linear4bitModules(q).length).toBe(quantKeys.length);
      expect(report.missing).toEqual([]);
      expect(q.getModule('lm_head')).not.toBeInstanceOf(Linear4bit);
      for (const [, v] of q.namedParameters()) expect(v.dtype).toBe('float32');
      const floatDir = floatFolderOf(dir);
      const f = (await loadModel(floatDir)) as LlamaForCausalLM;
      const a = probeLogits(q, q.config.vocabSize);
      const b = probeLogits(f, f.config.vocabSize);
      expect(maxAbsDiff(a, b)).toBeLessThan(1e-5);

      const out = mkdtempSync(join(tmpdir(), 'qlora-save-'));
      await saveQuantizedModel(q, out, config);
      expect(readFileSync(join(out, 'model.safetensors')).equals(readFileSync(join(dir, 'model.safetensors')))).toBe(true);
      // transformers ends config.json with "\n" (to_json_string); the fixture's writer did not: equal up to it
      expect(readFileSync(join(out, 'config.json'), 'utf8')).toBe(`${readFileSync(join(dir, 'config.json'), 'utf8').trimEnd()}\n`);
      tf.dispose([a, b]);
      q.dispose();
      f.dispose();
      rmSync(out, { recursive: true });
      rmSync(floatDir, { recursive: true });
    });
  }

  it('quantize on load: a float folder becomes the same 4-bit model as the bitsandbytes folder', async () => {
    const folder = QLORA_FOLDERS.find((d) => JSON.parse(readFileSync(join(QLORA, d, 'manifest.json'), 'utf8')).dtype === 'float32')!;
    const manifest = JSON.parse(readFileSync(join(QLORA, folder, 'manifest.json'), 'utf8')) as {
      quant_type: 'nf4' | 'fp4';
      double_quant: boolean;
    };
    // the float folder: the source weights (already in the folder's dtype) with the other tensors
    const dir = floatFolderOf(join(QLORA, folder));
    const src = readEntries(join(QLORA, folder, 'source.safetensors'));
    const model = readEntries(join(dir, 'model.safetensors'));
    for (const [k, e] of src) model.set(k, e);
    writeFileSync(join(dir, 'model.safetensors'), serializeEntries([...model.values()], { format: 'pt' }));
    const before = tf.memory().numTensors;
    const q = (await loadModel(dir, { quantize: { type: manifest.quant_type, doubleQuant: manifest.double_quant } })) as LlamaForCausalLM;
    const ref = (await loadModel(join(QLORA, folder))) as LlamaForCausalLM;
    expect(linear4bitModules(q).length).toBe(linear4bitModules(ref).length);
    expect(maxAbsDiff(probeLogits(q, 128), probeLogits(ref, 128))).toBe(0);
    for (const [p, l] of linear4bitModules(q)) {
      expect(Buffer.from(l.state().packed).equals(Buffer.from((ref.getModule(p) as Linear4bit).state().packed))).toBe(true);
    }
    q.dispose();
    ref.dispose();
    expect(tf.memory().numTensors).toBeLessThanOrEqual(before + 4);
    rmSync(dir, { recursive: true });
  });
});
