import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';

it('shows examples/quick-start.ts in the README verbatim, so the README sample always compiles', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const sample = readFileSync(new URL('../../examples/quick-start.ts', import.meta.url), 'utf8');
  expect(readme).toContain('```ts\n' + sample + '```');
});
