import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  Linear,
  Module,
  PeftModel,
  PeftRegistry,
  defineConfigFields,
  definePeftMethod,
  field,
  loadAdapter,
  saveAdapter,
  type ConfigOf,
  type LinearHook,
  type ModelDims,
  type ModelOutput,
  type PeftBaseModel,
  type TokenBatch,
} from '../src/index.js';

const SCALE_FIELDS = defineConfigFields('Scale', 'SCALE', {
  r: field.positiveInt(8),
  alpha: field.number(8),
  dropout: field.float(0, { min: 0, max: 1, maxOpen: true }),
  beta: field.float(0.85, { min: 0, max: 1, minOpen: true, maxOpen: true }),
  weight: field.float(0.5, { min: 0, minOpen: true }),
  size: field.positiveInt(null, { nullable: true }),
  bias: field.oneOf(['none', 'all', 'lora_only'] as const, 'none'),
  init: field.oneOf([true, false, 'gaussian'] as const, true),
  target_modules: field.stringOrList(),
  modules_to_save: field.moduleList(),
  rank_pattern: field.patternMap(field.positiveInt(1)),
  count: field.required(field.positiveInt(0)),
  extra: field.keep({}),
});
type ScaleConfig = ConfigOf<typeof SCALE_FIELDS>;

describe('the config field kit', () => {
  it('fills PEFT-style defaults (base fields included) and keeps undeclared keys', () => {
    const c = SCALE_FIELDS.parse({ count: 2, from_newer_peft: 1 });
    expect(c).toMatchObject({
      peft_type: 'SCALE',
      r: 8,
      alpha: 8,
      dropout: 0,
      bias: 'none',
      init: true,
      target_modules: null,
      rank_pattern: {},
      extra: {},
    });
    expect(c).toMatchObject({ task_type: null, base_model_name_or_path: null, revision: null, inference_mode: false, from_newer_peft: 1 });
    expect(SCALE_FIELDS.defaults).not.toHaveProperty('count');
    expect(SCALE_FIELDS.floatFields).toEqual(['dropout', 'beta', 'weight']);
    expect(SCALE_FIELDS.fields).toEqual(
      expect.arrayContaining(['peft_type', 'task_type', 'inference_mode', 'modules_to_save', 'r', 'rank_pattern', 'extra']),
    );
  });

  it('errors name the method and the field, with the value', () => {
    const bad = (raw: Record<string, unknown>) => () => SCALE_FIELDS.parse({ count: 1, ...raw });
    expect(bad({ r: 0 })).toThrow('Scale r must be a positive integer, got 0');
    expect(bad({ r: 2.5 })).toThrow('Scale r must be a positive integer, got 2.5');
    expect(bad({ alpha: Infinity })).toThrow('Scale alpha must be a finite number, got Infinity');
    expect(bad({ dropout: 1 })).toThrow('Scale dropout must be a number in [0, 1), got 1');
    expect(bad({ beta: 0 })).toThrow('Scale beta must be a number in (0, 1), got 0');
    expect(bad({ weight: 0 })).toThrow('Scale weight must be greater than 0, got 0');
    expect(bad({ size: -1 })).toThrow('Scale size must be a positive integer or null, got -1');
    expect(bad({ bias: 'some' })).toThrow('Scale bias must be "none", "all" or "lora_only", got "some"');
    expect(bad({ init: 'pissa' })).toThrow('Scale init must be true, false or "gaussian", got "pissa"');
    expect(bad({ target_modules: [1] })).toThrow('Scale target_modules must be a string or a list of strings or null, got [1]');
    expect(bad({ modules_to_save: 'head' })).toThrow('Scale modules_to_save must be a list of module names or null, got "head"');
    expect(bad({ rank_pattern: { q_proj: -1 } })).toThrow('Scale rank_pattern["q_proj"] must be a positive integer, got -1');
    expect(bad({ peft_type: 'LORA' })).toThrow('Scale peft_type must be "SCALE", got "LORA"');
    expect(() => SCALE_FIELDS.parse({})).toThrow('Scale count must be a positive integer, got undefined');
  });

  it('copies lists, so that a parsed config shares nothing with its input', () => {
    const targets = ['q'];
    const c = SCALE_FIELDS.parse({ count: 1, target_modules: targets });
    targets.push('k');
    expect(c.target_modules).toEqual(['q']);
  });
});

/** One linear layer `proj`, a token model in name only. */
class Tiny extends Module implements PeftBaseModel<TokenBatch, ModelOutput> {
  readonly dims: ModelDims = { modelType: 'tiny', numLayers: 1, hiddenSize: 2, numHeads: 1, numKvHeads: 1, headDim: 2, vocabSize: 2 };
  readonly sites = {};
  readonly proj = this.registerModule('proj', new Linear(2, 2));
  nameOrPath?: string;
  forward(batch: TokenBatch): ModelOutput {
    return { logits: this.proj.forward(tf.cast(batch.inputIds, 'float32')) };
  }
}

class ScaleHook implements LinearHook {
  readonly params = new Module();
  readonly scale = this.params.registerParameter('scale', tf.ones([2]));
  forward(x: tf.Tensor, next: (x: tf.Tensor) => tf.Tensor): tf.Tensor {
    return tf.mul(next(x), this.scale);
  }
}

const scale = definePeftMethod<ScaleConfig>({
  meta: { name: 'Scale', packageName: 'scale-test' },
  type: 'SCALE',
  sites: ['linear'],
  config: { parse: (raw) => SCALE_FIELDS.parse(raw), fields: SCALE_FIELDS.fields, floatFields: SCALE_FIELDS.floatFields },
  hooks: {
    inject(ctx) {
      for (const { module } of ctx.selectLinear({ targetModules: ['proj'] })) {
        const hook = new ScaleHook();
        ctx.attach(module.peft, hook, hook.params);
      }
    },
  },
});

const peftModel = () => new PeftModel(new Tiny(), { registry: new PeftRegistry().use(scale) });

describe('PeftModel.addAdapter and config fields', () => {
  it('refuses an unknown field in a config given in code, naming the closest valid names, and changes nothing', () => {
    const peft = peftModel();
    expect(() => peft.addAdapter('default', { peft_type: 'SCALE', count: 1, alhpa: 16 })).toThrow(
      'Scale config: unknown field "alhpa"; did you mean alpha',
    );
    expect(peft.adapterNames).toEqual([]);
    expect(() => peft.addAdapter('default', { peft_type: 'SCALE', count: 1, rank_patern: {} })).toThrow(/did you mean rank_pattern/);
  });

  it('checks the base PEFT fields once, where the adapter is added', () => {
    const peft = peftModel();
    expect(() => peft.addAdapter('a', { peft_type: 'SCALE', count: 1, inference_mode: 'yes' })).toThrow(
      'Scale inference_mode must be true or false, got "yes"',
    );
    expect(() => peft.addAdapter('a', { peft_type: 'SCALE', count: 1, task_type: 3 })).toThrow(
      'Scale task_type must be a string or null, got 3',
    );
    expect(() => peft.addAdapter('a', { peft_type: 'SCALE', count: 1, base_model_name_or_path: ['x'] })).toThrow(
      /Scale base_model_name_or_path must be a string/,
    );
    expect(peft.adapterNames).toEqual([]);
    peft.dispose();
  });

  it('fills base_model_name_or_path from the model it was loaded from, as PEFT does, unless the config names one', () => {
    const base = new Tiny();
    base.nameOrPath = 'models/tiny';
    const peft = new PeftModel(base, { registry: new PeftRegistry().use(scale) });
    expect(peft.addAdapter('a', { peft_type: 'SCALE', count: 1 }).config.base_model_name_or_path).toBe('models/tiny');
    expect(peft.addAdapter('b', { peft_type: 'SCALE', count: 1, base_model_name_or_path: 'org/x' }).config.base_model_name_or_path).toBe(
      'org/x',
    );
    peft.dispose();
  });

  it('keeps unknown keys of an adapter_config.json (a newer PEFT) and writes them back', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'peftjs-fields-'));
    try {
      const a = peftModel();
      a.addAdapter('default', { peft_type: 'SCALE', count: 1 });
      await saveAdapter(a, dir);
      const file = path.join(dir, 'adapter_config.json');
      const json = JSON.parse(await readFile(file, 'utf8'));
      await writeFile(file, JSON.stringify({ ...json, from_newer_peft: { x: 1 } }));
      const b = peftModel();
      await loadAdapter(b, dir);
      expect(b.config().from_newer_peft).toEqual({ x: 1 });
      await saveAdapter(b, dir);
      expect(JSON.parse(await readFile(file, 'utf8')).from_newer_peft).toEqual({ x: 1 });
      a.dispose();
      b.dispose();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
