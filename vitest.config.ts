import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['functions/**/*.test.ts', 'runner/**/*.test.ts', 'scripts/**/*.test.ts', 'test/**/*.test.ts', 'migrations/**/*.test.ts', 'bench/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Two cores: bcrypt-heavy files in parallel only slow each other down.
    maxWorkers: 2,
    minWorkers: 1,
  },
});
