// `npm run bench:compare`: PyTorch and peftjs on the same LLaMA work, one after the other in one
// invocation, and the ratio. Each configuration runs in its own process (wasm threads are fixed at
// a process's first wasm start; peak RSS is per process). PyTorch runs once per thread
// configuration (torch intra-op threads × OpenBLAS threads) and each row takes its best: on this
// 2-core VM 1×1 or 2×1 is fastest for training and 1×2 for the forward, so no single pin is its best.
//   BENCH_SHAPES=ref,smol   BENCH_THREADS=1,2   BENCH_STEPS=6   BENCH_LONG=1 (adds smol at 1×512, LoRA
//   with activation recomputation: without it that step does not fit the 4 GB wasm heap)
//   BENCH_TORCH=1x1,1x2,2x1 (torch threads x OpenBLAS threads)
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

const here = (f: string) => fileURLToPath(new URL(f, import.meta.url));
const list = (k: string, d: string) =>
  (process.env[k] ?? d)
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
const PYTHON = process.env['BENCH_PYTHON'] ?? '/usr/bin/python3';
const steps = process.env['BENCH_STEPS'] ?? '6';

type Result = Record<string, number | string | boolean | Record<string, number>>;

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Result | string {
  const r = spawnSync(cmd, args, { env, encoding: 'utf8', maxBuffer: 1 << 26 });
  const line = (r.stdout ?? '').trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as Result;
  } catch {
    const err = `${r.stderr ?? ''}${r.error?.message ?? ''}`.trim().split('\n').slice(-3).join(' ');
    return `failed (exit ${r.status}): ${err || line}`;
  }
}

function torchEnv(blasThreads = '1'): NodeJS.ProcessEnv {
  const env = { ...process.env, OPENBLAS_NUM_THREADS: blasThreads };
  // PERFORMANCE.md: the machine's OPENBLAS_CORETYPE/L2_SIZE make PyTorch 25% slower; compare at its best
  delete env['OPENBLAS_CORETYPE'];
  delete env['OPENBLAS_L2_SIZE'];
  return env;
}

function torchPresent(): boolean {
  return spawnSync(PYTHON, ['-c', 'import torch'], { env: torchEnv() }).status === 0;
}

interface Config {
  shape: string;
  rows: string;
  seq?: number;
  /** peftjs' LoRA step with activation recomputation (`--recompute`). */
  recompute?: boolean;
}

const configs: Config[] = [];
for (const shape of list('BENCH_SHAPES', 'ref,smol')) {
  configs.push({ shape, rows: shape === 'ref' ? 'lora,forward,full,decode' : 'lora,forward,decode' });
}
if (process.env['BENCH_LONG'] === '1') configs.push({ shape: 'smol', rows: 'lora', seq: 512, recompute: true });

const haveTorch = torchPresent();
if (!haveTorch) {
  console.log(
    `PyTorch not found for ${PYTHON}: install it with \`apt-get install -y python3-torch libopenblas0-pthread\` ` +
      '(without the OpenBLAS package torch runs on reference BLAS, ~20× slower). peftjs numbers alone follow.',
  );
}

const ROWS: Array<[key: string, label: string, unit: 'ms' | 'tok/s']> = [
  ['lora', 'LoRA step (fwd+bwd+AdamW)', 'ms'],
  ['forward', 'forward (loss, no grad)', 'ms'],
  ['full', 'full fine-tuning step', 'ms'],
  ['decode', 'decode, KV cache (batch 1)', 'tok/s'],
  ['rss_mb', 'peak RSS (process)', 'ms'],
];

const threads = list('BENCH_THREADS', '1,2');
const torchConfigs = list('BENCH_TORCH', '1x1,1x2,2x1').map((c) => {
  const [t, b] = c.split('x');
  return { torch: t ?? '1', blas: b ?? '1', label: `${t}×${b}` };
});

/** Runs PyTorch in every thread configuration; each row keeps its best value and the configuration. */
function bestTorch(args: string[]): { values: Record<string, number>; config: Record<string, string> } | string {
  const values: Record<string, number> = {};
  const config: Record<string, string> = {};
  let lastError = '';
  for (const c of torchConfigs) {
    const r = run(PYTHON, [here('./torch_llama.py'), ...args, '--threads', c.torch], torchEnv(c.blas));
    if (typeof r === 'string') {
      lastError = r;
      continue;
    }
    for (const [key, v] of Object.entries(r)) {
      if (typeof v !== 'number' || key === 'threads') continue;
      const better = key === 'decode' ? v > (values[key] ?? -Infinity) : v < (values[key] ?? Infinity);
      if (better) {
        values[key] = v;
        config[key] = c.label;
      }
    }
  }
  return Object.keys(values).length ? { values, config } : lastError || 'no PyTorch configuration ran';
}
const lines: string[] = [];
for (const c of configs) {
  const seqArgs = c.seq ? ['--seq', String(c.seq)] : [];
  const name = `${c.shape}${c.seq ? ` 1×${c.seq}` : c.shape === 'smol' ? ' 1×128' : ' 8×64'}${c.recompute ? ', peftjs with recomputation' : ''}`;
  console.error(`[bench:compare] ${name}: PyTorch…`);
  const torch = haveTorch ? bestTorch(['--shape', c.shape, '--rows', c.rows, '--steps', steps, ...seqArgs]) : 'not installed';
  const ours = threads.map((t) => {
    console.error(`[bench:compare] ${name}: peftjs wasm ${t} thread(s)…`);
    return run(
      process.execPath,
      [
        '--conditions=@peftjs/source',
        '--import',
        'tsx',
        here('./peftjs.ts'),
        '--shape',
        c.shape,
        '--rows',
        c.rows,
        '--steps',
        steps,
        '--threads',
        t,
        ...seqArgs,
        ...(c.recompute ? ['--recompute'] : []),
      ],
      process.env,
    );
  });
  lines.push(
    `\n### ${name} (${c.shape === 'ref' ? 'vocab 512, hidden 256, 4 layers, 4 heads, FFN 1024, untied' : 'SmolLM-135M: hidden 576, 30 layers, 9/3 heads, FFN 1536, vocab 49152, tied'}; LoRA r 8 α 16 on q,v, AdamW)`,
  );
  lines.push(`| row | PyTorch | ${threads.map((t) => `peftjs wasm ${t}T | ratio`).join(' | ')} |`);
  lines.push(`|---|---|${threads.map(() => '---|---').join('|')}|`);
  for (const [key, label, unit] of ROWS) {
    if (key !== 'rss_mb' && !c.rows.split(',').includes(key)) continue;
    const tv = typeof torch === 'string' ? undefined : torch.values[key];
    const tc = typeof torch === 'string' ? '' : ` (${torch.config[key]})`;
    const fmt = (v: number | undefined) =>
      v === undefined ? '–' : key === 'rss_mb' ? `${v.toFixed(0)} MB` : unit === 'ms' ? `${v.toFixed(1)} ms` : `${v.toFixed(1)} tok/s`;
    const cells = ours.map((o) => {
      if (typeof o === 'string') return `${o.slice(0, 120)} | –`;
      const v = o[key] as number | undefined;
      // ratio: how many times slower peftjs is (time ratio; for tok/s the inverse)
      const ratio = v === undefined || tv === undefined ? '–' : `${(unit === 'tok/s' ? tv / v : v / tv).toFixed(2)}×`;
      return `${fmt(v)} | ${ratio}`;
    });
    lines.push(`| ${label} | ${typeof torch === 'string' ? torch.slice(0, 60) : fmt(tv) + tc} | ${cells.join(' | ')} |`);
  }
  const firsts = ours
    .map((o, i) => (typeof o === 'string' ? '' : `${threads[i]}T first calls ${JSON.stringify(o['firstCallMs'])}`))
    .filter(Boolean);
  if (firsts.length) lines.push(`(peftjs ${firsts.join('; ')} ms)`);
}

const [l1, l5, l15] = os.loadavg();
console.log(
  `\nbench:compare — node ${process.version}, ${os.cpus().length} cores, load average ${l1!.toFixed(2)} ${l5!.toFixed(2)} ${l15!.toFixed(2)} at the end; median of ${steps} after 2 warm-up calls`,
);
console.log(
  `PyTorch: each row its best over torch threads × OpenBLAS threads in {${torchConfigs.map((c) => c.label).join(', ')}} (shown as (t×b)), OPENBLAS_CORETYPE/L2_SIZE unset (PERFORMANCE.md). ratio = peftjs / PyTorch time (for tok/s the inverse).`,
);
for (const l of lines) console.log(l);
