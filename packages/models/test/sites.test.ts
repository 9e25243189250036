import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { Rng, type Embedding } from '@peftjs/core';
import { loadModel, type PretrainedModel, LlamaForCausalLM, BertForSequenceClassification } from '../src/index.js';
import { FIXTURES, readTensors, maxAbsDiff } from './fixtures.js';
import { attach, detach, promptHook, prefixHook, peftPrefix, scaleHook, identityHook } from './hooks.js';

let llama: LlamaForCausalLM;
let io: Record<string, tf.Tensor>;

beforeAll(async () => {
  llama = (await loadModel(join(FIXTURES, 'llama/base'))) as LlamaForCausalLM;
  io = await readTensors(join(FIXTURES, 'llama/base/io_base.safetensors'));
});
afterAll(() => {
  llama.dispose();
  tf.dispose(Object.values(io));
});

function logitsOf(model: PretrainedModel, inputs: Record<string, tf.Tensor>): tf.Tensor {
  return model.forward({ inputIds: inputs.input_ids, attentionMask: inputs.attention_mask }).logits;
}

describe('the site table', () => {
  it('declares one inputEmbeddings slot, one attentionKV slot per layer and two sublayerOutput slots per layer', () => {
    const s = llama.sites;
    expect(s.inputEmbeddings.info.path).toBe('model.embed_tokens');
    expect(s.attentionKV.map((x) => [x.info.layer, x.info.path])).toEqual([
      [0, 'model.layers.0.self_attn'],
      [1, 'model.layers.1.self_attn'],
    ]);
    expect(s.sublayerOutput.map((x) => `${x.info.layer}:${x.info.position}:${x.info.path}`)).toEqual([
      '0:attention:model.layers.0.self_attn',
      '0:ffn:model.layers.0.mlp',
      '1:attention:model.layers.1.self_attn',
      '1:ffn:model.layers.1.mlp',
    ]);
    expect(llama.dims).toEqual({
      modelType: 'llama',
      numLayers: 2,
      hiddenSize: 32,
      numHeads: 4,
      numKvHeads: 2,
      headDim: 8,
      vocabSize: 128,
    });
    expect(llama.outputHeadPaths).toEqual(['lm_head']);
  });
});

describe('inputEmbeddings', () => {
  it('a hook that prepends 2 tokens makes logits [B, T+2, V] and extends the labels with -100', () => {
    const rng = new Rng(7);
    attach(llama.sites.inputEmbeddings, promptHook(rng.normalTensor([2, 32], 0, 0.01)));
    try {
      const labels = io.input_ids;
      const out = llama.forward({ inputIds: io.input_ids, attentionMask: io.attention_mask, labels });
      expect(out.logits.shape).toEqual([2, 9, 128]);
      // the loss is over the 6 real next-token positions per row (virtual tokens are -100)
      expect(out.loss!.dataSync()[0]).toBeGreaterThan(0);
      tf.dispose([out.logits, out.loss!]);
    } finally {
      detach(llama.sites.inputEmbeddings);
    }
  });

  it('reproduces PEFT prompt tuning (llama/prompt_tuning logits_peft, positions 0..11)', async () => {
    const dir = join(FIXTURES, 'llama/prompt_tuning');
    const { prompt_embeddings } = await readTensors(join(dir, 'adapter_model.safetensors'));
    const ref = await readTensors(join(dir, 'io.safetensors'));
    attach(llama.sites.inputEmbeddings, promptHook(prompt_embeddings));
    try {
      const logits = logitsOf(llama, ref);
      expect(logits.shape).toEqual([2, 12, 128]);
      const diff = maxAbsDiff(logits, ref.logits_peft);
      console.log(`site parity llama/prompt_tuning: max abs diff ${diff.toExponential(3)}`);
      expect(diff).toBeLessThan(1e-4);
      logits.dispose();
    } finally {
      detach(llama.sites.inputEmbeddings);
      tf.dispose([prompt_embeddings, ...Object.values(ref)]);
    }
  });
});

describe('sublayerOutput', () => {
  it('a hook returning its output unchanged keeps the logits identical', () => {
    const base = logitsOf(llama, io);
    for (const s of llama.sites.sublayerOutput) attach(s, identityHook);
    const hooked = logitsOf(llama, io);
    for (const s of llama.sites.sublayerOutput) detach(s);
    expect(maxAbsDiff(base, hooked)).toBe(0);
    tf.dispose([base, hooked]);
  });

  it('a hook scaling the output changes the logits, and zeroing every sublayer leaves lm_head(norm(embeddings))', () => {
    const base = logitsOf(llama, io);
    attach(llama.sites.sublayerOutput[1], scaleHook(0.5));
    const scaled = logitsOf(llama, io);
    expect(maxAbsDiff(base, scaled)).toBeGreaterThan(1e-3);
    for (const s of llama.sites.sublayerOutput) attach(s, scaleHook(0));
    const zeroed = logitsOf(llama, io);
    for (const s of llama.sites.sublayerOutput) detach(s);
    const expected = tf.tidy(() => {
      const model = llama.child('model')!;
      const embeds = (model.child('embed_tokens') as Embedding).forward(io.input_ids);
      const normed = (model.child('norm') as unknown as { forward(x: tf.Tensor): tf.Tensor }).forward(embeds);
      return (llama.child('lm_head') as unknown as { forward(x: tf.Tensor): tf.Tensor }).forward(normed);
    });
    expect(maxAbsDiff(zeroed, expected)).toBeLessThan(1e-5);
    tf.dispose([base, scaled, zeroed, expected]);
  });
});

describe('attentionKV', () => {
  it('an n=3 prefix changes the logits but keeps [B, T, V]', () => {
    const rng = new Rng(3);
    const base = logitsOf(llama, io);
    for (const s of llama.sites.attentionKV) attach(s, prefixHook(rng.normalTensor([2, 3, 8]), rng.normalTensor([2, 3, 8])));
    try {
      const hooked = logitsOf(llama, io);
      expect(hooked.shape).toEqual([2, 7, 128]);
      expect(maxAbsDiff(base, hooked)).toBeGreaterThan(1e-3);
      tf.dispose(hooked);
    } finally {
      for (const s of llama.sites.attentionKV) detach(s);
      base.dispose();
    }
  });

  it('a prefix of the wrong shape is an error naming the site', () => {
    attach(llama.sites.attentionKV[0], prefixHook(tf.zeros([4, 3, 8]), tf.zeros([4, 3, 8])));
    try {
      expect(() => logitsOf(llama, io)).toThrow(
        /attentionKV site model\.layers\.0\.self_attn \(layer 0\): prefix key shape \[2,4,3,8\] must be \[2,2,3,8\]/,
      );
    } finally {
      detach(llama.sites.attentionKV[0]);
    }
  });
});

/** PEFT's own prefix / prompt outputs: the site wiring, position offset and masks, checked against transformers. */
describe('sites reproduce PEFT 0.10.0 prompt-learning logits', () => {
  const cases = [
    { dir: 'llama_mha/prefix_tuning', kind: 'prefix' },
    { dir: 'llama/prefix_tuning_gqa', kind: 'prefix' },
    { dir: 'gpt2/prefix_tuning', kind: 'prefix' },
    { dir: 'bert/prefix_tuning', kind: 'prefix' },
    { dir: 'bert/prompt_tuning', kind: 'prompt' },
  ] as const;
  for (const c of cases) {
    it(`${c.dir}: logits_peft within 1e-4`, async () => {
      const base = c.dir.split('/')[0];
      const model = await loadModel(join(FIXTURES, `${base}/base`));
      const adapter = await readTensors(join(FIXTURES, c.dir, 'adapter_model.safetensors'));
      const ref = await readTensors(join(FIXTURES, c.dir, 'io.safetensors'));
      const { numLayers, numKvHeads, headDim } = model.dims;
      if (c.kind === 'prefix') {
        const kv = peftPrefix(adapter.prompt_embeddings, numLayers, numKvHeads, headDim);
        model.sites.attentionKV.forEach((s, l) => attach(s, prefixHook(kv[l].key, kv[l].value)));
      } else {
        attach(model.sites.inputEmbeddings, promptHook(adapter.prompt_embeddings));
      }
      if (model instanceof BertForSequenceClassification) {
        // the SEQ_CLS classifier copy PEFT saved (modules_to_save)
        const head = model.child('classifier')!;
        head.parameter('weight')!.assign(adapter['base_model.classifier.weight']);
        head.parameter('bias')!.assign(adapter['base_model.classifier.bias']);
      }
      const logits = logitsOf(model, ref);
      expect(logits.shape).toEqual(ref.logits_peft.shape);
      const diff = maxAbsDiff(logits, ref.logits_peft);
      console.log(`site parity ${c.dir}: max abs diff ${diff.toExponential(3)}`);
      expect(diff).toBeLessThan(1e-4);
      tf.dispose([logits, ...Object.values(adapter), ...Object.values(ref)]);
      model.dispose();
    });
  }
});
