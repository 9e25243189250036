import { defineConfig } from 'vitest/config';

/** Tests run against sibling packages' `src` through the `@peftjs/source` export condition. */
export function vitestConfig(extra: { testTimeout?: number } = {}) {
  return defineConfig({
    resolve: { conditions: ['@peftjs/source'] },
    ssr: { resolve: { conditions: ['@peftjs/source'] } },
    test: {
      environment: 'node',
      include: ['test/**/*.test.ts'],
      setupFiles: [new URL('./vitest.setup.ts', import.meta.url).pathname],
      testTimeout: extra.testTimeout ?? 60_000,
      pool: 'forks',
      server: { deps: { inline: [/@peftjs\//] } },
    },
  });
}
