import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const packageRoot = resolve(here, '..');
const script = join(here, 'fixtures/train-script.ts');

interface Line {
  type: string;
  step?: number;
  loss?: number;
  val_loss?: number;
}

/** Runs the training script in a child; `killAfter` SIGKILLs it once a line matches. */
function runChild(
  outDir: string,
  mode: 'fresh' | 'resume',
  delayMs: number,
  killAfter?: (l: Line) => boolean,
): Promise<{ lines: Line[]; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['--conditions=@peftjs/source', '--import', 'tsx', script, outDir, mode, String(delayMs)], {
      cwd: packageRoot,
    });
    const lines: Line[] = [];
    let buffer = '';
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.on('data', (d) => {
      buffer += d;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = JSON.parse(buffer.slice(0, nl)) as Line;
        buffer = buffer.slice(nl + 1);
        lines.push(line);
        if (killAfter?.(line)) child.kill('SIGKILL');
      }
    });
    child.on('error', fail);
    child.on('close', (code, signal) =>
      code === 0 || signal ? done({ lines, signal, stderr }) : fail(new Error(`child exited ${code}: ${stderr}`)),
    );
  });
}

const losses = (lines: Line[]) => new Map(lines.filter((l) => l.type === 'step').map((l) => [l.step!, l.loss!]));

describe('kill and resume', () => {
  it('a run killed with SIGKILL after a checkpoint and resumed gives the losses of a run that never stopped, to 1e-6', async () => {
    const [fullDir, killedDir] = await Promise.all([mkdtemp(join(tmpdir(), 'peftjs-full-')), mkdtemp(join(tmpdir(), 'peftjs-kill-'))]);
    const [full, killed] = await Promise.all([
      runChild(fullDir, 'fresh', 0),
      runChild(killedDir, 'fresh', 100, (l) => l.type === 'checkpoint' && l.step! >= 8),
    ]);
    expect(killed.signal).toBe('SIGKILL');
    expect(killed.lines.some((l) => l.type === 'done')).toBe(false);
    const latest = Number((await readFile(join(killedDir, 'latest'), 'utf8')).trim().replace('checkpoint-', ''));
    expect(latest).toBeGreaterThanOrEqual(8);
    expect(latest).toBeLessThan(24);

    const resumed = await runChild(killedDir, 'resume', 0);
    const want = losses(full.lines);
    const got = losses(resumed.lines);
    expect([...got.keys()]).toEqual(Array.from({ length: 24 - latest }, (_, i) => latest + 1 + i));
    let maxDiff = 0;
    for (const [step, loss] of got) maxDiff = Math.max(maxDiff, Math.abs(loss - want.get(step)!));
    for (const [step, loss] of losses(killed.lines)) maxDiff = Math.max(maxDiff, Math.abs(loss - want.get(step)!));
    const evals = (ls: Line[]) => ls.filter((l) => l.type === 'eval' && l.step! > latest).map((l) => [l.step, l.val_loss]);
    console.log(
      `kill at checkpoint-${latest}; resumed steps ${latest + 1}..24; max |Δloss| vs uninterrupted = ${maxDiff.toExponential(3)}`,
    );
    expect(maxDiff).toBeLessThan(1e-6);
    expect(evals(resumed.lines)).toEqual(evals(full.lines));
    expect(resumed.lines.at(-1)!.type).toBe('done');
  }, 60_000);
});
