import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { PeftModel, PeftRegistry, loadAdapter, saveAdapter, type ModelOutput } from '@peftjs/core';
import { lora } from '@peftjs/lora';
import { loadModel, type LlamaForCausalLM, type ModelBatch } from '@peftjs/models';
import '../src/register.js';
import { Linear4bit, linear4bitModules, mergeRequantized, mergeToFloat, saveFloatModel } from '../src/index.js';
import { QLORA, QLORA_FOLDERS, floatFolderOf, maxAbsDiff } from './helpers.js';

const folder = QLORA_FOLDERS.find((d) => d.includes('nf4')) ?? QLORA_FOLDERS[0];
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const tmp = (p: string) => {
  const d = mkdtempSync(join(tmpdir(), p));
  dirs.push(d);
  return d;
};

const probe = (): ModelBatch => {
  const ids = tf.tensor2d([[1, 5, 9, 17, 33, 65, 3, 2]], [1, 8], 'int32');
  return { inputIds: ids, attentionMask: tf.onesLike(ids) };
};
const logits = (m: { forward(b: ModelBatch): ModelOutput }) => tf.tidy(() => m.forward(probe()).logits);

/** A 4-bit fixture model with a LoRA adapter whose B is not zero (as after training). */
async function withAdapter(): Promise<PeftModel<ModelBatch, ModelOutput>> {
  const base = (await loadModel(join(QLORA, folder))) as LlamaForCausalLM;
  const peft = new PeftModel<ModelBatch, ModelOutput>(base, { registry: new PeftRegistry().use(lora) });
  peft.addAdapter('default', {
    peft_type: 'LORA',
    target_modules: ['q_proj', 'v_proj', 'down_proj', 'lm_head'],
    r: 4,
    lora_alpha: 8,
    init_lora_weights: false,
  });
  return peft;
}

describe.skipIf(!folder)('merging LoRA trained on a 4-bit base', () => {
  it('the adapter is a plain PEFT LoRA adapter: it loads on the float base and gives the same logits', async () => {
    const peft = await withAdapter();
    const out = tmp('qlora-adapter-');
    await saveAdapter(peft, out);
    const cfg = JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    expect(cfg.peft_type).toBe('LORA');
    expect(JSON.stringify(cfg)).not.toMatch(/quant/);
    const floatDir = floatFolderOf(join(QLORA, folder));
    dirs.push(floatDir);
    const onFloat = new PeftModel<ModelBatch, ModelOutput>((await loadModel(floatDir)) as LlamaForCausalLM, {
      registry: new PeftRegistry().use(lora),
    });
    await loadAdapter(onFloat, out);
    expect(maxAbsDiff(logits(peft), logits(onFloat))).toBeLessThan(1e-5);
    const on4bit = new PeftModel<ModelBatch, ModelOutput>((await loadModel(join(QLORA, folder))) as LlamaForCausalLM, {
      registry: new PeftRegistry().use(lora),
    });
    await loadAdapter(on4bit, out);
    expect(maxAbsDiff(logits(peft), logits(on4bit))).toBe(0);
  });

  it('mergeToFloat: dequantize + B·A·s gives the adapter output; the float folder reloads (f32 exact, bf16 close)', async () => {
    const peft = await withAdapter();
    const want = logits(peft);
    const config = JSON.parse(readFileSync(join(QLORA, folder, 'config.json'), 'utf8')) as Record<string, unknown>;
    const merged = mergeToFloat(peft) as LlamaForCausalLM;
    expect(linear4bitModules(merged)).toEqual([]);
    expect(maxAbsDiff(logits(merged), want)).toBeLessThan(1e-4);
    for (const dtype of ['float32', 'bfloat16'] as const) {
      const out = tmp('qlora-float-');
      await saveFloatModel(merged, out, config, dtype);
      const saved = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as Record<string, unknown>;
      expect(saved.quantization_config).toBeUndefined();
      expect(saved.torch_dtype).toBe(dtype);
      const back = (await loadModel(out)) as LlamaForCausalLM;
      expect(linear4bitModules(back)).toEqual([]);
      expect(maxAbsDiff(logits(back), want)).toBeLessThan(dtype === 'float32' ? 1e-4 : 0.5);
      back.dispose();
    }
  });

  it('mergeRequantized: stays 4-bit and reports the rounding error on weights and on logits', async () => {
    const peft = await withAdapter();
    const want = logits(peft);
    const r = mergeRequantized(peft, probe());
    const m = r.model as LlamaForCausalLM;
    expect(r.layers).toBe(linear4bitModules(m).length);
    expect(m.getModule('model.layers.0.self_attn.q_proj')).toBeInstanceOf(Linear4bit);
    expect((m.getModule('model.layers.0.self_attn.q_proj') as Linear4bit).quantized).toBe(true);
    expect(r.maxWeightDelta).toBeGreaterThan(0);
    expect(r.maxLogitDelta).toBeCloseTo(maxAbsDiff(logits(m), want), 6);
    expect(r.maxLogitDelta).toBeGreaterThan(0);
    expect(r.warning).toMatch(/rounding errors/);
  });
});
