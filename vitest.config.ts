import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/temp-root.ts', 'test/helpers/postgres-setup.ts'],
    // Real inference on 2 cores: generous per-test time, files one after another so that
    // concurrent whisper runs do not starve each other.
    testTimeout: 180_000,
    hookTimeout: 300_000,
    fileParallelism: false,
    pool: 'forks',
    reporters: ['default'],
  },
});
