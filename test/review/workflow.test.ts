/**
 * The review's GitHub Actions workflow (.github/workflows/review.yml), its steps' commands run
 * here as the runner would run them: the Review step on a pull-request-sized change in a git
 * copy of the project (annotations on the migration's line, the report file with its marker, the
 * exit status in $GITHUB_OUTPUT), the Verdict step for each status, and the Comment step's script,
 * which creates the comment once and then updates it. GitHub's API is not here: the script is
 * given a client holding comments in memory, in the shape of Octokit's REST calls it makes.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectCopy, type ProjectCopy } from '../support/project-copy.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const WORKFLOW = readFileSync(join(ROOT, '.github', 'workflows', 'review.yml'), 'utf8');

/** The `run:` script of the step named `name` (one line, or a `run: |` block with its indentation removed). */
function stepScript(name: string): string {
  const lines = WORKFLOW.split('\n');
  const start = lines.findIndex((line) => line.trim() === `- name: ${name}`);
  if (start < 0) throw new Error(`no step "${name}" in review.yml`);
  const run = lines.findIndex((line, i) => i > start && /^\s+run: /.test(line));
  const inline = /^\s+run: (?!\|$)(.+)$/.exec(lines[run]!);
  if (inline) return inline[1]!;
  const indent = lines[run + 1]!.length - lines[run + 1]!.trimStart().length;
  const body: string[] = [];
  for (const line of lines.slice(run + 1)) {
    if (line.trim() && line.length - line.trimStart().length < indent) break;
    body.push(line.slice(indent));
  }
  return body.join('\n');
}

const bash = (script: string, cwd: string, env: NodeJS.ProcessEnv) =>
  spawnSync('bash', ['-e', '-c', script], { cwd, env, encoding: 'utf8', timeout: 300_000 });

describe('the review workflow', () => {
  let copy: ProjectCopy;
  let base: string;
  beforeAll(() => {
    copy = projectCopy();
    cpSync(join(ROOT, '.squawk.toml'), join(copy.dir, '.squawk.toml'));
    cpSync(join(ROOT, '.github'), join(copy.dir, '.github'), { recursive: true });
    writeFileSync(join(copy.dir, '.gitignore'), 'node_modules\n');
    const git = (...args: string[]) => execFileSync('git', args, { cwd: copy.dir, encoding: 'utf8' }).trim();
    git('init', '-q', '-b', 'main');
    git('-c', 'user.name=test', '-c', 'user.email=test@example.invalid', 'commit', '-q', '--allow-empty', '-m', 'empty');
    git('add', '-A');
    git('-c', 'user.name=test', '-c', 'user.email=test@example.invalid', 'commit', '-q', '-m', 'base');
    base = git('rev-parse', 'HEAD');
  });
  afterAll(async () => copy?.remove());

  it('is triggered on pull requests, may comment, and checks out the base too', () => {
    expect(WORKFLOW).toMatch(/^on:\n {2}pull_request:/m);
    expect(WORKFLOW).toMatch(/pull-requests: write/);
    expect(WORKFLOW).toMatch(/fetch-depth: 0/);
    expect(stepScript('Install')).toBe('npm ci');
  });

  it('Review: annotates the blocking finding on its line, writes the report with its marker, and records exit status 1', () => {
    writeFileSync(join(copy.dir, 'migrations', 'current.sql'), [
      '-- Live trades of a test market deleted in a migration.',
      '',
      '-- data-change: remove the trades of the test market placed by mistake',
      "DELETE FROM trades WHERE market_id = 'MKT-TEST';",
      '',
    ].join('\n'));
    const output = join(copy.dir, 'github-output');
    writeFileSync(output, '');
    const result = bash(stepScript('Review'), copy.dir, { ...copy.env, BASE_SHA: base, GITHUB_OUTPUT: output });
    expect(result.status, result.stderr).toBe(0); // the step itself passes; the verdict is the status
    expect(readFileSync(output, 'utf8')).toBe('status=1\n');
    expect(result.stdout).toMatch(/^::error file=migrations\/current\.sql,line=4,title=data\/live-history-rewritten migrations\/current\.sql%3A4::DELETE on trades/m);
    const report = readFileSync(join(copy.dir, 'review.md'), 'utf8');
    expect(report.startsWith('<!-- precog-db review -->\n## precog-db review')).toBe(true);
    expect(report).toContain('**blocking** data/live-history-rewritten');
  }, 300_000);

  it('Verdict: passes on 0, fails on 1 (blocking) and 2 (did not run), saying which', () => {
    const verdict = (status: string) => bash(stepScript('Verdict'), copy.dir, { ...process.env, STATUS: status });
    expect(verdict('0').status).toBe(0);
    const blocked = verdict('1');
    expect(blocked.status).toBe(1);
    expect(blocked.stdout).toContain('::error title=precog-db review::blocking findings');
    const broken = verdict('2');
    expect(broken.status).toBe(2);
    expect(broken.stdout).toContain('the review did not run (exit 2)');
    expect(verdict('').status).toBe(2);
  });

  it('Comment: creates the one comment on the first push and updates it on the next', async () => {
    expect(WORKFLOW).toContain("require('./.github/scripts/review-comment.cjs')");
    const post = createRequire(import.meta.url)(join(ROOT, '.github', 'scripts', 'review-comment.cjs'));
    const comments: { id: number; body: string }[] = [{ id: 1, body: 'LGTM' }];
    const github = {
      paginate: async (method: (p: unknown) => Promise<{ data: unknown[] }>, params: unknown) => (await method(params)).data,
      rest: {
        issues: {
          listComments: async () => ({ data: comments.map((c) => ({ ...c })) }),
          createComment: async ({ body }: { body: string }) => {
            comments.push({ id: comments.length + 1, body });
            return { data: { id: comments.length } };
          },
          updateComment: async ({ comment_id, body }: { comment_id: number; body: string }) => {
            comments.find((c) => c.id === comment_id)!.body = body;
          },
        },
      },
    };
    const context = { repo: { owner: 'precog', repo: 'precog-db' }, payload: { pull_request: { number: 7 } } };
    const file = join(copy.dir, 'comment.md');
    writeFileSync(file, '<!-- precog-db review -->\n## precog-db review\n\nfirst push');
    expect(await post({ github, context, file })).toEqual({ created: 2 });
    writeFileSync(file, '<!-- precog-db review -->\n## precog-db review\n\nsecond push');
    expect(await post({ github, context, file })).toEqual({ updated: 2 });
    expect(comments.map((c) => c.body.split('\n').at(-1))).toEqual(['LGTM', 'second push']);
    // Longer than GitHub takes: cut, saying where the rest is.
    const long = post.commentBody('x'.repeat(70_000));
    expect(long.length).toBeLessThanOrEqual(65_536);
    expect(long).toContain("the whole of it is in the Review step's log");
  });
});
