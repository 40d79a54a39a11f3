/** The review as Markdown, ready to post on a pull request. */
import type { Finding } from '../lint/finding.js';
import type { ReviewReport } from './review.js';

export function renderMarkdown(report: ReviewReport): string {
  const lines = [`## precog-db review`, '', `Base: \`${report.base.commit.slice(0, 12)}\` (${report.base.reason}); head: the working tree.`, ''];

  lines.push('### Schema changes', '');
  if (!report.schemaChanges.length) lines.push('No schema change.');
  for (const change of report.schemaChanges) lines.push(`- ${change.text}`);

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

  lines.push('', report.blocking ? `**${report.blocking} blocking finding${report.blocking === 1 ? '' : 's'}.**` : '**No blocking finding.**', '');
  return lines.join('\n');
}

function findingLine(finding: Finding): string {
  const severity = finding.blocking ? '**blocking**' : finding.rule === 'env/cross-environment' ? 'annotated' : 'advice';
  return `- ${severity} \`${finding.file}:${finding.line}\` ${finding.rule}: ${finding.message}`;
}
