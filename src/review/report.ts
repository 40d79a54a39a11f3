/** The review as Markdown, ready to post on a pull request. */
import type { Finding, LocatedFinding } from '../lint/finding.js';
import type { ReviewReport } from './review.js';
import { renderFinding } from './render-finding.js';
import { declaredLine } from './declared.js';

/** `details`: list a declaration's objects inline rather than folded. */
export function renderMarkdown(report: ReviewReport, details = false): string {
  const lines = [`## precog-db review`, '', `Base: \`${report.base.commit.slice(0, 12)}\` (${report.base.reason}); head: the working tree.`, ''];

  lines.push('### Schema changes', '');
  if (!report.schemaChanges.length && !report.declared.length) lines.push('No schema change.');
  for (const change of report.schemaChanges) lines.push(`- ${change.text}`);
  // A declaration's objects: one line per table, the list folded (GitHub renders <details> closed).
  for (const d of report.declared) {
    lines.push(`- ${declaredLine(d)}`);
    if (details) lines.push(...d.objects.map((o) => `  - ${o.text}`));
    else lines.push('', '  <details><summary>the objects</summary>', '', ...d.objects.map((o) => `  - ${o.text}`), '', '  </details>', '');
  }

  lines.push('', '### Changes for importers of generated/', '');
  if (!report.importerChanges.length) lines.push('No generated query function changed.');
  for (const change of report.importerChanges) lines.push(`- ${change.breaking ? '**BREAKING** ' : ''}${change.text}`);

  lines.push('', '### Migration lint (squawk)', '');
  if (!report.lintedMigrations.length) lines.push('No new or changed migration.');
  else lines.push(`Linted: ${report.lintedMigrations.map((file) => `\`${file}\``).join(', ')}.`, '');
  if (report.lintedMigrations.length && !report.migrationLint.length) lines.push('No finding.');
  for (const finding of report.migrationLint) lines.push(findingLine(finding));

  lines.push('', '### Environment safety', '');
  if (!report.environmentLint.length) lines.push('No finding: every query is scoped to one environment and every environment-tagged table is protected.');
  for (const finding of report.environmentLint) lines.push(findingLine(finding));

  lines.push('', '### Guarantees', '');
  lines.push(...guaranteeSection(report.points));

  lines.push('', report.blocking ? `**${report.blocking} blocking finding${report.blocking === 1 ? '' : 's'}.**` : '**No blocking finding.**', '');
  return lines.join('\n');
}

function findingLine(finding: LocatedFinding): string {
  const severity = finding.blocking ? '**blocking**' : finding.rule === 'env/cross-environment' ? 'annotated' : 'advice';
  return `- ${severity} \`${finding.file}:${finding.line}\` ${finding.rule}: ${finding.message}`;
}

const GROUPS: [string, string][] = [
  ['guarantee/', 'Head schema against the declarations (row-level security, roles, guards, keys, grants, views, purge)'],
  ['migration/', 'Migrations applied on the base'],
  ['data/', 'Data changes inside migrations'],
  ['consumer/', 'Consumers against the head schema (sql/, importers)'],
  ['convention/', 'Conventions'],
];

/** Blocking points first, grouped by what they are about; each says what to check and how to resolve it. */
export function guaranteeSection(points: Finding[]): string[] {
  if (!points.length) return ['No finding: every tagged table has everything its declaration installs, roles and views keep environments apart, no migration rewrites rows, and every query in sql/ compiles against the head.'];
  const lines: string[] = [];
  for (const [prefix, title] of GROUPS) {
    const group = points.filter((p) => p.rule.startsWith(prefix)).sort((a, b) => Number(b.blocking) - Number(a.blocking));
    if (!group.length) continue;
    lines.push(`**${title}**`, '', ...group.map(renderFinding), '');
  }
  return lines.slice(0, -1);
}

/**
 * GitHub Actions workflow commands: one annotation per finding that names a file and line
 * (`::error file=...,line=...::`, shown on the pull request's diff), blocking ones as errors,
 * advice as warnings; a blocking point that names no line is an error without a file.
 */
export function renderAnnotations(report: ReviewReport): string[] {
  const lines: string[] = [];
  const annotate = (blocking: boolean, title: string, message: string, file?: string, line?: number) => {
    const properties = [file && `file=${property(file)}`, file && line && `line=${line}`, `title=${property(title)}`].filter(Boolean).join(',');
    if (blocking || file) lines.push(`::${blocking ? 'error' : 'warning'} ${properties}::${data(message)}`);
  };
  // A query marked `-- cross-environment: <reason>` has said why already: not annotated on every pull request.
  for (const f of [...report.migrationLint, ...report.environmentLint].filter((f) => f.blocking || f.rule !== 'env/cross-environment')) {
    annotate(f.blocking, f.rule, f.message, f.file, f.line);
  }
  for (const p of report.points) annotate(p.blocking, `${p.rule} ${p.object}`, `${p.message}. Resolve: ${p.resolve}`, p.file, p.line);
  return lines;
}

// https://docs.github.com/actions/reference/workflow-commands-for-github-actions: % and line breaks
// are escaped in the message, and : and , too in a property.
const data = (text: string) => text.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
const property = (text: string) => data(text).replace(/:/g, '%3A').replace(/,/g, '%2C');

/** The marker that finds the review's one comment on a pull request again, to update it. */
export const COMMENT_MARKER = '<!-- precog-db review -->';
