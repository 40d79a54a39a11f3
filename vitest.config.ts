import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  // Tests import 'precog-db' by name; here that is the sources (applications get dist/ through "exports").
  resolve: {
    alias: [
      { find: /^precog-db$/, replacement: fileURLToPath(new URL('./src/index.ts', import.meta.url)) },
      { find: /^precog-db\/queries$/, replacement: fileURLToPath(new URL('./generated/queries.ts', import.meta.url)) },
    ],
  },
  test: {
    include: ['test/**/*.test.ts'],
    // One migrated template per run; each test file works in a rolled-back transaction or its own clone.
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    typecheck: {
      enabled: true,
      include: ['test/**/*.test-d.ts'],
      tsconfig: './tsconfig.json',
    },
  },
});
