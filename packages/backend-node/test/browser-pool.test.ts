import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * The GEMM pool in headless Chromium (Debian's /usr/bin/chromium, never a download): a page served
 * with COOP/COEP (cross-origin isolated, so SharedArrayBuffer and a shared wasm memory exist) runs
 * the pool on its main thread — which may not block, so the pool must run alone there — and in a
 * module Web Worker with one Web Worker helper (browser-helpers.ts), checked against one thread
 * and float64. The page's modules are this package's TypeScript files, transpiled as served.
 */
const CHROMIUM = process.env['PEFTJS_CHROMIUM'] ?? '/usr/bin/chromium';
const FLAGS = [
  '--disable-gpu',
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
const PACKAGE = fileURLToPath(new URL('../', import.meta.url));

function playwright(): string | null {
  try {
    return createRequire(import.meta.url).resolve('playwright-core');
  } catch {
    return null;
  }
}
const skip = !existsSync(CHROMIUM)
  ? `${CHROMIUM} not found (apt-get install chromium, or set PEFTJS_CHROMIUM)`
  : playwright() === null
    ? 'playwright-core is not installed'
    : null;
if (skip) console.log(`browser GEMM pool test skipped: ${skip}`);

const PAGE = '<!doctype html><meta charset="utf-8"><script type="module" src="/test/browser/pool-page.js"></script>';

/** Serves PAGE at / and `X.js` as the transpiled `X.ts` of this package, all cross-origin isolated. */
async function serve(): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const headers = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' };
    const path = normalize(new URL(req.url ?? '/', 'http://x').pathname).replace(/^(\.\.[/\\])+/, '');
    if (path === '/') {
      res.writeHead(200, { ...headers, 'content-type': 'text/html; charset=utf-8' }).end(PAGE);
      return;
    }
    readFile(join(PACKAGE, path.replace(/\.js$/, '.ts')), 'utf8').then(
      (source) => {
        const js = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } });
        res.writeHead(200, { ...headers, 'content-type': 'text/javascript' }).end(js.outputText);
      },
      () => res.writeHead(404, headers).end('not found'),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return { url: `http://localhost:${port}/`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

interface Check {
  poolVsOne: number;
  poolVsF64: number;
}
interface Side {
  parallel: boolean;
  ready: number;
  helperChunks: number;
  fma?: boolean;
  products: Check[];
  error?: string;
}

/** Relative imports of a source file (`./x.js` → `./x.ts`), following re-exports. */
async function importGraph(entry: string): Promise<Map<string, string>> {
  const seen = new Map<string, string>();
  const visit = async (file: string): Promise<void> => {
    if (seen.has(file)) return;
    const text = await readFile(file, 'utf8');
    seen.set(file, text);
    for (const m of text.matchAll(/(?:from|import)\s*\(?\s*'(\.[^']+)\.js'/g)) await visit(join(file, '..', `${m[1]}.ts`));
  };
  await visit(entry);
  return seen;
}

describe('the browser entry (@peftjs/backend-node/browser)', () => {
  it('imports no Node API (node:*, process, require) anywhere in its module graph', async () => {
    const graph = await importGraph(join(PACKAGE, 'src/browser.ts'));
    expect([...graph.keys()].map((f) => f.slice(PACKAGE.length))).toContain('src/wasm/gemm/browser-helpers.ts');
    for (const [file, text] of graph) {
      const code = text.replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
      expect(code.match(/'node:[^']*'|\bprocess\.\w|\brequire\(/g), file).toBeNull();
    }
  });
});

describe('GemmPool in a browser (headless Chromium)', () => {
  it.skipIf(skip !== null)(
    'a Web Worker with one Web Worker helper splits the product and equals one thread; the page main thread runs it alone',
    async () => {
      const { chromium } = await import('playwright-core');
      const server = await serve();
      const browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS, headless: true });
      try {
        const page = await browser.newPage();
        const errors: string[] = [];
        page.on('pageerror', (e) => errors.push(e.message));
        await page.goto(server.url);
        await page.waitForFunction(() => 'poolResult' in globalThis, null, { timeout: 20_000 });
        const r = (await page.evaluate(() => (globalThis as unknown as { poolResult: Promise<unknown> }).poolResult)) as {
          crossOriginIsolated: boolean;
          page: Side;
          worker: Side;
          error?: string;
        };
        expect(errors).toEqual([]);
        expect(r.error).toBeUndefined();
        expect(r.crossOriginIsolated).toBe(true);
        // the page's main thread may not block: no helper is used there, and nothing spins
        expect(r.page).toMatchObject({ parallel: false, ready: 1, helperChunks: 0 });
        // in a worker: Atomics.wait is allowed, the helper takes chunks; Chromium ships relaxed SIMD
        expect(r.worker.error).toBeUndefined();
        expect(r.worker).toMatchObject({ parallel: true, ready: 1, fma: true });
        expect(r.worker.helperChunks).toBeGreaterThan(0);
        for (const side of [r.page, r.worker]) {
          expect(side.products).toHaveLength(4);
          for (const c of side.products) {
            expect(c.poolVsOne).toBe(0);
            expect(c.poolVsF64).toBeLessThan(1e-5);
          }
        }
      } finally {
        await browser.close();
        await server.close();
      }
    },
    60_000,
  );
});
