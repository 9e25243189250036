import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { join } from 'node:path';
import { mkdtempSync, rmSync, copyFileSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import { bf16ToF32, f32ToBf16, f32ToF16, f16ToF32, writeSafetensorsFile, type TensorSource } from '@peftjs/core/io';
import {
  loadModel,
  loadModelWithReport,
  modelFromConfig,
  resolveArchitecture,
  GPT2LMHeadModel,
  LlamaForCausalLM,
  BertForTokenClassification,
  BertModel,
} from '../src/index.js';
import { FIXTURES, readTensors, maxAbsDiff } from './fixtures.js';

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'peftjs-models-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A folder with a fixture's config.json and the given tensors written as safetensors files. */
async function folder(
  name: string,
  configFrom: string,
  files: Record<string, Record<string, TensorSource>>,
  config?: object,
): Promise<string> {
  const dir = join(tmp, name);
  rmSync(dir, { recursive: true, force: true });
  const { mkdirSync } = await import('node:fs');
  mkdirSync(dir, { recursive: true });
  if (config) writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  else copyFileSync(join(FIXTURES, configFrom, 'config.json'), join(dir, 'config.json'));
  for (const [file, tensors] of Object.entries(files)) await writeSafetensorsFile(join(dir, file), tensors);
  return dir;
}

describe('choosing the class', () => {
  it('uses architectures, falls back to model_type, and names an unsupported model with the supported list', () => {
    expect(resolveArchitecture({ architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2' })).toBe('Qwen2ForCausalLM');
    expect(resolveArchitecture({ model_type: 'gpt2' })).toBe('GPT2LMHeadModel');
    expect(() => resolveArchitecture({ architectures: ['T5ForConditionalGeneration'], model_type: 't5' })).toThrow(
      /unsupported model \(architectures \["T5ForConditionalGeneration"\]\); supported architectures: LlamaForCausalLM, .*GPT2LMHeadModel.*BertForSequenceClassification/,
    );
  });

  it('builds Qwen2 with q/k/v bias and Mistral as LLaMA, and rejects rope_scaling types other than linear', () => {
    const base = {
      hidden_size: 16,
      intermediate_size: 32,
      num_hidden_layers: 1,
      num_attention_heads: 2,
      num_key_value_heads: 1,
      vocab_size: 10,
    };
    const qwen = modelFromConfig({ ...base, model_type: 'qwen2', architectures: ['Qwen2ForCausalLM'] }) as LlamaForCausalLM;
    const names = qwen.namedParameters().map(([n]) => n);
    expect(names).toContain('model.layers.0.self_attn.q_proj.bias');
    expect(names).not.toContain('model.layers.0.self_attn.o_proj.bias');
    const mistral = modelFromConfig({ ...base, model_type: 'mistral', sliding_window: 4096 });
    expect(mistral).toBeInstanceOf(LlamaForCausalLM);
    expect(() => modelFromConfig({ ...base, model_type: 'llama', rope_scaling: { type: 'yarn', factor: 2 } })).toThrow(
      /rope_scaling type "yarn" is not supported \(supported: none, "linear"\)/,
    );
    qwen.dispose();
    mistral.dispose();
  });

  it('uses transformers parameter names for BERT token classification and a bare BertModel', () => {
    const cfg = JSON.parse(readFileSync(join(FIXTURES, 'bert/base/config.json'), 'utf8'));
    const tok = new BertForTokenClassification(cfg);
    const names = tok.namedParameters().map(([n]) => n);
    expect(names).toContain('bert.encoder.layer.1.attention.self.query.weight');
    expect(names).toContain('classifier.weight');
    expect(names.some((n) => n.startsWith('bert.pooler'))).toBe(false);
    const bare = new BertModel(cfg);
    expect(bare.namedParameters().map(([n]) => n)).toContain('pooler.dense.weight');
    tok.dispose();
    bare.dispose();
  });
});

describe('loadModel', () => {
  it('maps every llama tensor name-for-name and shares the GPT-2 head with wte', async () => {
    const llama = await loadModelWithReport(join(FIXTURES, 'llama/base'));
    expect(llama.report).toMatchObject({ architecture: 'LlamaForCausalLM', loaded: 21, missing: [], unexpected: [], mismatched: [] });
    llama.model.dispose();
    const gpt2 = (await loadModel(join(FIXTURES, 'gpt2/base'))) as GPT2LMHeadModel;
    expect(gpt2.child('lm_head')!.parameter('weight')).toBe(gpt2.getModule('transformer.wte').parameter('weight'));
    expect(gpt2.namedParameters().map(([n]) => n)).not.toContain('lm_head.weight');
    gpt2.dispose();
  });

  it('reads a sharded index with F16 and BF16 shards as float32', async () => {
    const src = await readTensors(join(FIXTURES, 'llama/base/model.safetensors'));
    const names = Object.keys(src);
    const half = (t: tf.Tensor, kind: 'F16' | 'BF16'): TensorSource => ({
      dtype: kind,
      shape: [...t.shape],
      data: kind === 'F16' ? f32ToF16(t.dataSync() as Float32Array) : f32ToBf16(t.dataSync() as Float32Array),
    });
    const shardA = Object.fromEntries(names.slice(0, 10).map((n) => [n, half(src[n], 'F16')]));
    const shardB = Object.fromEntries(names.slice(10).map((n) => [n, half(src[n], 'BF16')]));
    const dir = await folder('sharded', 'llama/base', {
      'model-00001-of-00002.safetensors': shardA,
      'model-00002-of-00002.safetensors': shardB,
    });
    const weightMap = Object.fromEntries(
      names.map((n, i) => [n, i < 10 ? 'model-00001-of-00002.safetensors' : 'model-00002-of-00002.safetensors']),
    );
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
    const { model, report } = await loadModelWithReport(dir);
    expect(report.files).toEqual(['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
    const params = new Map(model.namedParameters());
    const n0 = names[0];
    const n15 = names[15];
    expect(Array.from(params.get(n0)!.dataSync())).toEqual(Array.from(f16ToF32(f32ToF16(src[n0].dataSync() as Float32Array))));
    expect(Array.from(params.get(n15)!.dataSync())).toEqual(Array.from(bf16ToF32(f32ToBf16(src[n15].dataSync() as Float32Array))));
    expect(params.get(n15)!.dtype).toBe('float32');
    model.dispose();
    tf.dispose(Object.values(src));
  });

  it('lists missing, unexpected and wrongly-shaped tensors; strict: false returns them as a report', async () => {
    const src = await readTensors(join(FIXTURES, 'llama/base/model.safetensors'));
    const tensors: Record<string, TensorSource> = { ...src };
    delete tensors['model.norm.weight'];
    tensors['model.layers.0.self_attn.k_proj.weight'] = tf.zeros([8, 32]);
    tensors['model.extra.weight'] = tf.zeros([2]);
    const dir = await folder('broken', 'llama/base', { 'model.safetensors': tensors });
    await expect(loadModel(dir)).rejects.toThrow(
      /missing 2 tensor\(s\): model\.layers\.0\.self_attn\.k_proj\.weight, model\.norm\.weight; unexpected 1 tensor\(s\): model\.extra\.weight; wrong shape: model\.layers\.0\.self_attn\.k_proj\.weight \(model \[16,32\], checkpoint \[8,32\]\)/,
    );
    const { model, report } = await loadModelWithReport(dir, { strict: false });
    expect(report.missing.sort()).toEqual(['model.layers.0.self_attn.k_proj.weight', 'model.norm.weight']);
    expect(report.unexpected).toEqual(['model.extra.weight']);
    expect(report.mismatched).toEqual([{ name: 'model.layers.0.self_attn.k_proj.weight', expected: [16, 32], got: [8, 32] }]);
    // what was not loaded is initialised as transformers does: matrices normal(0, initializer_range = 0.2), norms ones
    const params = new Map(model.namedParameters());
    const k = params.get('model.layers.0.self_attn.k_proj.weight')!;
    const std = Math.sqrt(tf.moments(k).variance.dataSync()[0]);
    expect(std).toBeGreaterThan(0.15);
    expect(std).toBeLessThan(0.25);
    expect(Array.from(params.get('model.norm.weight')!.dataSync())).toEqual(new Array(32).fill(1));
    model.dispose();
    tf.dispose(Object.values(src));
  });

  it('loads a bare GPT2Model checkpoint (no "transformer." prefix, with attn.bias buffers) into GPT2LMHeadModel', async () => {
    const src = await readTensors(join(FIXTURES, 'gpt2/base/model.safetensors'));
    const tensors: Record<string, TensorSource> = {};
    for (const [n, t] of Object.entries(src)) tensors[n.replace(/^transformer\./, '')] = t;
    tensors['h.0.attn.bias'] = tf.ones([1, 1, 64, 64]);
    const dir = await folder('gpt2-bare', 'gpt2/base', { 'model.safetensors': tensors });
    const model = await loadModel(dir);
    const io = await readTensors(join(FIXTURES, 'gpt2/base/io_base.safetensors'));
    const { logits } = model.forward({ inputIds: io.input_ids, attentionMask: io.attention_mask });
    expect(maxAbsDiff(logits, io.logits_base)).toBeLessThan(1e-4);
    tf.dispose([logits, ...Object.values(io), ...Object.values(src), tensors['h.0.attn.bias'] as tf.Tensor]);
    model.dispose();
  });

  it('ties lm_head to embed_tokens with tie_word_embeddings and needs no lm_head tensor', async () => {
    const src = await readTensors(join(FIXTURES, 'llama/base/model.safetensors'));
    const tensors: Record<string, TensorSource> = { ...src };
    delete tensors['lm_head.weight'];
    const config = { ...JSON.parse(readFileSync(join(FIXTURES, 'llama/base/config.json'), 'utf8')), tie_word_embeddings: true };
    const dir = await folder('tied', 'llama/base', { 'model.safetensors': tensors }, config);
    const { model, report } = await loadModelWithReport(dir);
    expect(report.missing).toEqual([]);
    expect(model.getModule('lm_head').parameter('weight')).toBe(model.getModule('model.embed_tokens').parameter('weight'));
    model.dispose();
    tf.dispose(Object.values(src));
  });

  it('fails clearly on a folder without weights, an unsupported dtype, and leaks no tensors', async () => {
    const before = tf.memory().numTensors;
    const dir = await folder('empty', 'llama/base', {});
    await expect(loadModel(dir)).rejects.toThrow(/no model\.safetensors or model\.safetensors\.index\.json/);
    await expect(loadModel(dir, { dtype: 'float16' as 'float32' })).rejects.toThrow(/dtype "float16" is not supported/);
    expect(tf.memory().numTensors).toBe(before);
  });
});
