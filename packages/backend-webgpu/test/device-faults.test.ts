import { spawn } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { CHECKS } from './device-faults.child.js';

// Device faults (an error the device reports, error scopes, replacing and losing the device) run in a
// child process: Dawn 0.6.2 on SwiftShader deadlocks a process in about one run of eight after them
// (every check passed, the process never exits). The child prints one JSON line per check; a child
// that has printed its results and does not exit is killed, which costs nothing.
const CHILD = new URL('./device-faults.child.ts', import.meta.url).pathname;
const PACKAGE = new URL('..', import.meta.url).pathname;
const RESULTS_MS = 240_000;
const EXIT_MS = 15_000;

type Line = { check?: string; ok?: boolean; error?: string; done?: boolean; fatal?: string };

const results = new Map<string, Line>();
let exit = '';

beforeAll(
  async () => {
    const child = spawn(process.execPath, ['--conditions=@peftjs/source', '--import', 'tsx', CHILD], {
      cwd: PACKAGE,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<string>((resolve) => child.on('exit', (code, signal) => resolve(`exit ${code ?? signal}`)));
    const after = (ms: number) => new Promise<null>((resolve) => setTimeout(() => resolve(null), ms).unref());
    const lines = () => out.split('\n').flatMap((l): Line[] => (l.startsWith('{') ? [JSON.parse(l) as Line] : []));
    const end = Date.now() + RESULTS_MS;
    while (!lines().some((l) => l.done || l.fatal) && child.exitCode === null && child.signalCode === null && Date.now() < end)
      await Promise.race([exited, after(200)]);
    const finished = lines().some((l) => l.done);
    // the results are in (or the child stopped): give it time to exit, then kill a hung one
    exit = (await Promise.race([exited, after(finished ? EXIT_MS : 0)])) ?? '';
    if (!exit) {
      child.kill('SIGKILL');
      exit = `${await exited} (killed: ${finished ? 'hung at exit after its results' : 'no results'})`;
    }
    for (const l of lines()) if (l.check) results.set(l.check, l);
    const fatal = lines().find((l) => l.fatal)?.fatal;
    if (!finished) throw new Error(`the device-fault child gave no results (${exit})${fatal ? `: ${fatal}` : ''}\n${err.slice(-2000)}`);
    console.log(`device-fault child: ${results.size} checks, ${exit}`);
  },
  RESULTS_MS + EXIT_MS + 30_000,
);

describe('device faults (in a child process)', () => {
  for (const check of CHECKS) {
    it(check, () => {
      const r = results.get(check);
      expect(r, 'the child reported this check').toBeDefined();
      expect(r!.error ?? '').toBe('');
      expect(r!.ok).toBe(true);
    });
  }
});
