/**
 * `npm run review -- [--base <git ref>] [--json]`: what a change does to the schema, to importers
 * of generated/, and what the migration and environment-safety lints say. Exit status 1 when a
 * finding is blocking, 2 on a usage or run error.
 */
import { parseArgs } from 'node:util';
import { redact } from '../server/connection-string.js';
import { resolveTarget } from '../server/resolve.js';
import { renderMarkdown } from '../review/report.js';
import { review } from '../review/review.js';

const USAGE = `Usage: precog-db review [--base <git ref>] [--json]
  --base  commit to compare with (default: the merge base with main; on main, HEAD when
          there are uncommitted changes, else HEAD~1)
  --json  print the report as JSON instead of Markdown`;

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { base: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const { server } = await resolveTarget();
  const report = await review(server, values.base);
  console.log(values.json ? JSON.stringify(report, null, 2) : renderMarkdown(report));
  return report.blocking ? 1 : 0;
}

main().then(
  (status) => process.exit(status),
  (error: unknown) => {
    // Messages may quote a connection string: never print its password.
    console.error(redact(error instanceof Error ? error.message : String(error)));
    if (process.env.PRECOG_DEBUG && error instanceof Error) console.error(redact(error.stack ?? ''));
    process.exit(2);
  },
);
