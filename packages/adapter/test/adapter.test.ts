import { readFile } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import {
  PeftModel,
  PeftRegistry,
  Rng,
  adapterStateDict,
  getPeftModel,
  loadAdapter,
  saveAdapter,
  type ModelOutput,
  type TokenBatch,
} from '@peftjs/core';
import { withTmpDir } from '@peftjs/testing';
import {
  BottleneckAdapter,
  bottleneckAdapter,
  bottleneckSize,
  dense,
  layerNorm,
  parseBottleneckConfig,
  type BottleneckConfig,
} from '../src/index.js';
import { FAMILIES, familyBatch, familyModel, type Family } from './families.js';

const registry = new PeftRegistry().use(bottleneckAdapter);
const TYPE = { peft_type: 'BOTTLENECK_ADAPTER' };
const maxDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
const logits = (peft: PeftModel<TokenBatch, ModelOutput>, family: Family) => tf.tidy(() => peft.forward(familyBatch(family)).logits);

afterEach(() => tf.disposeVariables());

function hooks(peft: PeftModel<TokenBatch, ModelOutput>, name = 'default'): BottleneckAdapter[] {
  return peft.adapter(name).hooks.map((h) => h.hook as BottleneckAdapter);
}

/** Gives every adapter parameter seeded random values (so that no zero init hides a path). */
function randomize(peft: PeftModel<TokenBatch, ModelOutput>, name = 'default', seed = 9): void {
  const rng = new Rng(seed);
  for (const h of peft.adapter(name).hooks) {
    for (const [, v] of h.params.namedParameters()) {
      const t = rng.normalTensor(v.shape, 0, 0.3);
      v.assign(t);
      t.dispose();
    }
  }
}

describe('bottleneck config (AdapterHub fields)', () => {
  it('makes Houlsby double_seq_bn: after attention and feed-forward, swish, reduction 16', () => {
    expect(parseBottleneckConfig({ config: 'double_seq_bn' })).toMatchObject({
      mh_adapter: true,
      output_adapter: true,
      non_linearity: 'swish',
      reduction_factor: 16,
      original_ln_before: false,
      original_ln_after: true,
      residual_before_ln: true,
      init_weights: 'bert',
      scaling: 1,
    });
    expect(parseBottleneckConfig({ config: 'houlsby' }).mh_adapter).toBe(true);
  });

  it('makes Pfeiffer seq_bn (the default): after the feed-forward block, relu, reduction 16, original LayerNorm before', () => {
    const want = {
      mh_adapter: false,
      output_adapter: true,
      non_linearity: 'relu',
      reduction_factor: 16,
      original_ln_before: true,
      original_ln_after: true,
    };
    expect(parseBottleneckConfig({ config: 'seq_bn' })).toMatchObject(want);
    expect(parseBottleneckConfig({})).toMatchObject(want);
  });

  it('makes the parallel par_bn: zero up-projection (mam_adapter), scaling 4, reduction 2', () => {
    expect(parseBottleneckConfig({ config: 'par_bn' })).toMatchObject({
      is_parallel: true,
      init_weights: 'mam_adapter',
      scaling: 4,
      reduction_factor: 2,
    });
  });

  it('takes overrides beside a preset and reads the saved form with fields under `config`', () => {
    expect(parseBottleneckConfig({ config: 'double_seq_bn', reduction_factor: 64, leave_out: [0] })).toMatchObject({
      reduction_factor: 64,
      leave_out: [0],
      mh_adapter: true,
    });
    const saved = {
      config: { ...parseBottleneckConfig({ config: 'double_seq_bn' }), phm_layer: false, inv_adapter: null },
      name: 'a',
      hidden_size: 32,
    };
    expect(parseBottleneckConfig(saved as Record<string, unknown>)).toMatchObject({
      mh_adapter: true,
      non_linearity: 'swish',
      name: 'a',
      hidden_size: 32,
    });
  });

  it('rejects bad fields naming them', () => {
    expect(() => parseBottleneckConfig({ config: 'lora' })).toThrow(
      /Bottleneck adapter config "lora" is not a bottleneck preset; use one of seq_bn, double_seq_bn, par_bn/,
    );
    expect(() => parseBottleneckConfig({ reduction_factor: 0 })).toThrow('Bottleneck adapter reduction_factor must be a positive number');
    expect(() => parseBottleneckConfig({ non_linearity: 'softplus' })).toThrow(
      /Bottleneck adapter non_linearity must be one of relu, swish/,
    );
    expect(() => parseBottleneckConfig({ init_weights: 'lora' })).toThrow(/init_weights/);
    expect(() => parseBottleneckConfig({ use_gating: true })).toThrow('Bottleneck adapter use_gating is not supported by @peftjs/adapter');
    expect(() => parseBottleneckConfig({ mh_adapter: false, output_adapter: false })).toThrow(/placed nowhere/);
    expect(() => parseBottleneckConfig({ leave_out: [-1] })).toThrow(/leave_out/);
  });

  it('sizes the bottleneck as ⌊hidden / reduction_factor⌋, per layer with a map, at least 1', () => {
    const c = parseBottleneckConfig({ reduction_factor: { '1': 4, default: 16 } });
    expect([bottleneckSize(c, 768, 0), bottleneckSize(c, 768, 1)]).toEqual([48, 192]);
    expect(bottleneckSize(parseBottleneckConfig({ reduction_factor: 64 }), 32, 0)).toBe(1);
  });
});

describe('bottleneck initialisation', () => {
  it('mam_adapter starts as exactly the identity (zero up-projection)', () => {
    const model = familyModel('llama');
    const base = tf.tidy(() => model.forward(familyBatch('llama')).logits);
    const peft = getPeftModel(model, { ...TYPE, config: 'double_seq_bn', init_weights: 'mam_adapter' }, 'default', { registry });
    expect(maxDiff(logits(peft, 'llama'), base)).toBe(0);
  });

  it('bert draws both projections from N(0, 0.02); houlsby from a normal with std 1e-2 truncated at ±2e-2', () => {
    const values = (init: string) => {
      const peft = getPeftModel(
        familyModel('llama'),
        { ...TYPE, config: 'double_seq_bn', reduction_factor: 2, init_weights: init },
        'default',
        { registry },
      );
      const ws = peft
        .trainableParameters()
        .filter(([n]) => n.endsWith('.weight'))
        .map(([, v]) => [...(v.dataSync() as Float32Array)]);
      return ws.flat();
    };
    const std = (xs: number[]) => Math.sqrt(xs.reduce((s, x) => s + x * x, 0) / xs.length);
    const bert = values('bert');
    expect(std(bert)).toBeGreaterThan(0.018);
    expect(std(bert)).toBeLessThan(0.022);
    const houlsby = values('houlsby');
    expect(Math.max(...houlsby.map(Math.abs))).toBeLessThanOrEqual(0.02);
    expect(std(houlsby)).toBeGreaterThan(0.0078); // a N(0, 1) truncated at ±2 has std 0.88
    expect(std(houlsby)).toBeLessThan(0.0098);
  });
});

describe('what a bottleneck computes at a sublayerOutput site (AdapterHub semantics)', () => {
  const h = () => tf.randomNormal([2, 3, 32], 0, 1, 'float32', 1);
  const x = () => tf.randomNormal([2, 3, 32], 0, 1, 'float32', 2);
  const p = (hook: BottleneckAdapter, name: string) => hook.params.namedParameters().find(([n]) => n === name)![1];
  const adapt = (hook: BottleneckAdapter, z: tf.Tensor, f: (t: tf.Tensor) => tf.Tensor, s = 1) =>
    tf.mul(
      dense(
        f(dense(z, p(hook, 'adapter_down.0.weight'), p(hook, 'adapter_down.0.bias'))),
        p(hook, 'adapter_up.weight'),
        p(hook, 'adapter_up.bias'),
      ),
      s,
    );
  const swish = (t: tf.Tensor) => tf.mul(t, tf.sigmoid(t));

  it('Houlsby: h + up(swish(down(h))) (the model then adds the residual)', () => {
    const peft = getPeftModel(familyModel('llama'), { ...TYPE, config: 'double_seq_bn' }, 'default', { registry });
    randomize(peft);
    const hook = hooks(peft)[0];
    expect(maxDiff(hook.forward(h(), x(), { training: false }), tf.add(h(), adapt(hook, h(), swish)))).toBeLessThan(1e-5);
  });

  it("Pfeiffer on a pre-LN model (LLaMA): h + up(relu(down(h + x))), as AdapterHub without the layer's LayerNorm", () => {
    const peft = getPeftModel(familyModel('llama'), { ...TYPE, config: 'seq_bn' }, 'default', { registry });
    randomize(peft);
    const hook = hooks(peft)[0];
    expect(maxDiff(hook.forward(h(), x(), { training: false }), tf.add(h(), adapt(hook, tf.add(h(), x()), tf.relu)))).toBeLessThan(1e-5);
  });

  it("Pfeiffer on BERT: h + up(relu(down(LN(h + x)))) with the sublayer's own LayerNorm (original_ln_before)", () => {
    const model = familyModel('bert');
    const peft = getPeftModel(model, { ...TYPE, config: 'seq_bn' }, 'default', { registry });
    randomize(peft);
    const hook = hooks(peft)[0];
    const ln = model.getModule('bert.encoder.layer.0.output.LayerNorm');
    const lnOf = (t: tf.Tensor) => layerNorm(t, ln.parameter('weight')!, ln.parameter('bias')!, 1e-12);
    expect(maxDiff(hook.forward(h(), x(), { training: false }), tf.add(h(), adapt(hook, lnOf(tf.add(h(), x())), tf.relu)))).toBeLessThan(
      1e-5,
    );
  });

  it('parallel: h + 4·up(relu(down(x))), reading the sublayer input', () => {
    const peft = getPeftModel(familyModel('gpt2'), { ...TYPE, config: 'par_bn' }, 'default', { registry });
    randomize(peft);
    const hook = hooks(peft)[0];
    expect(maxDiff(hook.forward(h(), x(), { training: false }), tf.add(h(), adapt(hook, x(), tf.relu, 4)))).toBeLessThan(1e-5);
  });

  it('original_ln_after=false on a pre-LN model returns the adapter output without the residual (h′ − x)', () => {
    const peft = getPeftModel(familyModel('llama'), { ...TYPE, config: 'double_seq_bn', original_ln_after: false }, 'default', {
      registry,
    });
    randomize(peft);
    const hook = hooks(peft)[0];
    expect(maxDiff(hook.forward(h(), x(), { training: false }), tf.sub(tf.add(h(), adapt(hook, h(), swish)), x()))).toBeLessThan(1e-5);
  });

  it('original_ln_after=false on BERT is refused: the model applies its LayerNorm after the site', () => {
    expect(() => getPeftModel(familyModel('bert'), { ...TYPE, original_ln_after: false }, 'default', { registry })).toThrow(
      /original_ln_after=false is not supported on bert: the model applies its LayerNorm after the sublayerOutput site \(bert\.encoder\.layer\.0\.output\)/,
    );
  });
});

describe('bottleneck adapters on LLaMA, GPT-2 and BERT', () => {
  for (const family of FAMILIES) {
    it(`${family}: Houlsby places two adapters per layer, Pfeiffer one, leave_out none, and training changes the output`, () => {
      const model = familyModel(family);
      const base = tf.tidy(() => model.forward(familyBatch(family)).logits);
      const peft = new PeftModel(model, { registry });
      peft.addAdapter('houlsby', { ...TYPE, config: 'double_seq_bn', reduction_factor: 8 });
      peft.addAdapter('pfeiffer', { ...TYPE, config: 'seq_bn', reduction_factor: 8, leave_out: [1] });
      expect(peft.adapter('houlsby').hooks.map((h) => `${h.slot.info.layer}:${h.slot.info.position}`)).toEqual([
        '0:attention',
        '0:ffn',
        '1:attention',
        '1:ffn',
      ]);
      expect(peft.adapter('pfeiffer').hooks.map((h) => `${h.slot.info.layer}:${h.slot.info.position}`)).toEqual(['0:ffn']);
      peft.setAdapter('houlsby');
      const before = logits(peft, family);
      const vars = peft.trainableParameters().map(([, v]) => v);
      const opt = tf.train.adam(1e-2);
      peft.train();
      for (let i = 0; i < 3; i++) opt.minimize(() => peft.forward(familyBatch(family, true)).loss as tf.Scalar, false, vars);
      peft.eval();
      expect(maxDiff(logits(peft, family), before)).toBeGreaterThan(1e-4);
      expect(
        maxDiff(
          peft.disableAdapter(() => logits(peft, family)),
          base,
        ),
      ).toBe(0);
    });
  }

  it("saves AdapterHub's names per family (BertOutput holds its adapters; LLaMA and GPT-2 layers hold attention_/output_adapters)", () => {
    const names = (family: Family) => {
      const peft = getPeftModel(familyModel(family), { ...TYPE, config: 'double_seq_bn', reduction_factor: 8 }, 'fables', { registry });
      return [...adapterStateDict(peft.adapter('fables')).keys()].filter(
        (k) => k.includes('layer.0.') || k.includes('layers.0.') || k.includes('h.0.'),
      );
    };
    expect(names('bert')).toEqual([
      'bert.encoder.layer.0.attention.output.adapters.fables.adapter_down.0.weight',
      'bert.encoder.layer.0.attention.output.adapters.fables.adapter_down.0.bias',
      'bert.encoder.layer.0.attention.output.adapters.fables.adapter_up.weight',
      'bert.encoder.layer.0.attention.output.adapters.fables.adapter_up.bias',
      'bert.encoder.layer.0.output.adapters.fables.adapter_down.0.weight',
      'bert.encoder.layer.0.output.adapters.fables.adapter_down.0.bias',
      'bert.encoder.layer.0.output.adapters.fables.adapter_up.weight',
      'bert.encoder.layer.0.output.adapters.fables.adapter_up.bias',
    ]);
    expect(names('llama').filter((k) => k.endsWith('down.0.weight'))).toEqual([
      'model.layers.0.attention_adapters.adapters.fables.adapter_down.0.weight',
      'model.layers.0.output_adapters.adapters.fables.adapter_down.0.weight',
    ]);
    expect(names('gpt2').filter((k) => k.endsWith('up.weight'))).toEqual([
      'transformer.h.0.attention_adapters.adapters.fables.adapter_up.weight',
      'transformer.h.0.output_adapters.adapters.fables.adapter_up.weight',
    ]);
  });

  it('writes AdapterHub\'s adapter_config.json (architecture under "config") and loads it under another name', async () => {
    const peft = getPeftModel(
      familyModel('bert'),
      { ...TYPE, task_type: 'SEQ_CLS', config: 'seq_bn', reduction_factor: 8, ln_before: true },
      'sentiment',
      { registry },
    );
    randomize(peft, 'sentiment');
    const want = logits(peft, 'bert');
    await withTmpDir(async (dir) => {
      await saveAdapter(peft, dir);
      const json = JSON.parse(await readFile(`${dir}/sentiment/adapter_config.json`, 'utf8'));
      expect(json).toMatchObject({
        peft_type: 'BOTTLENECK_ADAPTER',
        name: 'sentiment',
        hidden_size: 32,
        model_type: 'bert',
        task_type: 'SEQ_CLS',
      });
      expect(json.config).toMatchObject({
        architecture: 'bottleneck',
        mh_adapter: false,
        output_adapter: true,
        reduction_factor: 8,
        non_linearity: 'relu',
        original_ln_before: true,
        ln_before: true,
      });
      expect(await readFile(`${dir}/sentiment/adapter_config.json`, 'utf8')).toContain('"scaling": 1.0');
      const fresh = new PeftModel(familyModel('bert'), { registry });
      await loadAdapter(fresh, `${dir}/sentiment`, 'other');
      expect(maxDiff(logits(fresh, 'bert'), want)).toBe(0);
      const keys = [...adapterStateDict(fresh.adapter('other')).keys()];
      expect(keys).toContain('bert.encoder.layer.1.output.adapters.other.adapter_norm_before.weight');
      expect(keys).toContain('classifier.weight'); // the SEQ_CLS head is trained and saved beside the adapter
    });
  });

  it('refuses to merge, saying why', () => {
    const peft = getPeftModel(familyModel('gpt2'), { ...TYPE, config: 'double_seq_bn' }, 'default', { registry });
    expect(() => peft.merge()).toThrow(
      'Bottleneck adapter adapter "default" cannot be merged: a bottleneck adapter is a new non-linear block (down-projection, activation, up-projection) in the residual stream: it adds depth',
    );
  });

  it('refuses a config made for another hidden size and a leave_out past the last layer', () => {
    expect(() => getPeftModel(familyModel('llama'), { ...TYPE, hidden_size: 768 }, 'default', { registry })).toThrow(
      'Bottleneck adapter hidden_size 768 does not match model llama (hidden size 32)',
    );
    expect(() => getPeftModel(familyModel('llama'), { ...TYPE, leave_out: [5] }, 'default', { registry })).toThrow(
      'Bottleneck adapter leave_out [5]: model llama has layers 0…1',
    );
    expect((parseBottleneckConfig({}) as BottleneckConfig).name).toBeNull();
  });
});
