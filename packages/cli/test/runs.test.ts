import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { paths, peft, tmp, bundledTrain } from './helpers.js';

const FAST = ['--steps', '2', '--batch-size', '4', '--eval-every', '100', '--save-every', '1', '--max-length', '64'];
const LORA = ['--r', '2', '--target-modules', 'q_proj,v_proj'];
const train = (out: string, ...more: string[]) => peft(...bundledTrain(out, ...FAST, ...LORA, ...more));
const steps = (out: string) =>
  readFileSync(join(out, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
    .filter((e) => e.type === 'step')
    .map((e) => e.step);

describe('the output location is checked before anything loads (exit 2)', () => {
  it.each([
    ['/proc/peftjs-test/out', /cannot write in \/proc/],
    ['/sys/peftjs-test', /cannot write in \/sys/],
  ])('%s', async (out, message) => {
    const t0 = Date.now();
    const r = await train(out);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('a folder under a file', async () => {
    const file = join(tmp(), 'a-file');
    writeFileSync(file, 'x');
    const r = await train(join(file, 'out'));
    expect([r.code, r.err.trim()]).toEqual([2, `peft train: --out ${join(file, 'out')}: ${file} is a file, not a folder`]);
  });
});

describe('one run per output folder', () => {
  const out = join(tmp(), 'run');
  let first: Awaited<ReturnType<typeof peft>>;
  beforeAll(async () => {
    first = await train(out);
  }, 120_000);

  it('a finished run leaves its adapter, checkpoints and record, and no lock or temp files', () => {
    expect(first.err).toBe('');
    expect(first.code).toBe(0);
    expect(steps(out)).toEqual([1, 2]);
    expect(first.out).toMatch(/step 2\/2 {2}loss \d/);
    const names = readdirSync(out);
    for (const f of ['adapter_config.json', 'adapter_model.safetensors', 'run.json', 'checkpoint-2', 'latest']) expect(names).toContain(f);
    expect(names.filter((n) => n.startsWith('.peftjs'))).toEqual([]);
  });

  it('a second run into the used folder is refused without --resume or --overwrite (exit 2), the folder unchanged', async () => {
    const before = readdirSync(out).sort();
    const r = await train(out);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`--out ${out} is not empty`);
    expect(r.err).toContain('give --resume to continue its run, --overwrite to replace it');
    expect(readdirSync(out).sort()).toEqual(before);
  });

  it('--resume with other data or another method option is refused, naming what differs', async () => {
    const data = await train(out, '--resume', '--data', paths.valid, '--steps', '3');
    expect(data.code).toBe(2);
    expect(data.err).toContain(`--data (was ${paths.train}, now ${paths.valid})`);
    const rank = await peft(...bundledTrain(out), ...FAST, '--r', '4', '--target-modules', 'q_proj,v_proj', '--resume');
    expect(rank.code).toBe(2);
    expect(rank.err).toContain('method option r (was 2, now 4)');
    const none = await train(join(tmp(), 'empty'), '--resume');
    expect(none.code).toBe(2);
    expect(none.err).toContain('--resume');
  });

  it('another live process holding the folder is refused (exit 2) naming the folder and its pid', async () => {
    const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
    try {
      writeFileSync(join(out, '.peftjs-lock'), JSON.stringify({ pid: holder.pid }));
      const before = readFileSync(join(out, 'metrics.jsonl'), 'utf8');
      const r = await train(out, '--resume', '--steps', '3');
      expect(r.code).toBe(2);
      expect(r.err).toContain(`${out} is in use by another peftjs process (pid ${holder.pid}`);
      expect(readFileSync(join(out, 'metrics.jsonl'), 'utf8')).toBe(before);
    } finally {
      holder.kill('SIGKILL');
    }
  });

  it('a stale lock (its process is gone) is taken over and crash leftovers are swept: --resume continues the run', async () => {
    const gone = 2 ** 22 + 7; // above Linux's largest pid: no such process
    writeFileSync(join(out, '.peftjs-lock'), JSON.stringify({ pid: gone }));
    writeFileSync(join(out, `.peftjs-tmp-p${gone}-metrics.jsonl-k2j3`), 'left by a killed run');
    writeFileSync(join(out, '.peftjs-tmp-adapter_model.safetensors-k2j3'), 'left by an older peftjs');
    mkdirSync(join(out, 'checkpoint-2', `.peftjs-tmp-p${gone}-save-k2j3`));
    writeFileSync(join(out, 'checkpoint-2', `.peftjs-tmp-p${gone}-save-k2j3`, 'optimizer.safetensors'), 'x');
    const r = await train(out, '--resume', '--steps', '3');
    for (const d of [out, join(out, 'checkpoint-2'), join(out, 'checkpoint-3')])
      expect(
        readdirSync(d).filter((n) => n.startsWith('.peftjs')),
        d,
      ).toEqual([]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(steps(out)).toEqual([1, 2, 3]);
    expect(existsSync(join(out, '.peftjs-lock'))).toBe(false);
  }, 120_000);

  it('a failed run with --overwrite (lr 1e39: every update non-finite) exits 1 and leaves the earlier good adapter as it was', async () => {
    const adapter = readFileSync(join(out, 'adapter_model.safetensors'));
    const config = readFileSync(join(out, 'adapter_config.json'));
    const r = await train(out, '--overwrite', '--lr', '1e39', '--steps', '8');
    expect(r.code).toBe(1);
    expect(r.err).toContain('non-finite');
    expect(r.err).toContain('was not written');
    expect(readFileSync(join(out, 'adapter_model.safetensors')).equals(adapter)).toBe(true);
    expect(readFileSync(join(out, 'adapter_config.json')).equals(config)).toBe(true);
    expect(readdirSync(out).filter((n) => n.startsWith('checkpoint-'))).toEqual([]);
  }, 120_000);

  it('--overwrite replaces the previous run: metrics start again at step 1, old checkpoints gone', async () => {
    const r = await train(out, '--overwrite');
    expect(r.code).toBe(0);
    expect(steps(out)).toEqual([1, 2]);
    expect(
      readdirSync(out)
        .filter((n) => n.startsWith('checkpoint-'))
        .sort(),
    ).toEqual(['checkpoint-1', 'checkpoint-2']);
  }, 120_000);
});

describe('two peft train processes on one folder', () => {
  it("the second is refused (exit 2) naming the first one's pid; after the first is killed its lock is stale and taken over", async () => {
    const out = join(tmp(), 'shared');
    const bin = fileURLToPath(new URL('../src/bin.ts', import.meta.url));
    const args = [
      '--conditions=@peftjs/source',
      '--import',
      'tsx',
      bin,
      'train',
      '--model',
      paths.model,
      '--data',
      paths.train,
      '--out',
      out,
      ...LORA,
      '--steps',
      '500',
      '--batch-size',
      '2',
    ];
    const first = spawn(process.execPath, args, { stdio: 'ignore', cwd: fileURLToPath(new URL('..', import.meta.url)) });
    try {
      for (let i = 0; i < 600 && !existsSync(join(out, '.peftjs-lock')); i++) await new Promise((r) => setTimeout(r, 100));
      expect(existsSync(join(out, '.peftjs-lock'))).toBe(true);
      const second = await train(out, '--overwrite');
      expect(second.code).toBe(2);
      expect(second.err).toContain(`${out} is in use by another peftjs process (pid ${first.pid}`);
    } finally {
      first.kill('SIGKILL');
      await new Promise((r) => first.on('exit', r));
    }
    const after = await train(out, '--overwrite');
    expect(after.err).toBe('');
    expect(after.code).toBe(0);
    expect(steps(out)).toEqual([1, 2]);
  }, 180_000);
});
