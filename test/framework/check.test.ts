/**
 * `npm run check` in a copy of the project refuses a framework file that differs from what the
 * migrations install, naming the function and the file, and a migration that defines a function
 * itself; `npm run framework` then carries the edited file in current.sql, with the call that
 * regenerates every declared table.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { projectCopy, Running } from '../support/project-copy.js';

const GUARD = 'db/framework/guards/precog_live_history_kept.sql';

describe('npm run check and db/framework, in a copy of the project', () => {
  const copy = projectCopy();
  afterAll(() => copy.remove());

  it('names the function whose file differs; npm run framework carries the file', async () => {
    const path = join(copy.dir, GUARD);
    const text = readFileSync(path, 'utf8');
    writeFileSync(path, text.replace('live rows are never deleted', 'live rows are kept forever'));
    writeFileSync(join(copy.dir, 'migrations/current.sql'), 'CREATE FUNCTION precog_helper() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;\n');

    const refused = Running.npm(['run', '-s', 'check'], copy);
    expect(await refused.exited).toBe(1);
    expect(refused.output).toContain(`precog_live_history_kept(): ${GUARD} differs from what the migrations install (its body)`);
    expect(refused.output).toContain('migrations/current.sql defines function precog_helper itself');
    expect(refused.output).toContain('precog_helper() is installed by the migrations but no file of db/framework defines it');

    writeFileSync(join(copy.dir, 'migrations/current.sql'), '');
    const shipped = Running.npm(['run', '-s', 'framework'], copy);
    expect(await shipped.exited).toBe(0);
    const current = readFileSync(join(copy.dir, 'migrations/current.sql'), 'utf8');
    expect(current).toContain(`-- framework:begin ${GUARD}\n`);
    expect(current.trimEnd().endsWith('SELECT precog_environment_redeclare();')).toBe(true);
  }, 600_000);
});
