import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

/**
 * The page bundles peftjs from the packages' TypeScript sources (`@peftjs/source`), and gives
 * them the page's in-memory file system where they import `node:fs/promises` and `node:path`.
 */
export default defineConfig({
  base: './',
  resolve: {
    conditions: ['@peftjs/source', 'module', 'browser', 'development|production'],
    alias: [
      { find: /^node:fs\/promises$/, replacement: here('./src/vfs/fs.ts') },
      { find: /^node:path$/, replacement: here('./src/vfs/path.ts') },
    ],
  },
  worker: { format: 'es' },
  server: { fs: { allow: [here('../..')] } },
  build: { outDir: 'dist', target: 'es2022', chunkSizeWarningLimit: 4096, assetsInlineLimit: 0 },
});
