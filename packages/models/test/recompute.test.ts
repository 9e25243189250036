import { describe, expect, it, afterEach } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { Module, Rng, type SublayerOutputHook } from '@peftjs/core';
import { LlamaForCausalLM, layerTrainableVariables, type LlamaModel, type ModelBatch } from '../src/index.js';
import { attach, detach } from './hooks.js';

const CONFIG = {
  model_type: 'llama',
  vocab_size: 32,
  hidden_size: 16,
  intermediate_size: 32,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  max_position_embeddings: 64,
};

let model: LlamaForCausalLM;
afterEach(() => {
  for (const s of model.sites.sublayerOutput) detach(s);
  model.dispose();
});

function batch(T = 8): ModelBatch {
  const rng = new Rng(3);
  const ids = tf.tensor2d(
    Array.from({ length: 2 * T }, () => rng.int(32)),
    [2, T],
    'int32',
  );
  return { inputIds: ids, labels: ids };
}

/** One step's loss through tf.variableGrads over `vars`, the gradients disposed. */
function step(b: ModelBatch, vars: tf.Variable[]): void {
  tf.tidy(() => {
    tf.variableGrads(() => model.forward(b).loss as tf.Scalar, vars);
  });
}

describe('activation recomputation in @peftjs/models', () => {
  it("finds a layer's trainable variables: its own and those of the hooks at its sites", () => {
    model = new LlamaForCausalLM(CONFIG, { rng: new Rng(1) }).requiresGrad(false);
    const layer = (model.child('model') as LlamaModel).layers.at(0);
    expect(layerTrainableVariables(layer, [])).toEqual([]);
    const owner = new Module();
    const scale = owner.registerParameter('scale', tf.scalar(2));
    const slot = model.sites.sublayerOutput[0];
    attach(slot, { forward: (out) => tf.mul(out, scale) } satisfies SublayerOutputHook);
    slot.hookParams.set('test', owner);
    expect(layerTrainableVariables(layer, [slot])).toEqual([scale]);
    const norm = (layer.child('input_layernorm') as Module).parameter('weight')!;
    norm.trainable = true;
    expect(layerTrainableVariables(layer, [slot])).toEqual([norm, scale]);
    slot.hookParams.delete('test');
    owner.dispose();
  });

  it('refuses a layer that reads a trainable variable it was not given, naming it', () => {
    model = new LlamaForCausalLM(CONFIG, { rng: new Rng(1) });
    const hidden = tf.variable(tf.scalar(1.5), true, 'hidden_scale_var');
    attach(model.sites.sublayerOutput[1], { forward: (out) => tf.mul(out, hidden) });
    model.gradientCheckpointing = true;
    model.train();
    const b = batch();
    const norm = ((model.child('model') as LlamaModel).layers.at(0).child('input_layernorm') as Module).parameter('weight')!;
    norm.trainable = true;
    const before = tf.memory().numTensors;
    expect(() => step(b, [norm, hidden])).toThrow(/llama layer 0 reads trainable variable\(s\) hidden_scale_var/);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([b.inputIds, hidden]);
  });

  it('a request that does not fit names its batch and suggests recomputation (forward) or a shorter sequence (recomputed backward)', () => {
    model = new LlamaForCausalLM(CONFIG, { rng: new Rng(1) });
    const w = tf.variable(tf.scalar(1), true);
    let calls = 0;
    let failAt = 1;
    const oom = Object.assign(new Error('wasm backend out of memory: a tensor of 9000 MB does not fit'), { name: 'WasmHeapError' });
    attach(model.sites.sublayerOutput[0], {
      forward: (out) => {
        if (++calls === failAt) throw oom;
        return tf.mul(out, w);
      },
    });
    model.sites.sublayerOutput[0].hookParams.set('test', Object.assign(new Module(), {}));
    const b = batch();
    model.train();
    expect(() => step(b, [w])).toThrow(/^llama: a batch of 2×8 tokens does not fit in memory; turn on activation recomputation/);
    // recomputed: the forward passes (call 1), the layer's recomputation in the backward pass fails (call 2)
    model.gradientCheckpointing = true;
    const owner = new Module();
    owner.registerParameter('w', w);
    model.sites.sublayerOutput[0].hookParams.set('test', owner);
    calls = 0;
    failAt = 2;
    expect(() => step(b, [w])).toThrow(
      /^llama layer 0: recomputing for the backward pass over \[2,8,16\] does not fit in memory; use a shorter sequence/,
    );
    model.sites.sublayerOutput[0].hookParams.delete('test');
    tf.dispose([b.inputIds, w]);
  });

  it('keeps numTensors flat when a recomputed step fails', () => {
    model = new LlamaForCausalLM(CONFIG, { rng: new Rng(1) });
    model.gradientCheckpointing = true;
    model.train();
    const b = batch();
    const w = tf.variable(tf.scalar(1), true);
    const owner = new Module();
    owner.registerParameter('w', w);
    let calls = 0;
    attach(model.sites.sublayerOutput[2], {
      forward: (out) => {
        if (++calls % 2 === 0) throw Object.assign(new Error('out of memory'), { name: 'WasmHeapError' });
        return tf.mul(out, w);
      },
    });
    model.sites.sublayerOutput[2].hookParams.set('test', owner);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 2; i++) expect(() => step(b, [w])).toThrow(/llama layer 1: recomputing/);
    expect(tf.memory().numTensors).toBe(before);
    model.sites.sublayerOutput[2].hookParams.delete('test');
    owner.dispose();
    b.inputIds.dispose();
  });
});
