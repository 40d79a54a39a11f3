/**
 * Migration lint with squawk (npm package squawk-cli: a native binary from its platform package),
 * configured by the project's .squawk.toml (assume_in_transaction, as graphile-migrate runs
 * each migration in a transaction).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PROJECT_ROOT } from '../project.js';
import type { LocatedFinding } from '../lint/finding.js';

/**
 * Rules whose change breaks code that is running or loses data: these block a merge. The rest
 * (lock and statement timeouts, CONCURRENTLY) are advice for a reviewer to weigh: a migration
 * of a small table in a transaction may well take the lock.
 */
export const BLOCKING_SQUAWK_RULES = new Set([
  'ban-drop-column', 'ban-drop-table', 'ban-drop-database', 'ban-truncate-cascade',
  'renaming-column', 'renaming-table', 'adding-required-field',
]);

interface Violation { file: string; line: number; level: string; message: string; help?: string; rule_name: string }

/** Lints `files` (paths relative to `root`); [] when there is nothing to lint. */
export async function squawk(files: string[], root = PROJECT_ROOT): Promise<LocatedFinding[]> {
  if (!files.length) return [];
  const binary = join(PROJECT_ROOT, 'node_modules', '.bin', 'squawk');
  if (!existsSync(binary)) throw new Error(`squawk is not installed (${binary}): run npm ci.`);
  const args = ['--reporter', 'json', '--config', join(PROJECT_ROOT, '.squawk.toml'), ...files];
  let stdout: string;
  try {
    ({ stdout } = await promisify(execFile)(binary, args, { cwd: root, maxBuffer: 16 * 1024 * 1024 }));
  } catch (error) {
    // Exit status 1 means "violations found"; the report is still on stdout.
    const failed = error as { stdout?: string; stderr?: string; message: string };
    if (!failed.stdout?.trim().startsWith('[')) throw new Error(`squawk failed: ${failed.stderr || failed.message}`);
    stdout = failed.stdout;
  }
  return (JSON.parse(stdout) as Violation[]).map((violation) => ({
    object: violation.file,
    resolve: '',
    file: violation.file,
    line: violation.line + 1, // squawk counts lines from 0
    rule: `squawk/${violation.rule_name}`,
    message: violation.help ? `${violation.message} ${violation.help}` : violation.message,
    blocking: violation.level === 'Error' || BLOCKING_SQUAWK_RULES.has(violation.rule_name),
  }));
}
