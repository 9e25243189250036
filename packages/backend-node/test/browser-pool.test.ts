import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

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
const TFJS_PAGE =
  '<!doctype html><meta charset="utf-8"><script type="module">' +
  "const w = new Worker('/bundle/tfjs-worker.js', { type: 'module' });" +
  'globalThis.tfjsResult = new Promise((resolve) => (w.onmessage = (e) => resolve(e.data)));</script>';
const WASM_DIST = join(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/package.json'), '../dist');

/** test/browser/tfjs-worker.ts bundled with tfjs for the browser (esbuild, in memory). */
async function bundleTfjsWorker(): Promise<string> {
  const esbuild = await import('esbuild');
  const out = await esbuild.build({
    entryPoints: [join(PACKAGE, 'test/browser/tfjs-worker.ts')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    conditions: ['@peftjs/source'],
    write: false,
    logLevel: 'silent',
  });
  return out.outputFiles[0]!.text;
}

/**
 * Serves PAGE at /, TFJS_PAGE at /tfjs.html with its bundled worker and tfjs-wasm's binaries under
 * /wasm/, and `X.js` as the transpiled `X.ts` of this package; all cross-origin isolated.
 */
async function serve(tfjsWorker = ''): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const headers = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' };
    const path = normalize(new URL(req.url ?? '/', 'http://x').pathname).replace(/^(\.\.[/\\])+/, '');
    if (path === '/' || path === '/tfjs.html') {
      res.writeHead(200, { ...headers, 'content-type': 'text/html; charset=utf-8' }).end(path === '/' ? PAGE : TFJS_PAGE);
      return;
    }
    if (path === '/bundle/tfjs-worker.js') {
      res.writeHead(200, { ...headers, 'content-type': 'text/javascript' }).end(tfjsWorker);
      return;
    }
    if (path.startsWith('/wasm/')) {
      readFile(join(WASM_DIST, path.slice('/wasm/'.length))).then(
        (body) => res.writeHead(200, { ...headers, 'content-type': 'application/wasm' }).end(body),
        () => res.writeHead(404, headers).end('not found'),
      );
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

describe.skipIf(skip !== null)('GemmPool in a browser (headless Chromium)', () => {
  // one server and one browser for both pages; the tfjs worker is bundled while Chromium starts
  let server: Awaited<ReturnType<typeof serve>>;
  let browser: Browser;
  beforeAll(async () => {
    const { chromium } = await import('playwright-core');
    const [bundle, launched] = await Promise.all([
      bundleTfjsWorker(),
      chromium.launch({ executablePath: CHROMIUM, args: FLAGS, headless: true }),
    ]);
    browser = launched;
    server = await serve(bundle);
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  /** Opens `path` and returns what the page puts in `globalThis[key]` (a promise). */
  async function pageResult<T>(path: string, key: string): Promise<{ result: T; errors: string[] }> {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${server.url}${path}`);
    await page.waitForFunction((k) => k in globalThis, key, { timeout: 20_000 });
    const result = (await page.evaluate((k) => (globalThis as unknown as Record<string, Promise<unknown>>)[k], key)) as T;
    await page.close();
    return { result, errors };
  }

  it('a Web Worker with one Web Worker helper splits the product and equals one thread; the page main thread runs it alone', async () => {
    const { result: r, errors } = await pageResult<{ crossOriginIsolated: boolean; page: Side; worker: Side; error?: string }>(
      '',
      'poolResult',
    );
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
  });

  it("tfjs-backend-wasm's threaded build in a Web Worker: BatchMatMul runs on 2 GEMM threads on tfjs' own heap and equals the cpu backend", async () => {
    const { result: r, errors } = await pageResult<Side & { worst: number; n: number }>('tfjs.html', 'tfjsResult');
    expect(errors).toEqual([]);
    expect(r.error).toBeUndefined();
    expect(r).toMatchObject({ parallel: true, ready: 1, fma: true, n: 300 * 530 });
    expect(r.helperChunks).toBeGreaterThan(0);
    expect(r.worst).toBeLessThan(1e-5);
  });
});
