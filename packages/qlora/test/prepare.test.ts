import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel, type LlamaForCausalLM } from '@peftjs/models';
import '../src/register.js';
import { prepareModelForKbitTraining } from '../src/prepare.js';
import { QLORA, QLORA_FOLDERS } from './helpers.js';

describe.skipIf(QLORA_FOLDERS.length === 0)('prepareModelForKbitTraining', () => {
  it('freezes every base parameter, keeps them float32, and refuses activation recomputation it cannot do', async () => {
    const base = (await loadModel(join(QLORA, QLORA_FOLDERS[0]))) as LlamaForCausalLM;
    base.requiresGrad(true);
    expect(() => prepareModelForKbitTraining(base, { gradientCheckpointing: true })).toThrow(/not implemented/);
    const r = prepareModelForKbitTraining(base);
    const manifest = JSON.parse(readFileSync(join(QLORA, QLORA_FOLDERS[0], 'manifest.json'), 'utf8')) as { modules: unknown[] };
    expect(r.quantizedLinears).toBe(manifest.modules.length);
    expect(r.frozen).toBe(base.namedParameters().length);
    for (const [, v] of base.namedParameters()) {
      expect(v.trainable).toBe(false);
      expect(v.dtype).toBe('float32');
    }
    base.dispose();
  });
});
