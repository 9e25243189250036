import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { Module, PeftModel, PeftRegistry, defineConfigFields, definePeftMethod, field, saveAdapter, type ConfigOf } from '@peftjs/core';
import { loadModel } from '../src/index.js';

/** A one-field method that scales the output of `q_proj` layers: enough to save an adapter. */
const SCALE = defineConfigFields('Scale', 'SCALE', { init: field.float(1) });
const scale = definePeftMethod<ConfigOf<typeof SCALE>>({
  meta: { name: 'Scale', packageName: 'scale-test' },
  type: 'SCALE',
  sites: ['linear'],
  config: { parse: (raw) => SCALE.parse(raw), fields: SCALE.fields },
  hooks: {
    inject(ctx, config) {
      for (const { module } of ctx.selectLinear({ targetModules: ['q_proj'] })) {
        const params = new Module();
        const s = params.registerParameter('scale', tf.fill([module.outFeatures], config.init));
        ctx.attach(module.peft, { forward: (x, next) => tf.mul(next(x), s) }, params);
      }
    },
  },
});

const DIR = fileURLToPath(new URL('../assets/peftjs-tiny-llama', import.meta.url));

describe.skipIf(!existsSync(DIR))('base_model_name_or_path', () => {
  it('a loaded model remembers its folder, and an adapter saved on it names that folder as PEFT does', async () => {
    const base = await loadModel(DIR);
    expect(base.nameOrPath).toBe(DIR);
    const out = await mkdtemp(path.join(os.tmpdir(), 'peftjs-name-'));
    const peft = new PeftModel(base, { registry: new PeftRegistry().use(scale) });
    try {
      peft.addAdapter('default', { peft_type: 'SCALE' });
      peft.addAdapter('given', { peft_type: 'SCALE', base_model_name_or_path: 'org/model' });
      expect(peft.config('given').base_model_name_or_path).toBe('org/model');
      await saveAdapter(peft, out, { adapterNames: ['default'] });
      const written = JSON.parse(await readFile(path.join(out, 'adapter_config.json'), 'utf8'));
      expect(written.base_model_name_or_path).toBe(DIR);
    } finally {
      peft.dispose();
      base.dispose();
      await rm(out, { recursive: true, force: true });
    }
  });
});
