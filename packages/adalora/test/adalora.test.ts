import { afterEach, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import {
  Conv1D,
  Embedding,
  Linear,
  Module,
  PeftModel,
  PeftRegistry,
  Rng,
  adapterStateDict,
  getPeftModel,
  type ModelDims,
  type PeftBaseModel,
  type SiteTable,
} from '@peftjs/core';
import {
  AdaLoraHook,
  adalora,
  adaLoraConfigToJSON,
  budgetSchedule,
  kthSmallest,
  loadAdaLoraState,
  orthogonalRegularization,
  orthogonalityGap,
  parseAdaLoraConfig,
  rankAllocator,
  updateAndAllocate,
  type AdaLoraConfig,
} from '../src/index.js';

/** emb → q_proj (Linear 6→6) → c_attn (Conv1D 6→6) → lm_head. */
class Toy extends Module implements PeftBaseModel<tf.Tensor, tf.Tensor> {
  readonly dims: ModelDims = { modelType: 'toy', numLayers: 1, hiddenSize: 6, numHeads: 1, numKvHeads: 1, headDim: 6, vocabSize: 10 };
  readonly sites: SiteTable = {};
  readonly outputHeadPaths = ['lm_head'];
  readonly q: Linear;
  readonly c: Conv1D;
  constructor() {
    super();
    const rng = new Rng(1);
    this.registerModule('embed_tokens', new Embedding(10, 6, { rng }));
    const layer = this.registerModule('layers', new Module()).registerModule('0', new Module());
    this.q = layer.registerModule('q_proj', new Linear(6, 6, { rng }));
    this.c = layer.registerModule('c_attn', new Conv1D(6, 6, { rng }));
    this.registerModule('lm_head', new Linear(6, 10, { bias: false, rng }));
  }
  forward(ids: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const e = (this.child('embed_tokens') as Embedding).forward(ids);
      return (this.child('lm_head') as Linear).forward(tf.tanh(this.c.forward(tf.tanh(this.q.forward(e)))));
    });
  }
}

const registry = new PeftRegistry().use(adalora);
const ids = () =>
  tf.tensor2d(
    [
      [1, 2, 3],
      [4, 5, 9],
    ],
    [2, 3],
    'int32',
  );
const maxDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
const BASE = { peft_type: 'ADALORA', total_step: 10, target_r: 1 };

function hookAt(peft: PeftModel<tf.Tensor, tf.Tensor>, i = 0): AdaLoraHook {
  return peft.adapter('default').hooks[i].hook as AdaLoraHook;
}

function perturb(hook: AdaLoraHook, seed: number): void {
  const rng = new Rng(seed);
  for (const v of [hook.loraA, hook.loraE, hook.loraB]) {
    const t = rng.normalTensor(v.shape, 0, 0.5);
    v.assign(t);
    t.dispose();
  }
}

afterEach(() => tf.disposeVariables());

describe('AdaLoRA config', () => {
  it("fills PEFT 0.10's defaults (init_r 12, target_r 8, β 0.85, orth_reg_weight 0.5)", () => {
    const c = parseAdaLoraConfig({ total_step: 100 });
    expect(c).toMatchObject({
      peft_type: 'ADALORA',
      init_r: 12,
      target_r: 8,
      tinit: 0,
      tfinal: 0,
      deltaT: 1,
      beta1: 0.85,
      beta2: 0.85,
      orth_reg_weight: 0.5,
      r: 8,
      lora_alpha: 8,
      rank_pattern: null,
    });
  });

  it('requires total_step for training but not for an adapter loaded for inference', () => {
    expect(() => parseAdaLoraConfig({})).toThrow('AdaLoRA total_step must be set to the planned number of training steps');
    expect(parseAdaLoraConfig({ inference_mode: true }).total_step).toBeNull();
  });

  it("applies PEFT's validation tinit < total_step - tfinal, naming the field", () => {
    expect(() => parseAdaLoraConfig({ total_step: 10, tinit: 5, tfinal: 5 })).toThrow(
      'AdaLoRA tinit (5) must be less than total_step - tfinal (10 - 5)',
    );
    expect(parseAdaLoraConfig({ total_step: 10, tinit: 4, tfinal: 5 }).tinit).toBe(4);
  });

  it('rejects bad values with the field named', () => {
    expect(() => parseAdaLoraConfig({ ...BASE, init_r: 0 })).toThrow('AdaLoRA init_r must be a positive integer, got 0');
    expect(() => parseAdaLoraConfig({ ...BASE, init_r: 4, target_r: 6 })).toThrow(/AdaLoRA target_r \(6\) must not exceed init_r \(4\)/);
    expect(parseAdaLoraConfig({ init_r: 4, inference_mode: true }).target_r).toBe(8); // a file PEFT trained without update_and_allocate
    expect(() => parseAdaLoraConfig({ ...BASE, beta1: 1 })).toThrow('AdaLoRA beta1 must be a number in (0, 1), got 1');
    expect(() => parseAdaLoraConfig({ ...BASE, orth_reg_weight: 0 })).toThrow(/AdaLoRA orth_reg_weight must be greater than 0/);
    expect(() => parseAdaLoraConfig({ ...BASE, deltaT: 0 })).toThrow(/AdaLoRA deltaT/);
    expect(() => parseAdaLoraConfig({ ...BASE, use_dora: true })).toThrow(/AdaLoRA use_dora/);
    expect(() => parseAdaLoraConfig({ ...BASE, init_r: 2, rank_pattern: { 'a.lora_E': [true] } })).toThrow(
      'AdaLoRA rank_pattern["a.lora_E"] has 1 entries but init_r is 2',
    );
  });

  it('writes every field PEFT 0.10 writes, rank_pattern included', () => {
    const json = adaLoraConfigToJSON(parseAdaLoraConfig({ ...BASE, init_r: 2, rank_pattern: { 'm.lora_E': [true, false] } }));
    expect(Object.keys(json).sort()).toEqual(
      'alpha_pattern auto_mapping base_model_name_or_path beta1 beta2 bias deltaT fan_in_fan_out inference_mode init_lora_weights init_r layer_replication layers_pattern layers_to_transform loftq_config lora_alpha lora_dropout megatron_config megatron_core modules_to_save orth_reg_weight peft_type r rank_pattern revision target_modules target_r task_type tfinal tinit total_step use_dora use_rslora'.split(
        ' ',
      ),
    );
    expect(json.rank_pattern).toEqual({ 'm.lora_E': [true, false] });
  });
});

describe('AdaLoRA layer: ΔW = B·(A⊙E)·α/(ranknum + 1e-5)', () => {
  it('starts as the identity (E = 0) with A and B drawn from N(0, 0.02)', () => {
    const model = new Toy();
    const base = model.forward(ids());
    const peft = getPeftModel(model, { ...BASE, init_r: 8, target_modules: ['q_proj'] }, 'default', { registry });
    expect(maxDiff(peft.forward(ids()), base)).toBe(0);
    const h = hookAt(peft);
    expect(h.loraA.shape).toEqual([8, 6]);
    expect(h.loraE.shape).toEqual([8, 1]);
    expect(h.loraB.shape).toEqual([6, 8]);
    const std = tf.tidy(() =>
      Math.sqrt(tf.moments(tf.concat([tf.reshape(h.loraA, [-1]), tf.reshape(h.loraB, [-1])])).variance.dataSync()[0]),
    );
    expect(std).toBeGreaterThan(0.014);
    expect(std).toBeLessThan(0.026);
  });

  it('computes base(x) + (x·(A⊙E)ᵀ·Bᵀ)·α/(ranknum + 1e-5) on a Linear, fused or not', () => {
    const model = new Toy();
    const peft = getPeftModel(model, { ...BASE, init_r: 3, lora_alpha: 6, target_modules: ['q_proj'] }, 'default', { registry });
    const h = hookAt(peft);
    perturb(h, 3);
    expect(h.scale).toBeCloseTo(6 / (3 + 1e-5), 10);
    const x = tf.randomNormal([4, 6], 0, 1, 'float32', 7);
    const a = h.loraA.arraySync() as number[][];
    const e = (h.loraE.arraySync() as number[][]).map((r) => r[0]);
    const b = h.loraB.arraySync() as number[][];
    const xs = x.arraySync() as number[][];
    const base = model.q.baseForward(x).arraySync() as number[][];
    // by hand: y[n][o] = base + s·Σ_k B[o][k]·E[k]·Σ_i A[k][i]·x[n][i]
    const want = xs.map((row, n) =>
      base[n].map(
        (bo, o) => bo + h.scale * b[o].reduce((acc, bok, k) => acc + bok * e[k] * a[k].reduce((s, aki, i) => s + aki * row[i], 0), 0),
      ),
    );
    peft.eval(); // the fused PeftLoraMatMul path
    expect(maxDiff(model.q.forward(x), tf.tensor2d(want))).toBeLessThan(1e-5);
    peft.train(); // the unfused path
    expect(maxDiff(model.q.forward(x), tf.tensor2d(want))).toBeLessThan(1e-5);
  });

  it('merges into a Conv1D weight as ΔWᵀ and unmerges back', () => {
    const model = new Toy();
    const peft = getPeftModel(model, { ...BASE, init_r: 2, target_modules: ['c_attn'] }, 'default', { registry });
    expect(peft.config().fan_in_fan_out).toBe(true);
    perturb(hookAt(peft), 5);
    const before = peft.forward(ids());
    const w = model.c.weight.clone();
    peft.merge();
    expect(maxDiff(peft.forward(ids()), before)).toBeLessThan(1e-5);
    peft.unmerge();
    expect(maxDiff(model.c.weight, w)).toBeLessThan(1e-6);
  });

  it('refuses an Embedding target, naming it', () => {
    expect(() => getPeftModel(new Toy(), { ...BASE, target_modules: ['embed_tokens'] }, 'default', { registry })).toThrow(
      'AdaLoRA target_modules: embed_tokens is an Embedding; AdaLoRA adapts Linear and Conv1D layers only',
    );
  });

  it('names its parameters as PEFT does: lora_A, lora_E, lora_B without .weight', () => {
    const peft = getPeftModel(new Toy(), { ...BASE, init_r: 2, target_modules: ['q_proj'] }, 'default', { registry });
    expect(peft.trainableParameters().map(([n]) => n)).toEqual([
      'layers.0.q_proj.lora_A.default',
      'layers.0.q_proj.lora_E.default',
      'layers.0.q_proj.lora_B.default',
    ]);
    expect([...adapterStateDict(peft.adapter('default')).keys()]).toEqual([
      'base_model.model.layers.0.q_proj.lora_A',
      'base_model.model.layers.0.q_proj.lora_E',
      'base_model.model.layers.0.q_proj.lora_B',
    ]);
  });
});

describe('AdaLoRA math', () => {
  it('follows the cubic budget schedule of PEFT (the llama/adalora_pruned fixture: 16 → 10 → 8 → 8)', () => {
    const s = { initBudget: 16, targetBudget: 8, tinit: 0, tfinal: 1, totalStep: 4, deltaT: 1 };
    expect([0, 1, 2, 3, 4].map((t) => budgetSchedule(t, s))).toEqual([
      { budget: 16, mask: false },
      { budget: 10, mask: true },
      { budget: 8, mask: true },
      { budget: 8, mask: true },
      { budget: 8, mask: true },
    ]);
    expect(budgetSchedule(3, { ...s, tfinal: 0, totalStep: 10, deltaT: 2 })).toEqual({ budget: 10, mask: false });
  });

  it('takes the k-th smallest score as torch.kthvalue (1-based), masking nothing for k = 0', () => {
    expect(kthSmallest([0.3, 0.1, 0.2], 2)).toBeCloseTo(0.2, 7);
    expect(kthSmallest([0.3, 0.1, 0.2], 0)).toBe(-Infinity);
  });

  it('measures orthogonality as ‖AAᵀ − I‖_F and ‖BᵀB − I‖_F', () => {
    expect(orthogonalityGap(tf.eye(3, 5), 'A').dataSync()[0]).toBeCloseTo(0, 6);
    expect(orthogonalityGap(tf.eye(5, 3), 'B').dataSync()[0]).toBeCloseTo(0, 6);
    // A = 2·I₂: AAᵀ − I = 3·I₂ → ‖·‖ = 3√2
    expect(orthogonalityGap(tf.mul(tf.eye(2, 4), 2), 'A').dataSync()[0]).toBeCloseTo(3 * Math.SQRT2, 5);
  });
});

describe('AdaLoRA allocator in a plain loop', () => {
  function setup(initR = 3, targetR = 1) {
    const model = new Toy();
    const peft = getPeftModel(
      model,
      { ...BASE, init_r: initR, target_r: targetR, total_step: 4, tfinal: 1, target_modules: ['q_proj', 'c_attn'] },
      'default',
      { registry },
    );
    for (const [i, h] of peft.adapter('default').hooks.entries()) perturb(h.hook as AdaLoraHook, 10 + i);
    return { model, peft };
  }

  it('scores triplets as s(E)ᵢ + mean_j s(A)ᵢⱼ + mean_k s(B)ₖᵢ with s = Ī·Ū after one update', () => {
    const { peft } = setup();
    const vars = peft.trainableParameters().map(([, v]) => v);
    const { grads } = tf.variableGrads(() => tf.sum(tf.square(peft.forward(ids()))) as tf.Scalar, vars);
    updateAndAllocate(peft, 'default', grads, 0); // step 0 ≤ tinit: scores only
    const m = rankAllocator(peft).modules[0];
    // one EMA step from zero: Ī = 0.15·I, Ū = 0.15·|I − Ī| = 0.15·0.85·I → s = 0.019125·I²
    const s = (v: tf.Variable) => tf.mul(tf.square(tf.abs(tf.mul(v, grads[v.name]))), 0.15 * 0.15 * 0.85);
    const want = tf.add(tf.reshape(s(m.hook.loraE), [-1]), tf.add(tf.mean(s(m.hook.loraA), 1), tf.mean(s(m.hook.loraB), 0)));
    const scale = tf.max(want).dataSync()[0];
    expect(scale).toBeGreaterThan(0);
    expect(maxDiff(tf.tensor1d(rankAllocator(peft).tripletScores(m)), want) / scale).toBeLessThan(1e-5);
    expect(peft.config().rank_pattern).toBeNull();
  });

  it('masks E to the budget, keeps the final pattern in the config, and re-applies it after', () => {
    const { peft } = setup();
    const vars = peft.trainableParameters().map(([, v]) => v);
    const opt = tf.train.adam(0.01);
    const budgets: number[] = [];
    for (let step = 0; step < 4; step++) {
      const { grads } = tf.variableGrads(
        () => tf.add(tf.mean(tf.square(peft.forward(ids()))), orthogonalRegularization(peft)) as tf.Scalar,
        vars,
      );
      opt.applyGradients(Object.entries(grads).map(([name, tensor]) => ({ name, tensor })));
      budgets.push(updateAndAllocate(peft, 'default', grads, step).budget);
      tf.dispose(Object.values(grads));
    }
    expect(budgets).toEqual([6, 3, 2, 2]); // ⌊4·(1 − t/3)³ + 2⌋
    const pattern = (peft.config() as AdaLoraConfig).rank_pattern!;
    expect(Object.keys(pattern)).toEqual(['layers.0.q_proj.lora_E', 'layers.0.c_attn.lora_E']);
    expect(Object.values(pattern).flat().filter(Boolean).length).toBe(2);
    const nonZero = peft
      .adapter('default')
      .hooks.map((h) => [...((h.hook as AdaLoraHook).loraE.dataSync() as Float32Array)].map((v) => v !== 0));
    expect(nonZero).toEqual(Object.values(pattern));
  });

  it('saves only the kept ranks (A, E rows; B columns) and loads a checkpoint back into full-rank tensors', () => {
    const { peft } = setup(3);
    const config = peft.config() as AdaLoraConfig;
    config.rank_pattern = { 'layers.0.q_proj.lora_E': [true, false, true], 'layers.0.c_attn.lora_E': [false, false, true] };
    rankAllocator(peft).maskWithPattern(config.rank_pattern);
    const state = adapterStateDict(peft.adapter('default'));
    expect([...state].map(([k, t]) => `${k.replace('base_model.model.layers.0.', '')} [${t.shape}]`)).toEqual([
      'q_proj.lora_A [2,6]',
      'q_proj.lora_E [2,1]',
      'q_proj.lora_B [6,2]',
      'c_attn.lora_A [1,6]',
      'c_attn.lora_E [1,1]',
      'c_attn.lora_B [6,1]',
    ]);
    const h = hookAt(peft);
    expect(maxDiff(state.get('base_model.model.layers.0.q_proj.lora_B')!, tf.gather(h.loraB, [0, 2], 1))).toBe(0);
    const logits = peft.forward(ids());
    const fresh = getPeftModel(new Toy(), { ...BASE, init_r: 3, target_modules: ['q_proj', 'c_attn'] }, 'default', { registry });
    (fresh.config() as AdaLoraConfig).rank_pattern = config.rank_pattern;
    loadAdaLoraState(fresh.adapter('default'), new Map([...state].map(([k, t]) => [k, t.clone()])), 'ckpt');
    expect(hookAt(fresh).loraA.shape).toEqual([3, 6]);
    expect(maxDiff(fresh.forward(ids()), logits)).toBeLessThan(1e-6);
  });

  it('keeps tf.memory().numTensors flat over allocation steps', () => {
    const { peft } = setup();
    const vars = peft.trainableParameters().map(([, v]) => v);
    const counts: number[] = [];
    for (let step = 0; step < 4; step++) {
      const { value, grads } = tf.variableGrads(() => tf.sum(peft.forward(ids())) as tf.Scalar, vars);
      updateAndAllocate(peft, 'default', grads, step);
      tf.dispose([value, ...Object.values(grads)]);
      counts.push(tf.memory().numTensors);
    }
    // the EMAs (2 per factor) exist from step 0 and are dropped at the final step (3 = total_step − tfinal)
    expect(counts[1]).toBe(counts[0]);
    expect(counts[2]).toBe(counts[0]);
    expect(counts[3]).toBe(counts[0] - 2 * 3 * 2);
  });
});
