import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Unit tests import the TypeScript sources; children they start run dist/, rebuilt here first.
    globalSetup: ['test/setup/build-dist.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // 2-core machines: integration tests start real processes and ptys.
    maxWorkers: 2,
  },
});
