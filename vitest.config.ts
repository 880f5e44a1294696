import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Unit tests import the TypeScript sources; children they start run dist/, rebuilt here first.
    globalSetup: ['test/setup/build-dist.ts'],
    pool: 'forks',
    // Generous: a test waits on events, and on a loaded 2-core machine (CI shares it) an end-to-end
    // story with real processes can take minutes; a timeout is a backstop, never the assertion.
    testTimeout: 180_000,
    hookTimeout: 180_000,
    // 2-core machines: integration tests start real processes and ptys.
    maxWorkers: 2,
  },
});
