import type { Options } from 'tsup';

/** The one tsup preset every package builds with: ESM + CJS + .d.ts, dependencies external. */
export function preset(entry: string[] = ['src/index.ts']): Options {
  return {
    entry,
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    clean: true,
    target: 'es2022',
    splitting: false,
    treeshake: true,
  };
}
