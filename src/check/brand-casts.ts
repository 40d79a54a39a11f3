/**
 * Branded rows come only from a scope. A type assertion to a branded type (`x as Live<Trade>`)
 * forges one, so outside src/ (where the scope itself lives) every such cast is reported.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { PROJECT_ROOT } from '../project.js';

// Id<...> and Key<...> with their type arguments: the bare words are too common to mean a brand.
const BRANDED = /\b(Live|Paper|Backtest|NonLive|AnyEnvironment|EnvironmentScoped|PositionId|PositionKey|TradeId|BacktestRunId)\b|\b(Id|Key)\s*</;
const SKIPPED = new Set(['node_modules', 'src', '.git', '.precog']);

export function brandCastProblems(root = PROJECT_ROOT): string[] {
  const problems: string[] = [];
  for (const file of typescriptFiles(root)) {
    const text = readFileSync(file, 'utf8');
    if (!BRANDED.test(text)) continue;
    const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
    const visit = (node: ts.Node): void => {
      if ((ts.isAsExpression(node) || ts.isTypeAssertionExpression(node)) && BRANDED.test(node.type.getText(source))) {
        const { line, character } = source.getLineAndCharacterOfPosition(node.type.getStart(source));
        problems.push(
          `${relative(root, file)}:${line + 1}:${character + 1} casts to ${node.type.getText(source)}: a branded row or id ` +
            'must come from a scope (precogDb(...).scope(env, ...)), not from a type assertion.',
        );
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return problems;
}

function typescriptFiles(dir: string): string[] {
  const files: string[] = [];
  for (const name of readdirSync(dir)) {
    if (SKIPPED.has(name) && dir === PROJECT_ROOT) continue;
    if (name === 'node_modules') continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) files.push(...typescriptFiles(path));
    else if (/\.tsx?$/.test(name) && !name.endsWith('.d.ts')) files.push(path);
  }
  return files;
}
