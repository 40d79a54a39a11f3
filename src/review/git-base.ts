/**
 * The base side of a review, read from git without touching the working tree: which commit,
 * its migrations, its generated modules.
 */
import { execFileSync } from 'node:child_process';
import { PROJECT_ROOT } from '../project.js';

export const MAIN_BRANCH = 'main';

function git(args: string[], cwd = PROJECT_ROOT): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 });
}

export interface Base {
  /** As given or chosen: `main`, `HEAD~1`, a commit. */
  ref: string;
  commit: string;
  /** Why this base, for the report. */
  reason: string;
}

/**
 * `--base <ref>` when given. Otherwise the merge base with main: on a branch, that is what the
 * pull request changes. On main itself (or a branch with no commits of its own) the merge base is
 * HEAD, so the review is of the uncommitted work (current.sql, sql/, generated/) when there is
 * some, and of the last commit (HEAD~1) when the tree is clean, as CI on main sees it.
 */
export function resolveBase(ref: string | undefined, cwd = PROJECT_ROOT): Base {
  if (ref) return { ref, commit: verify(ref, cwd), reason: 'given with --base' };
  const head = verify('HEAD', cwd);
  let mergeBase: string;
  try {
    mergeBase = git(['merge-base', 'HEAD', MAIN_BRANCH], cwd).trim();
  } catch {
    throw new Error(`No branch "${MAIN_BRANCH}" to compare with: pass --base <git ref>.`);
  }
  if (mergeBase !== head) return { ref: `merge-base(HEAD, ${MAIN_BRANCH})`, commit: mergeBase, reason: `merge base with ${MAIN_BRANCH}` };
  const dirty = git(['status', '--porcelain', '--', 'migrations', 'sql', 'generated'], cwd).trim() !== '';
  if (dirty) return { ref: 'HEAD', commit: head, reason: 'HEAD: reviewing the uncommitted changes' };
  return { ref: 'HEAD~1', commit: verify('HEAD~1', cwd), reason: 'HEAD~1: reviewing the last commit (clean tree, HEAD is the merge base)' };
}

function verify(ref: string, cwd: string): string {
  try {
    return git(['rev-parse', '--verify', '--quiet', `${ref}^{commit}`], cwd).trim();
  } catch {
    throw new Error(`"${ref}" is not a commit in this repository.`);
  }
}

/** Files directly under `folder` at `commit` (name → text), optionally only those ending in `suffix`. */
export function filesAt(commit: string, folder: string, suffix = '', cwd = PROJECT_ROOT): Map<string, string> {
  const files = new Map<string, string>();
  const listing = tryGit(['ls-tree', '--name-only', commit, `${folder}/`], cwd);
  for (const path of listing.split('\n').filter((line) => line.endsWith(suffix) && line.trim())) {
    const name = path.slice(path.lastIndexOf('/') + 1);
    files.set(name, git(['show', `${commit}:${path}`], cwd));
  }
  return files;
}

/** One file at `commit`, or undefined when it does not exist there. */
export function fileAt(commit: string, path: string, cwd = PROJECT_ROOT): string | undefined {
  const text = tryGit(['show', `${commit}:${path}`], cwd);
  return text === '' && !tryGit(['ls-tree', '--name-only', commit, path], cwd).trim() ? undefined : text;
}

function tryGit(args: string[], cwd: string): string {
  try {
    return git(args, cwd);
  } catch {
    return '';
  }
}
