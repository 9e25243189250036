import { describe, it, expect, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('../bench/load-memory.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'peftjs-loadmem-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('loading memory', () => {
  it('a ~30M-parameter F32 folder loads with a peak of at most 2× its F32 size above the baseline', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--conditions=@peftjs/source', SCRIPT], {
      encoding: 'utf8',
      env: { ...process.env, LOADMEM_SIZE: 'small', LOADMEM_DIR: join(dir, 'model') },
    });
    expect(r.status, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout.trim().split('\n').pop()!) as { params: number; ratio: number };
    expect(summary.params).toBeGreaterThan(25e6);
    expect(summary.ratio).toBeLessThan(2);
  });
});
