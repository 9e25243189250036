import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { loadModel } from '@peftjs/models';
import { parseArgs, parseLooseValue } from '../src/args.js';
import { trainSpec } from '../src/commands/train.js';
import { paths, peft, tmp, bundledTrain } from './helpers.js';

describe('argument parsing', () => {
  it('reads typed flags and passes unknown ones to the method config as snake_case', () => {
    const a = parseArgs(trainSpec, [
      '--model',
      'm',
      '--data',
      'd.jsonl',
      '--out',
      'o',
      '--steps',
      '5',
      '--r',
      '4',
      '--lora-alpha',
      '8',
      '--target-modules',
      'q_proj,v_proj',
      '--use-rslora',
      'true',
    ]);
    expect(a.flags).toMatchObject({ model: 'm', data: 'd.jsonl', out: 'o', steps: 5, method: 'lora', batchSize: 8 });
    expect(a.extra).toEqual({ r: 4, lora_alpha: 8, target_modules: ['q_proj', 'v_proj'], use_rslora: true });
  });

  it('parses loose values: numbers, booleans, null, lists and JSON', () => {
    expect(parseLooseValue('0.05')).toBe(0.05);
    expect(parseLooseValue('false')).toBe(false);
    expect(parseLooseValue('null')).toBe(null);
    expect(parseLooseValue('a,b')).toEqual(['a', 'b']);
    expect(parseLooseValue('{"q_proj":2}')).toEqual({ q_proj: 2 });
  });
});

describe('peft command errors', () => {
  it('has --help for every command', async () => {
    for (const c of ['train', 'eval', 'generate', 'merge', 'inspect', 'demo']) {
      const r = await peft(c, '--help');
      expect(r.code, c).toBe(0);
      expect(r.out, c).toContain(`peft ${c} —`);
      expect(r.out, c).toContain('Usage:');
    }
  });

  it('an unknown command or a missing required flag is one line and exit code 2', async () => {
    const r = await peft('trian');
    expect(r.code).toBe(2);
    expect(r.err.trim().split('\n')).toHaveLength(1);
    expect(r.err).toContain('unknown command "trian"');
    const m = await peft('train', '--data', 'x.jsonl', '--out', 'o');
    expect(m.code).toBe(2);
    expect(m.err).toContain('--model is required');
  });

  it('a malformed data line names the file and the line, exit code 2', async () => {
    const dir = tmp();
    const data = join(dir, 'bad.jsonl');
    writeFileSync(data, '{"text": "ok"}\n{"text": oops}\n');
    const r = await peft('train', '--model', paths.model, '--data', data, '--out', join(dir, 'out'), '--backend', 'cpu');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/bad\.jsonl:2: invalid JSON/);
    expect(r.err.trim().split('\n')).toHaveLength(1);
  });

  it('a bad method option names the field, exit code 2', async () => {
    const dir = tmp();
    const r = await peft('train', '--model', paths.model, '--data', paths.train, '--out', join(dir, 'o'), '--r', '0', '--backend', 'cpu');
    expect(r.code).toBe(2);
    expect(r.err).toContain('LoRA r must be a positive integer, got 0');
  });

  it('a method that is not installed says which package to install', async () => {
    const dir = tmp();
    const r = await peft(
      'train',
      '--model',
      paths.model,
      '--data',
      paths.train,
      '--out',
      join(dir, 'o'),
      '--method',
      'nosuchmethod',
      '--backend',
      'cpu',
    );
    expect(r.code).toBe(2);
    expect(r.err).toContain('install nosuchmethod');
  });

  it('a folder that is not a model is exit code 2 naming the folder', async () => {
    const dir = tmp();
    const r = await peft('inspect', '--model', dir);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`--model ${dir}: no config.json`);
  });
});

describe('train → inspect → eval → generate → merge on the bundled model', () => {
  const dir = tmp();
  const out = join(dir, 'adapter');
  let trained: Awaited<ReturnType<typeof peft>>;

  beforeAll(async () => {
    trained = await peft(
      ...bundledTrain(out),
      '--steps',
      '4',
      '--batch-size',
      '4',
      '--lr',
      '5e-3',
      '--eval-every',
      '2',
      '--save-every',
      '2',
      '--r',
      '4',
      '--lora-alpha',
      '8',
      '--target-modules',
      'q_proj,v_proj',
    );
  }, 300_000);

  it('train writes PEFT adapter files, checkpoints, metrics.jsonl and report.html, and prints the diagnosis', () => {
    expect(trained.err).toBe('');
    expect(trained.code).toBe(0);
    for (const f of ['adapter_config.json', 'adapter_model.safetensors', 'metrics.jsonl', 'report.html', 'checkpoint-2', 'checkpoint-4']) {
      expect(existsSync(join(out, f)), f).toBe(true);
    }
    const cfg = JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8'));
    expect(cfg).toMatchObject({ peft_type: 'LORA', r: 4, lora_alpha: 8, task_type: 'CAUSAL_LM', inference_mode: true });
    const events = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(events.filter((e) => e.type === 'step')).toHaveLength(4);
    expect(events.filter((e) => e.type === 'eval').length).toBeGreaterThanOrEqual(2);
    // q_proj 192→192: 4·192 + 192·4; v_proj 192→96 (2 kv heads): 4·192 + 96·4; ×4 layers = 10,752
    expect(trained.out).toContain(
      `trainable params: 10,752 || all params: ${(2_164_416 + 10_752).toLocaleString('en-US')} || trainable%: ${((100 * 10_752) / (2_164_416 + 10_752)).toFixed(4)}`,
    );
    expect(trained.out).toMatch(/diagnosis: /);
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    expect(html).toContain('<svg');
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org)/);
  });

  it('inspect summarises the model sites and the adapter', async () => {
    const r = await peft('inspect', '--model', paths.model, '--adapter', out, '--json');
    expect(r.code).toBe(0);
    const info = JSON.parse(r.out);
    expect(info.model.dims).toMatchObject({ modelType: 'llama', numLayers: 4, hiddenSize: 192, numKvHeads: 2 });
    expect(info.model.sites.attentionKV).toBe(4);
    expect(info.model.sites.linear.q_proj).toBe(4);
    expect(info.adapter.peft_type).toBe('LORA');
    expect(info.adapter.tensors).toHaveLength(16);
    expect(info.installedMethods).toContain('lora');
  });

  it('eval reports loss and perplexity, and the adapter lowers the held-out loss', async () => {
    const base = await peft('eval', '--model', paths.model, '--data', paths.valid, '--json');
    const tuned = await peft('eval', '--model', paths.model, '--adapter', out, '--data', paths.valid, '--json');
    const b = JSON.parse(base.out);
    const t = JSON.parse(tuned.out);
    expect(b.examples).toBe(56);
    expect(b.perplexity).toBeCloseTo(Math.exp(b.loss), 4);
    expect(t.loss).toBeLessThan(b.loss);
  });

  it('generate streams text after the prompt', async () => {
    const r = await peft('generate', '--model', paths.model, '--adapter', out, '--prompt', 'Once upon a time,', '--max-new-tokens', '8');
    expect(r.code).toBe(0);
    expect(r.out.startsWith('Once upon a time,')).toBe(true);
    expect(r.out.length).toBeGreaterThan('Once upon a time,'.length + 3);
  });

  it('merge writes a Hugging Face folder whose logits equal the adapted model', async () => {
    const mergedDir = join(dir, 'merged');
    const r = await peft('merge', '--model', paths.model, '--adapter', out, '--out', mergedDir, '--dtype', 'float32');
    expect(r.code).toBe(0);
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'])
      expect(existsSync(join(mergedDir, f)), f).toBe(true);
    const merged = await loadModel(mergedDir);
    const { loadWithAdapter } = await import('../src/common.js');
    const adapted = await loadWithAdapter(await loadModel(paths.model), out);
    const ids = tf.tensor2d([[1, 50, 60, 70, 80]], [1, 5], 'int32');
    const a = merged.forward({ inputIds: ids }).logits;
    const b = adapted.forward({ inputIds: ids } as never).logits as tf.Tensor;
    expect(tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]).toBeLessThan(1e-4);
  });
});
