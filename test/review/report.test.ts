/** Where a point is in the change, and the GitHub annotations made of it. */
import { describe, expect, it } from 'vitest';
import { finding } from '../../src/lint/finding.js';
import { locate } from '../../src/review/render-finding.js';
import { renderAnnotations } from '../../src/review/report.js';
import type { ReviewReport } from '../../src/review/review.js';

const migration = {
  path: 'migrations/current.sql',
  text: [
    '-- position_notes gets its key to positions',
    'SELECT precog_environment_table(\'position_notes\', kind => \'append_only\');',
    'ALTER TABLE position_notes ADD CONSTRAINT position_notes_position_fkey',
    '  FOREIGN KEY (position_id, execution_environment) REFERENCES positions (id, execution_environment);',
  ].join('\n'),
};
const sql = { path: 'sql/positions.sql', text: '/* @name getPosition */\nSELECT 1;\n\n/* @name marketExposure */\nSELECT 2;\n' };

describe('review report', () => {
  it('places a point on the line of the change that names its most specific object, a query on its header', () => {
    const fk = locate(finding('guarantee/reference-undeclared', 'position_notes.position_notes_position_fkey', 'm', 'r'), [migration], [sql]);
    expect([fk.file, fk.line]).toEqual(['migrations/current.sql', 3]);
    const query = locate(finding('consumer/function-reads-tagged', 'sql/positions.sql:marketExposure', 'm', 'r'), [migration], [sql]);
    expect([query.file, query.line]).toEqual(['sql/positions.sql', 4]);
    const data = locate(finding('data/live-history-rewritten', 'migrations/current.sql:7', 'm', 'r'), [migration], [sql]);
    expect([data.file, data.line]).toEqual(['migrations/current.sql', 7]);
    // Named nowhere in the change (a role's attribute set elsewhere): no place, no guess.
    expect(locate(finding('guarantee/role-attributes', 'precog_analyst', 'm', 'r'), [migration], [sql]).file).toBeUndefined();
  });

  it('annotates blocking points as errors on their lines (escaped as GitHub reads them), advice with a line as warnings', () => {
    const report = {
      migrationLint: [{ file: 'migrations/current.sql', line: 3, rule: 'squawk/require-timeout', message: 'set a lock_timeout', blocking: false }],
      environmentLint: [],
      points: [
        { ...finding('guarantee/reference-undeclared', 'position_notes.position_notes_position_fkey', 'a key: 100%,\nsaid', 'declare again'), file: 'migrations/current.sql', line: 3 },
        finding('guarantee/role-attributes', 'precog_analyst', 'BYPASSRLS', 'ALTER ROLE'),
        finding('consumer/enum-changed', 'enum x', 'value added', 'regenerate', false),
      ],
    } as unknown as ReviewReport;
    expect(renderAnnotations(report)).toEqual([
      '::warning file=migrations/current.sql,line=3,title=squawk/require-timeout::set a lock_timeout',
      '::error file=migrations/current.sql,line=3,title=guarantee/reference-undeclared position_notes.position_notes_position_fkey::a key: 100%25,%0Asaid. Resolve: declare again',
      '::error title=guarantee/role-attributes precog_analyst::BYPASSRLS. Resolve: ALTER ROLE',
    ]);
  });
});
