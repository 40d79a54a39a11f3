/**
 * No import cycles between the folders of src/: a folder is a layer, and two folders that import
 * each other are one concern split in two (issue 20). The graph is built from the sources, so a
 * cycle introduced tomorrow fails here naming the folders and one import on each edge.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/project.js';

const SRC = join(PROJECT_ROOT, 'src');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return /\.ts$/.test(entry.name) && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** The folder of a file under src/ (`.` for src/ itself). */
const folderOf = (file: string) => relative(SRC, dirname(file)).split('/')[0] || '.';

/** folder -> folder it imports -> one `file imports target` as evidence. */
export function folderGraph(): Map<string, Map<string, string>> {
  const graph = new Map<string, Map<string, string>>();
  for (const file of sources(SRC)) {
    const from = folderOf(file);
    const text = readFileSync(file, 'utf8');
    // static imports and re-exports, `import type` included: a type-only cycle still ties two folders
    for (const match of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+['"](\.{1,2}\/[^'"]+)['"]/g)) {
      const target = resolve(dirname(file), match[1]!);
      if (!target.startsWith(SRC)) continue;
      const to = folderOf(target.replace(/\.js$/, '.ts'));
      if (to === from || to === '.' || from === '.') continue;
      const edges = graph.get(from) ?? graph.set(from, new Map()).get(from)!;
      if (!edges.has(to)) edges.set(to, `${relative(PROJECT_ROOT, file)} imports ${match[1]}`);
    }
  }
  return graph;
}

/** Every cycle, as the strongly connected components of more than one folder (Tarjan). */
export function folderCycles(graph: Map<string, Map<string, string>>): string[][] {
  let index = 0;
  const order = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  const visit = (node: string) => {
    order.set(node, index);
    low.set(node, index++);
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node)?.keys() ?? []) {
      if (!order.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) low.set(node, Math.min(low.get(node)!, order.get(next)!));
    }
    if (low.get(node) === order.get(node)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      if (component.length > 1) components.push(component.sort());
    }
  };
  for (const node of graph.keys()) if (!order.has(node)) visit(node);
  return components;
}

describe('the folders of src/', () => {
  it('import each other without a cycle', () => {
    const graph = folderGraph();
    expect(graph.size).toBeGreaterThan(5); // the graph was read, not an empty directory
    const cycles = folderCycles(graph).map((folders) => {
      const edges = folders.flatMap((from) => folders.filter((to) => graph.get(from)?.has(to)).map((to) => `  ${from} -> ${to}: ${graph.get(from)!.get(to)}`));
      return `cycle between src/{${folders.join(', ')}}:\n${edges.join('\n')}`;
    });
    expect(cycles, cycles.join('\n')).toEqual([]);
  });

  it('the detector finds a cycle when there is one', () => {
    const graph = new Map([['a', new Map([['b', 'x']])], ['b', new Map([['c', 'y']])], ['c', new Map([['a', 'z']])], ['d', new Map([['a', 'w']])]]);
    expect(folderCycles(graph)).toEqual([['a', 'b', 'c']]);
  });
});
