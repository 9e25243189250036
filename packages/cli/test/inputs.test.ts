import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTokenizer } from '@peftjs/models';
import { paths, peft, tmp } from './helpers.js';

const train = (out: string, ...more: string[]) =>
  peft('train', '--model', paths.model, '--data', paths.train, '--out', out, '--backend', 'cpu', ...more);

describe('numeric and choice flags are checked up front, named by the flag, exit 2', () => {
  it.each([
    ['--lr', '-1', 'a number > 0'],
    ['--lr', '0', 'a number > 0'],
    ['--weight-decay', '-1', 'a number ≥ 0'],
    ['--max-grad-norm', '-1', 'a number ≥ 0'],
    ['--seed', '1.5', 'an integer ≥ 0'],
    ['--steps', '0', 'an integer ≥ 1'],
    ['--save-every', '0', 'an integer ≥ 1'],
    ['--eval-every', '0', 'an integer ≥ 1'],
    ['--warmup-steps', '-1', 'an integer ≥ 0'],
    ['--batch-size', '2.5', 'an integer ≥ 1'],
    ['--val-split', '1', 'a number ≥ 0 and ≤ 0.9'],
    ['--lr', 'fast', 'a number > 0'],
  ])('train %s %s', async (flag, value, rule) => {
    const out = join(tmp(), 'o');
    const r = await train(out, flag, value);
    expect(r.code).toBe(2);
    expect(r.err.trim()).toBe(`peft train: train: ${flag} must be ${rule}, got "${value}"`);
    expect(existsSync(out)).toBe(false);
  });

  it('train --schedule and --backend take only their listed values', async () => {
    const r = await train(join(tmp(), 'o'), '--schedule', 'cubic');
    expect([r.code, r.err]).toEqual([2, 'peft train: train: --schedule must be constant, linear, cosine; got "cubic"\n']);
    expect((await train(join(tmp(), 'o'), '--backend', 'gpu')).err).toContain('--backend must be auto, tensorflow, wasm, cpu; got "gpu"');
  });

  it.each([
    ['--max-new-tokens', '-5', 'an integer ≥ 0'],
    ['--top-p', '2', 'a number > 0 and ≤ 1'],
    ['--top-p', '0', 'a number > 0 and ≤ 1'],
    ['--temperature', '-1', 'a number ≥ 0'],
    ['--top-k', '0', 'an integer ≥ 1'],
  ])('generate %s %s', async (flag, value, rule) => {
    const r = await peft('generate', '--model', paths.model, '--prompt', 'hi', flag, value);
    expect(r.code).toBe(2);
    expect(r.err.trim()).toBe(`peft generate: generate: ${flag} must be ${rule}, got "${value}"`);
  });
});

describe('unknown options are refused with the closest names, exit 2, nothing written', () => {
  it.each([
    [['--stpes', '1'], '--stpes', '--steps'],
    [['--lora-aplha', '32'], '--lora-aplha', '--lora-alpha'],
    [['--method', 'prompt', '--num-virtual-tokens', '4', '--max-steps', '3'], '--max-steps', '--steps'],
  ])('train %j', async (args, bad, close) => {
    const out = join(tmp(), 'o');
    const r = await train(out, ...args);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(new RegExp(`unknown option ${bad}; did you mean [^?]*${close}\\b`));
    expect(r.err).toMatch(/neither a peft train flag nor a .* config field/);
    expect(existsSync(out)).toBe(false);
  });

  it('an unknown option of a command without method options names the closest flag', async () => {
    const r = await peft('generate', '--model', paths.model, '--prompt', 'hi', '--max-new-token', '3');
    expect(r.code).toBe(2);
    expect(r.err).toContain('unknown option --max-new-token; did you mean --max-new-tokens');
  });
});

describe('bad adapter files are exit 2 naming the file, in every command', () => {
  const broken = (content: string) => {
    const dir = tmp();
    writeFileSync(join(dir, 'adapter_config.json'), content);
    writeFileSync(join(dir, 'adapter_model.safetensors'), '');
    return dir;
  };
  const commands = (a: string) => [
    ['inspect', '--adapter', a],
    ['generate', '--model', paths.model, '--adapter', a, '--prompt', 'hi', '--max-new-tokens', '1'],
    ['eval', '--model', paths.model, '--adapter', a, '--data', paths.valid, '--backend', 'cpu'],
    ['merge', '--model', paths.model, '--adapter', a, '--out', join(tmp(), 'm')],
  ];

  it('a non-JSON adapter_config.json', async () => {
    const a = broken('{"peft_type": "LORA", r: 8');
    for (const args of commands(a)) {
      const r = await peft(...args);
      expect(r.code, args[0]).toBe(2);
      expect(r.err, args[0]).toContain(`${join(a, 'adapter_config.json')}: invalid JSON`);
    }
  });

  it('an adapter_config.json that is a JSON array', async () => {
    const a = broken('[{"peft_type": "LORA"}]');
    for (const args of commands(a)) {
      const r = await peft(...args);
      expect(r.code, args[0]).toBe(2);
      expect(r.err, args[0]).toContain(`${join(a, 'adapter_config.json')}: expected a JSON object`);
    }
  });
});

describe('peft merge never destroys its input and writes only the dtypes it names', () => {
  it('refuses --out equal to --model (exit 2), the base model untouched', async () => {
    const before = readdirSync(paths.model).sort();
    const r = await peft('merge', '--model', paths.model, '--adapter', tmp(), '--out', paths.model);
    expect(r.code).toBe(2);
    expect(r.err).toContain('is the --model folder');
    expect(readdirSync(paths.model).sort()).toEqual(before);
  });

  it('refuses a folder already holding a model unless --overwrite', async () => {
    const out = tmp();
    writeFileSync(join(out, 'config.json'), '{}');
    const r = await peft('merge', '--model', paths.model, '--adapter', tmp(), '--out', out);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`--out ${out} already holds a model (config.json): give --overwrite`);
  });

  it('refuses a dtype it does not write (int8)', async () => {
    const r = await peft('merge', '--model', paths.model, '--adapter', tmp(), '--out', join(tmp(), 'm'), '--dtype', 'int8');
    expect(r.code).toBe(2);
    expect(r.err).toContain('--dtype must be float32, float16, bfloat16; got "int8"');
  });
});

describe('prompts and examples never run past the position table', () => {
  it('generate --max-new-tokens 0 prints nothing and exits 0', async () => {
    const r = await peft('generate', '--model', paths.model, '--prompt', 'Once upon a time', '--max-new-tokens', '0');
    expect([r.code, r.out, r.err]).toEqual([0, '', '']);
  });

  it('a prompt longer than the model positions is refused (exit 2); new tokens past them are capped with a warning', async () => {
    const long = 'the fox ran '.repeat(200);
    const r = await peft('generate', '--model', paths.model, '--prompt', long, '--max-new-tokens', '4');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--prompt is \d+ tokens; the model has 256 positions/);
    const tok = await loadTokenizer(paths.model);
    let reps = 1;
    while (tok.encode('the fox ran '.repeat(reps + 1)).length < 250) reps++;
    const n = tok.encode('the fox ran '.repeat(reps)).length;
    const capped = await peft('generate', '--model', paths.model, '--prompt', 'the fox ran '.repeat(reps), '--max-new-tokens', '200');
    expect(capped.code).toBe(0);
    expect(capped.err).toContain(`warning: --max-new-tokens 200 capped at ${256 - n}`);
  });

  it('train and eval refuse a --max-length past the model positions', async () => {
    const t = await train(join(tmp(), 'o'), '--max-length', '300');
    expect([t.code, t.err.trim()]).toEqual([2, "peft train: --max-length 300 exceeds the model's 256 positions (max_position_embeddings)"]);
    const e = await peft('eval', '--model', paths.model, '--data', paths.valid, '--max-length', '300', '--backend', 'cpu');
    expect(e.code).toBe(2);
  });

  it('a JSONL file in another encoding is exit 2 naming the file and line', async () => {
    const dir = tmp();
    mkdirSync(dir, { recursive: true });
    const data = join(dir, 'latin1.jsonl');
    writeFileSync(data, Buffer.concat([Buffer.from('{"text": "ok"}\n{"text": "caf'), Buffer.from([0xe9]), Buffer.from('"}\n')]));
    const r = await peft('train', '--model', paths.model, '--data', data, '--out', join(dir, 'o'), '--backend', 'cpu');
    expect(r.code).toBe(2);
    expect(r.err).toContain(`${data}:2: invalid UTF-8`);
  });
});
