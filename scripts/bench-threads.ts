// `npm run bench:threads`: the default wasm thread count, decided by measurement (issue #12). Runs
// the reference LoRA step of bench:compare (scripts/bench-compare/peftjs.ts, the whole stack through
// setupBackend) with 1 and 2 threads, on the machine as it is ("idle") and with one CPU-bound process
// running (a busy-loop child this script starts and stops), interleaved round by round; each
// configuration in its own process. Prints every run and the medians over rounds.
//   BENCH_ROUNDS=3   BENCH_STEPS=5   BENCH_THREADS=1,2   BENCH_SHAPE=ref   BENCH_LOADS=idle,busy
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

const list = (k: string, d: string) =>
  (process.env[k] ?? d)
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);
const STEPS = process.env['BENCH_STEPS'] ?? '5';
const SHAPE = process.env['BENCH_SHAPE'] ?? 'ref';
const THREADS = list('BENCH_THREADS', '1,2').map(Number);
const LOADS = list('BENCH_LOADS', 'idle,busy');
const PEFTJS = fileURLToPath(new URL('./bench-compare/peftjs.ts', import.meta.url));

const loadavg = () =>
  os
    .loadavg()
    .map((x) => x.toFixed(1))
    .join(' ');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** One LoRA-step measurement in a fresh process: the median step in ms, or the error. */
function measure(threads: number): number | string {
  const args = ['--conditions=@peftjs/source', '--import', 'tsx', PEFTJS, '--shape', SHAPE, '--rows', 'lora'];
  const r = spawnSync(process.execPath, [...args, '--threads', String(threads), '--steps', STEPS], {
    encoding: 'utf8',
    env: { ...process.env, PEFTJS_WASM_THREADS: undefined },
    maxBuffer: 1 << 24,
  });
  const line = (r.stdout ?? '').trim().split('\n').pop() ?? '';
  try {
    const out = JSON.parse(line) as { lora: number; threads: number };
    if (out.threads !== threads) return `asked ${threads} threads, got ${out.threads}`;
    return out.lora;
  } catch {
    return `failed (exit ${r.status}): ${(r.stderr ?? '').trim().split('\n').slice(-2).join(' ')}`;
  }
}

/** A CPU-bound process (one core's worth of spinning) until stopped. */
async function busyLoop(): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 500));
  return child;
}

async function main(): Promise<void> {
  console.log(
    `bench:threads — ${SHAPE} LoRA step (median of ${STEPS} steps a process), threads ${THREADS.join(',')}, ` +
      `${ROUNDS} rounds; ${os.cpus().length} cores; load average at start ${loadavg()}`,
  );
  const results = new Map<string, number[]>();
  for (let round = 0; round < ROUNDS; round++) {
    // alternate the order so that drift in the machine's load hits every configuration alike
    const loads = round % 2 === 0 ? LOADS : [...LOADS].reverse();
    for (const load of loads) {
      const busy = load === 'busy' ? await busyLoop() : null;
      try {
        const threads = round % 2 === 0 ? THREADS : [...THREADS].reverse();
        for (const t of threads) {
          const before = loadavg();
          const ms = measure(t);
          const key = `${load} ${t}T`;
          console.log(`round ${round + 1} ${key.padEnd(8)}: ${typeof ms === 'number' ? `${ms.toFixed(0)} ms` : ms} (load ${before})`);
          if (typeof ms === 'number') results.set(key, [...(results.get(key) ?? []), ms]);
        }
      } finally {
        busy?.kill('SIGKILL');
      }
    }
  }
  console.log(`\nload average at end ${loadavg()}\n\n| load | ${THREADS.map((t) => `${t} thread${t > 1 ? 's' : ''}`).join(' | ')} |`);
  console.log(`|---|${THREADS.map(() => '---').join('|')}|`);
  for (const load of LOADS) {
    const cells = THREADS.map((t) => {
      const xs = results.get(`${load} ${t}T`) ?? [];
      return xs.length ? `${median(xs).toFixed(0)} ms (${xs.map((x) => x.toFixed(0)).join(', ')})` : '—';
    });
    console.log(`| ${load === 'busy' ? 'one busy-loop process' : 'as is'} | ${cells.join(' | ')} |`);
  }
  for (const load of LOADS) {
    const one = results.get(`${load} 1T`);
    for (const t of THREADS.filter((x) => x > 1)) {
      const many = results.get(`${load} ${t}T`);
      if (one?.length && many?.length)
        console.log(`${load}: ${t} threads take ${((median(many) / median(one)) * 100).toFixed(0)}% of 1 thread's step time`);
    }
  }
}

await main();
