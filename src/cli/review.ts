/**
 * `npm run review -- [--base <git ref>] [--format markdown|github|json] [--report <file>] [--details]`:
 * what a change does to the schema, to importers of generated/, and what the migration and
 * environment-safety lints say.
 *
 * Exit status: 0 no blocking finding, 1 at least one blocking finding, 2 a usage or run error
 * (nothing was judged). The formats:
 *   markdown  the report (the default), as posted on a pull request
 *   github    GitHub Actions annotations (::error file=...,line=...::) then the report
 *   json      the report as data
 * --report <file> also writes the Markdown report (with the comment marker) to a file: the
 * workflow posts it as the pull request's one comment (.github/workflows/review.yml).
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { redact } from '../server/connection-string.js';
import { resolveTarget } from '../server/resolve.js';
import { COMMENT_MARKER, renderAnnotations, renderMarkdown } from '../review/report.js';
import { review } from '../review/review.js';

const USAGE = `Usage: precog-db review [--base <git ref>] [--format markdown|github|json] [--report <file>] [--details]
  --base     commit to compare with (default: the merge base with main; on main, HEAD when
             there are uncommitted changes, else HEAD~1)
  --format   markdown (default), github (annotations, then the report) or json
  --report   also write the Markdown report to this file (for a pull-request comment)
  --details  list the objects each declaration installs instead of folding them
  --json     the same as --format json
Exit status: 0 no blocking finding, 1 blocking findings, 2 usage or run error.`;

const FORMATS = ['markdown', 'github', 'json'] as const;

function parseReviewArgs(args: string[]) {
  const { values } = parseArgs({
    args,
    options: {
      base: { type: 'string' }, format: { type: 'string' }, report: { type: 'string' }, details: { type: 'boolean' },
      json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
    },
  });
  const format = values.json ? 'json' : (values.format ?? 'markdown');
  if (!(FORMATS as readonly string[]).includes(format)) throw new UsageError(`--format ${format} is unknown; use one of ${FORMATS.join(', ')}.`);
  return { ...values, format: format as (typeof FORMATS)[number] };
}

class UsageError extends Error {}

async function main(): Promise<number> {
  let options;
  try {
    options = parseReviewArgs(process.argv.slice(2));
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  if (options.help) {
    console.log(USAGE);
    return 0;
  }
  const { server } = await resolveTarget();
  const report = await review(server, options.base);
  const markdown = renderMarkdown(report, options.details);
  if (options.report) writeFileSync(options.report, `${COMMENT_MARKER}\n${markdown}`);
  if (options.format === 'json') console.log(JSON.stringify(report, null, 2));
  else if (options.format === 'github') console.log([...renderAnnotations(report), markdown].join('\n'));
  else console.log(markdown);
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
