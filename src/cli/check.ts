/**
 * `npm run check`: what CI refuses to land. Type-checks the project, verifies that committed
 * migrations were not edited, that no code outside src/ forges a branded type, that every query
 * and migration passes the environment-safety lint, that the schema built from the migrations keeps
 * every guarantee its environment declarations install (src/review/guarantees.ts), that every
 * function is what its file in db/framework says (src/check/framework.ts), and that generated/ and
 * docs/schema.md are exactly what the code generator produces.
 * Every problem is reported at once, each with the command that fixes it.
 */
import { spawnSync } from 'node:child_process';
import { brandCastProblems } from '../check/brand-casts.js';
import { frameworkProblems } from '../check/framework.js';
import { generatedDriftProblems } from '../check/generated-drift.js';
import { guaranteeProblems } from '../check/guarantees.js';
import { migrationHistoryProblems } from '../check/migration-history.js';
import { lintProject } from '../lint/environment-lint.js';
import { PROJECT_ROOT } from '../server/embedded.js';
import { resolveTarget } from '../server/resolve.js';
import { runCommand } from './run-command.js';

runCommand(async () => {
  const problems: string[] = [];
  const tsc = spawnSync('npx', ['tsc', '--noEmit', '--pretty', 'false'], { cwd: PROJECT_ROOT, encoding: 'utf8' });
  if (tsc.status !== 0) problems.push(`TypeScript does not compile (npx tsc --noEmit):\n${tsc.stdout}${tsc.stderr}`.trim());
  problems.push(...(await migrationHistoryProblems()));
  problems.push(...brandCastProblems());
  for (const finding of await lintProject()) {
    if (finding.blocking) problems.push(`${finding.file}:${finding.line} ${finding.rule}: ${finding.message}`);
  }
  const { server } = await resolveTarget();
  const notes: string[] = [];
  problems.push(...(await generatedDriftProblems(server, undefined, undefined, notes)));
  problems.push(...(await guaranteeProblems(server)));
  problems.push(...(await frameworkProblems(server)));
  for (const note of notes) console.log(`note: ${note}`);

  if (problems.length) {
    throw new Error(`npm run check found ${problems.length} problem(s):\n\n${problems.map((p) => `- ${p}`).join('\n\n')}`);
  }
  console.log('check passed: types compile, committed migrations intact, no forged brands, environment lint clean, every tagged table keeps the guarantees of its declaration, db/framework is what the migrations install, generated code up to date.');
});
