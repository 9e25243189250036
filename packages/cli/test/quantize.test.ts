import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PeftModel, PeftRegistry, saveAdapter } from '@peftjs/core';
import { lora } from '@peftjs/lora';
import { loadModel } from '@peftjs/models';
import { linear4bitModules } from '@peftjs/qlora';
import { paths, peft, tmp, bundledTrain } from './helpers.js';

const QLORA = resolve(process.env.PEFTJS_FIXTURES ?? join(__dirname, '../../../../shared/fixtures'), 'qlora');
const folder = existsSync(QLORA) ? readdirSync(QLORA).find((d) => existsSync(join(QLORA, d, 'model.safetensors'))) : undefined;

describe('4-bit bases in the CLI', () => {
  it('train --quantize nf4 (with --gradient-checkpointing) trains LoRA on a base quantized while loading; bad values are usage errors', async () => {
    const out = tmp();
    const r = await peft(
      ...bundledTrain(out),
      '--quantize',
      'nf4',
      '--gradient-checkpointing',
      '--steps',
      '2',
      '--batch-size',
      '2',
      '--eval-every',
      '2',
      '--backend',
      'cpu',
      '--r',
      '4',
    );
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const cfg = JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    expect(cfg.peft_type).toBe('LORA');
    expect((await peft('train', '--model', paths.model, '--data', paths.train, '--out', tmp(), '--quantize', 'int3')).err).toMatch(
      /--quantize must be nf4, fp4; got "int3"/,
    );
    expect(
      (await peft('train', '--model', paths.model, '--data', paths.train, '--out', tmp(), '--quantize', 'nf4', '--double-quant', 'maybe'))
        .err,
    ).toMatch(/--double-quant must be true, false; got "maybe"/);
  }, 300_000);

  it.skipIf(!folder)(
    'inspect shows the quantization of a bitsandbytes folder; merge on it writes a float folder',
    async () => {
      const dir = join(QLORA, folder!);
      const r = await peft('inspect', '--model', dir);
      expect(r.code).toBe(0);
      expect(r.out).toMatch(
        /quantization: bitsandbytes 4-bit \((nf4|fp4)(, double quant)?, blocks of 64\) on \d+ linears, 4\.\d{3} bits\/param; memory: 4-bit linears/,
      );
      const base = await loadModel(dir);
      const p = new PeftModel(base as never, { registry: new PeftRegistry().use(lora) });
      p.addAdapter('default', { peft_type: 'LORA', target_modules: ['q_proj', 'v_proj'], r: 2, lora_alpha: 4, init_lora_weights: false });
      const adapter = tmp();
      await saveAdapter(p, adapter);
      const merged = tmp();
      const m = await peft('merge', '--model', dir, '--adapter', adapter, '--out', merged, '--dtype', 'float32');
      expect(m.err).toBe('');
      expect(m.out).toMatch(/4-bit linears dequantized/);
      const cfg = JSON.parse(readFileSync(join(merged, 'config.json'), 'utf8')) as Record<string, unknown>;
      expect(cfg.quantization_config).toBeUndefined();
      expect(linear4bitModules(await loadModel(merged))).toEqual([]);
    },
    300_000,
  );
});
