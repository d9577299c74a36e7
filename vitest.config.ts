import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  resolve: {
    // Unit tests run against sources, so they need no build; end-to-end tests
    // in test/e2e spawn the built daemons instead.
    alias: {
      // The more specific first: an entry also matches the names under it.
      '@cluster/protocol/agent-side': here('./packages/protocol/src/agent-side.ts'),
      '@cluster/protocol': here('./packages/protocol/src/index.ts'),
      '@cluster/logging': here('./packages/logging/src/index.ts'),
    },
  },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'test/**/*.test.ts'],
    globalSetup: ['./test/support/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
