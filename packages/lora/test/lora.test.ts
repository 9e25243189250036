import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import {
  Conv1D,
  Embedding,
  Linear,
  Module,
  PeftModel,
  PeftRegistry,
  Rng,
  getPeftModel,
  type ModelDims,
  type PeftBaseModel,
  type SiteTable,
} from '@peftjs/core';
import { addWeightedAdapter, lora, parseLoraConfig, rankAndAlpha, LoraHook } from '../src/index.js';

/** emb → q_proj (Linear) → c_attn (Conv1D) → lm_head: every linear-like kind LoRA supports. */
class Toy extends Module implements PeftBaseModel<tf.Tensor, tf.Tensor> {
  readonly dims: ModelDims = { modelType: 'toy', numLayers: 1, hiddenSize: 6, numHeads: 1, numKvHeads: 1, headDim: 6, vocabSize: 10 };
  readonly sites: SiteTable = {};
  readonly outputHeadPaths = ['lm_head'];
  readonly emb: Embedding;
  readonly q: Linear;
  readonly c: Conv1D;
  readonly head: Linear;
  constructor(seed = 1) {
    super();
    const rng = new Rng(seed);
    this.emb = this.registerModule('embed_tokens', new Embedding(10, 6, { rng }));
    const layer = this.registerModule('layers', new Module()).registerModule('0', new Module());
    this.q = layer.registerModule('q_proj', new Linear(6, 6, { rng }));
    this.c = layer.registerModule('c_attn', new Conv1D(6, 6, { rng }));
    this.head = this.registerModule('lm_head', new Linear(6, 10, { bias: false, rng }));
  }
  forward(ids: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.head.forward(tf.tanh(this.c.forward(tf.tanh(this.q.forward(this.emb.forward(ids)))))));
  }
}

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

let reg: PeftRegistry;
beforeEach(() => {
  reg = new PeftRegistry().use(lora);
});
afterEach(() => tf.disposeVariables());

function perturbB(peft: PeftModel<tf.Tensor, tf.Tensor>, name: string, seed: number) {
  const rng = new Rng(seed);
  for (const h of peft.adapter(name).hooks) {
    const hook = h.hook as LoraHook;
    const t = rng.normalTensor(hook.loraB.shape, 0, 0.3);
    hook.loraB.assign(t);
    t.dispose();
  }
}

describe('LoRA config', () => {
  it('fills PEFT defaults (r 8, alpha 8, no dropout, bias none, kaiming init)', () => {
    const c = parseLoraConfig({ target_modules: ['q_proj'] });
    expect(c).toMatchObject({
      peft_type: 'LORA',
      r: 8,
      lora_alpha: 8,
      lora_dropout: 0,
      bias: 'none',
      init_lora_weights: true,
      use_rslora: false,
      fan_in_fan_out: false,
    });
  });

  it('rejects a bad rank naming the field', () => {
    expect(() => parseLoraConfig({ r: 0 })).toThrow('LoRA r must be a positive integer, got 0');
    expect(() => parseLoraConfig({ r: 2.5 })).toThrow(/LoRA r must be a positive integer/);
  });

  it('rejects bad dropout, bias, init and DoRA with the field named', () => {
    expect(() => parseLoraConfig({ lora_dropout: 1 })).toThrow(/lora_dropout/);
    expect(() => parseLoraConfig({ bias: 'some' })).toThrow(/LoRA bias must be "none", "all" or "lora_only"/);
    expect(() => parseLoraConfig({ init_lora_weights: 'pissa' })).toThrow(/init_lora_weights/);
    expect(() => parseLoraConfig({ use_dora: true })).toThrow(/use_dora is not supported/);
    expect(() => parseLoraConfig({ rank_pattern: { q_proj: -1 } })).toThrow(/rank_pattern\["q_proj"\]/);
  });

  it('picks rank and alpha from rank_pattern/alpha_pattern by module-name suffix', () => {
    const c = parseLoraConfig({ r: 4, lora_alpha: 8, rank_pattern: { q_proj: 2 }, alpha_pattern: { 'layers.0.c_attn': 3 } });
    expect(rankAndAlpha(c, 'layers.0.q_proj')).toEqual({ r: 2, alpha: 8 });
    expect(rankAndAlpha(c, 'layers.0.c_attn')).toEqual({ r: 4, alpha: 3 });
    expect(rankAndAlpha(c, 'layers.0.xq_proj')).toEqual({ r: 4, alpha: 8 });
  });
});

describe('LoRA on Linear, Conv1D and Embedding', () => {
  it('starts as the identity (B = 0) and is initialised kaiming-uniform with a = √5', () => {
    const model = new Toy();
    const base = model.forward(ids());
    const peft = getPeftModel(model, { peft_type: 'LORA', r: 4, target_modules: ['q_proj', 'c_attn'] }, 'default', { registry: reg });
    expect(maxDiff(peft.forward(ids()), base)).toBe(0);
    const a = (peft.adapter('default').hooks[0].hook as LoraHook).loraA;
    const bound = Math.sqrt(2 / 6) * Math.sqrt(3 / 6); // gain·√(3/fan_in), gain = √(2/(1+5))
    expect(tf.max(tf.abs(a)).dataSync()[0]).toBeLessThanOrEqual(bound);
    expect(tf.max(tf.abs(a)).dataSync()[0]).toBeGreaterThan(bound * 0.5);
  });

  it('computes base(x) + (α/r)·B·A·x for Linear, and the α/√r scale with use_rslora', () => {
    for (const rslora of [false, true]) {
      const model = new Toy();
      const peft = getPeftModel(
        model,
        { peft_type: 'LORA', r: 4, lora_alpha: 8, use_rslora: rslora, target_modules: ['q_proj'] },
        'default',
        { registry: reg },
      );
      perturbB(peft, 'default', 3);
      const hook = peft.adapter('default').hooks[0].hook as LoraHook;
      const s = rslora ? 8 / 2 : 8 / 4;
      expect(hook.scaling).toBe(s);
      const x = tf.randomNormal([3, 6], 0, 1, 'float32', 7);
      const expected = tf.add(model.q.baseForward(x), tf.mul(tf.matMul(tf.matMul(x, hook.loraA, false, true), hook.loraB, false, true), s));
      expect(maxDiff(model.q.forward(x), expected)).toBeLessThan(1e-5);
      peft.dispose();
    }
  });

  it('treats a Conv1D target as fan_in_fan_out and merges ΔW = (B·A)ᵀ into its [in, out] weight', () => {
    const model = new Toy();
    const peft = getPeftModel(model, { peft_type: 'LORA', r: 2, lora_alpha: 4, target_modules: ['c_attn'] }, 'default', { registry: reg });
    expect(peft.config().fan_in_fan_out).toBe(true);
    perturbB(peft, 'default', 5);
    const before = peft.forward(ids());
    peft.merge();
    expect(maxDiff(peft.forward(ids()), before)).toBeLessThan(1e-5);
    peft.unmerge();
    expect(maxDiff(peft.forward(ids()), before)).toBeLessThan(1e-5);
  });

  it('adapts an Embedding with lora_embedding_A/B and merges it', () => {
    const model = new Toy();
    const base = model.forward(ids());
    const peft = getPeftModel(model, { peft_type: 'LORA', r: 2, target_modules: ['embed_tokens'] }, 'default', { registry: reg });
    const hook = peft.adapter('default').hooks[0].hook as LoraHook;
    expect(hook.loraA.shape).toEqual([2, 10]);
    expect(hook.loraB.shape).toEqual([6, 2]);
    expect(tf.max(tf.abs(hook.loraA)).dataSync()[0]).toBe(0); // A = 0 at init: the identity
    expect(maxDiff(peft.forward(ids()), base)).toBe(0);
    const t = tf.randomNormal([2, 10], 0, 0.5, 'float32', 3);
    hook.loraA.assign(t);
    const adapted = peft.forward(ids());
    expect(maxDiff(adapted, base)).toBeGreaterThan(1e-3);
    peft.merge();
    expect(maxDiff(peft.forward(ids()), adapted)).toBeLessThan(1e-5);
    const saved = [...peft.namedParameters()].map(([n]) => n).filter((n) => n.includes('lora'));
    expect(saved).toEqual(['embed_tokens.lora_embedding_A.default', 'embed_tokens.lora_embedding_B.default']);
  });

  it('uses PEFT default targets per architecture and all-linear skips the output head', () => {
    const model = new Toy();
    expect(() => getPeftModel(model, { peft_type: 'LORA' }, 'default', { registry: reg })).toThrow(
      /no default targets for model type "toy"/,
    );
    const peft = getPeftModel(model, { peft_type: 'LORA', target_modules: 'all-linear' }, 'default', { registry: reg });
    expect(peft.config().target_modules).toEqual(['q_proj', 'c_attn']);
    expect(peft.adapter('default').hooks.map((h) => h.slot.info.path)).toEqual(['layers.0.q_proj', 'layers.0.c_attn']);
  });

  it('names the closest modules when a target is not found', () => {
    const model = new Toy();
    expect(() => getPeftModel(model, { peft_type: 'LORA', target_modules: ['q_projj'] }, 'default', { registry: reg })).toThrow(
      'target_modules ["q_projj"] not found in model (toy): closest names: q_proj',
    );
  });

  it('trains only the LoRA parameters and counts them as PEFT prints them', () => {
    const model = new Toy();
    const peft = getPeftModel(model, { peft_type: 'LORA', r: 2, target_modules: ['q_proj'] }, 'default', { registry: reg });
    const names = peft.trainableParameters().map(([n]) => n);
    expect(names).toEqual(['layers.0.q_proj.lora_A.default.weight', 'layers.0.q_proj.lora_B.default.weight']);
    const lines: string[] = [];
    peft.printTrainableParameters((l) => lines.push(l));
    const all = 10 * 6 + 36 + 6 + 36 + 6 + 60 + 24;
    expect(lines[0]).toBe(`trainable params: 24 || all params: ${all} || trainable%: ${((100 * 24) / all).toFixed(4)}`);
  });

  it('bias="lora_only" trains the bias of targeted layers and saves it as base_layer.bias', () => {
    const model = new Toy();
    const peft = getPeftModel(model, { peft_type: 'LORA', r: 2, target_modules: ['q_proj'], bias: 'lora_only' }, 'default', {
      registry: reg,
    });
    expect(peft.trainableParameters().map(([n]) => n)).toContain('layers.0.q_proj.bias');
    expect(model.q.bias!.trainable).toBe(true);
    expect(model.c.bias!.trainable).toBe(false);
  });

  it('combines adapters with addWeightedAdapter: cat gives exactly Σ wᵢ·ΔWᵢ, linear mixes √w-scaled factors', () => {
    const model = new Toy();
    const peft = new PeftModel(model, { registry: reg });
    peft.addAdapter('a', { peft_type: 'LORA', r: 2, lora_alpha: 4, target_modules: ['q_proj'] });
    peft.addAdapter('b', { peft_type: 'LORA', r: 2, lora_alpha: 2, target_modules: ['q_proj'] });
    perturbB(peft, 'a', 11);
    perturbB(peft, 'b', 12);
    const d = (n: string) => (peft.adapter(n).hooks[0].hook as LoraHook).deltaWeight();
    addWeightedAdapter(peft, ['a', 'b'], [0.7, 0.3], 'cat', 'cat');
    expect(peft.adapter('cat').config.r).toBe(4);
    const want = tf.add(tf.mul(d('a'), 0.7), tf.mul(d('b'), 0.3));
    expect(maxDiff(d('cat'), want)).toBeLessThan(1e-6);
    addWeightedAdapter(peft, ['a', 'b'], [1, 1], 'lin', 'linear');
    const ha = peft.adapter('a').hooks[0].hook as LoraHook;
    const hb = peft.adapter('b').hooks[0].hook as LoraHook;
    const hl = peft.adapter('lin').hooks[0].hook as LoraHook;
    expect(maxDiff(hl.loraA, tf.add(tf.mul(ha.loraA, ha.scaling), tf.mul(hb.loraA, hb.scaling)))).toBeLessThan(1e-6);
    expect(maxDiff(hl.loraB, tf.add(ha.loraB, hb.loraB))).toBeLessThan(1e-6);
    expect(() => addWeightedAdapter(peft, ['a', 'cat'], [1, 1], 'bad', 'linear')).toThrow(/equal ranks/);
  });

  it('runs a mixed batch: each row with its own adapter, __base__ for none', () => {
    const model = new Toy();
    const peft = new PeftModel(model, { registry: reg });
    peft.addAdapter('a', { peft_type: 'LORA', r: 2, target_modules: ['q_proj'] });
    peft.addAdapter('b', { peft_type: 'LORA', r: 2, target_modules: ['q_proj'] });
    perturbB(peft, 'a', 1);
    perturbB(peft, 'b', 2);
    const x = tf.tensor2d(
      [
        [1, 2, 3],
        [4, 5, 9],
        [7, 8, 0],
      ],
      [3, 3],
      'int32',
    );
    const mixed = peft.forward(x, { adapterNames: ['b', '__base__', 'a'] });
    const row = (i: number) => tf.slice(x, [i, 0], [1, 3]);
    peft.setAdapter('b');
    const r0 = peft.forward(row(0));
    const r1 = peft.disableAdapter(() => peft.forward(row(1)));
    peft.setAdapter('a');
    const r2 = peft.forward(row(2));
    expect(maxDiff(mixed, tf.concat([r0, r1, r2], 0))).toBeLessThan(1e-6);
    expect(peft.activeAdapters).toEqual(['a']);
  });

  it('uses the fused PeftLoraMatMul op in eval and gives the same gradients as the unfused path', () => {
    const model = new Toy();
    const peft = getPeftModel(model, { peft_type: 'LORA', r: 2, lora_dropout: 0.1, target_modules: ['q_proj'] }, 'default', {
      registry: reg,
    });
    perturbB(peft, 'default', 9);
    const x = tf.randomNormal([4, 6], 0, 1, 'float32', 1);
    const vars = peft.trainableParameters().map(([, v]) => v);
    const lossOf = () => tf.sum(tf.square(model.q.forward(x))) as tf.Scalar;
    peft.eval(); // fused (dropout off)
    const g1 = tf.variableGrads(lossOf, vars);
    const hook = peft.adapter('default').hooks[0].hook as LoraHook;
    const unfused = tf.variableGrads(() => {
      const y = tf.add(
        model.q.baseForward(x),
        tf.mul(tf.matMul(tf.matMul(x, hook.loraA, false, true), hook.loraB, false, true), hook.scaling),
      );
      return tf.sum(tf.square(y)) as tf.Scalar;
    }, vars);
    expect(Math.abs(g1.value.dataSync()[0] - unfused.value.dataSync()[0])).toBeLessThan(1e-3);
    for (const k of Object.keys(g1.grads)) expect(maxDiff(g1.grads[k], unfused.grads[k])).toBeLessThan(1e-4);
  });
});
