/**
 * What a schema or query change does to code importing generated/: query functions added or
 * removed, and parameter or result fields that changed. Read from the generated text (the
 * shape emit.ts writes), so the base needs no build: `git show base:generated/x.ts` suffices.
 */
import { byCodeUnit } from '../schema/catalog.js';

export interface Field {
  name: string;
  type: string;
  optional: boolean;
}

export interface GeneratedQuery {
  name: string;
  module: string;
  params: Field[];
  result: Field[];
  /** The runtime definition (SQL, parameter order): a change here alone is not a type change. */
  definition: string;
  /** Codegen's class (scoped, shared, cross): where precogDb offers the query; absent in older output. */
  environment?: string;
}

/** Where precogDb offers a query of each class. */
const OFFERED: Record<string, string> = { scoped: 'scopes', shared: 'db.shared and scopes', cross: 'db.crossEnvironment' };

export interface ImporterChange {
  query: string;
  module: string;
  breaking: boolean;
  text: string;
}

// defineQuery<Params, Result> or defineQuery<Params, Result, "live" | "paper"> (cross-environment queries name their environments).
const QUERY = /^export const (\w+) = defineQuery<(\w+), (\w+)(?:, ([^>]+))?>\(([\s\S]*?)\);$/gm;

/** Parses generated modules (file name → text) into their queries. */
export function parseGenerated(modules: Map<string, string>): Map<string, GeneratedQuery> {
  const queries = new Map<string, GeneratedQuery>();
  for (const [module, text] of modules) {
    for (const match of text.matchAll(QUERY)) {
      const [, name, paramsType, resultType, scope, body] = match;
      const environment = /^\s*environment: "(\w+)",$/m.exec(body!)?.[1];
      queries.set(name!, {
        name: name!,
        module,
        params: interfaceFields(text, paramsType!),
        result: interfaceFields(text, resultType!),
        // pgtyped pads a file's last statement with the blanked-out text after it: not a change.
        definition: `${scope ?? ''}${body}`.replace(/(?:\s|\\n)+"/g, '"'),
        ...(environment && { environment }),
      });
    }
  }
  return queries;
}

/** Fields of `export interface X { ... }`; `export type X = void` has none. */
function interfaceFields(text: string, name: string): Field[] {
  const body = new RegExp(`^export interface ${name} \\{\\n([\\s\\S]*?)\\n\\}`, 'm').exec(text)?.[1];
  if (!body) return [];
  const fields: Field[] = [];
  for (const line of body.split('\n')) {
    const match = /^ {2}(\w+)(\??): (.+);$/.exec(line);
    if (match) fields.push({ name: match[1]!, optional: match[2] === '?', type: match[3]! });
  }
  return fields;
}

export function diffImporters(base: Map<string, GeneratedQuery>, head: Map<string, GeneratedQuery>): ImporterChange[] {
  const changes: ImporterChange[] = [];
  for (const name of [...new Set([...base.keys(), ...head.keys()])].sort(byCodeUnit)) {
    const before = base.get(name);
    const after = head.get(name);
    if (!before) {
      changes.push({ query: name, module: after!.module, breaking: false, text: `\`${name}\` added (${after!.module})` });
      continue;
    }
    if (!after) {
      changes.push({ query: name, module: before.module, breaking: true, text: `\`${name}\` removed (${before.module})` });
      continue;
    }
    const push = (breaking: boolean, text: string) => changes.push({ query: name, module: after.module, breaking, text: `\`${name}\` ${text}` });
    if (before.module !== after.module) push(false, `moved from ${before.module} to ${after.module}`);
    // A query offered elsewhere is gone from where callers found it, or typed differently there.
    if (before.environment && after.environment && before.environment !== after.environment) {
      push(true, `is now ${after.environment}, offered on ${OFFERED[after.environment]} (was ${before.environment}, on ${OFFERED[before.environment]})`);
    }
    for (const change of fieldChanges(before.params, after.params, 'param')) push(change.breaking, change.text);
    for (const change of fieldChanges(before.result, after.result, 'result')) push(change.breaking, change.text);
    const typesChanged = changes.some((change) => change.query === name);
    if (!typesChanged && before.definition !== after.definition) push(false, 'SQL changed, types unchanged');
  }
  return changes;
}

/**
 * Parameters are what callers write: a new required one, a removed one (excess property) or a
 * different type breaks them; a new optional one does not. Results are what callers read: a
 * removed field or a different type breaks them; a new field, or one no longer null, does not.
 */
function fieldChanges(before: Field[], after: Field[], side: 'param' | 'result'): { breaking: boolean; text: string }[] {
  const changes: { breaking: boolean; text: string }[] = [];
  const old = new Map(before.map((field) => [field.name, field]));
  const now = new Map(after.map((field) => [field.name, field]));
  const show = (field: Field) => `${field.name}${field.optional ? '?' : ''}: ${field.type}`;
  for (const field of after) {
    const previous = old.get(field.name);
    if (!previous) {
      const breaking = side === 'param' && !field.optional;
      changes.push({ breaking, text: `${side} \`${show(field)}\` added` });
    } else if (previous.type !== field.type || previous.optional !== field.optional) {
      const breaking = side === 'param' ? !(previous.type === field.type && field.optional) : !narrowedToNonNull(previous, field);
      changes.push({ breaking, text: `${side} \`${show(previous)}\` → \`${show(field)}\`` });
    }
  }
  for (const field of before) {
    if (!now.has(field.name)) changes.push({ breaking: true, text: `${side} \`${show(field)}\` removed` });
  }
  return changes;
}

/** `T | null` → `T`: every value the caller handled before is still possible. */
function narrowedToNonNull(before: Field, after: Field): boolean {
  return before.type === `${after.type} | null` && before.optional === after.optional;
}

/**
 * generated/enums.ts of base and head: a value added to a union type breaks importers' exhaustive
 * switches (`never` checks), a value removed breaks code that names it. A new environment
 * value is both a type change and a change of the environment model.
 */
export function diffEnums(base: string | undefined, head: string | undefined): ImporterChange[] {
  const parse = (text: string | undefined) =>
    new Map([...(text ?? '').matchAll(/^export type (\w+) = (.+);$/gm)].map((m) => [m[1]!, [...m[2]!.matchAll(/"([^"]*)"/g)].map((v) => v[1]!)]));
  const [before, after] = [parse(base), parse(head)];
  const changes: ImporterChange[] = [];
  for (const [name, values] of after) {
    const old = before.get(name);
    if (!old) {
      changes.push({ query: name, module: 'enums.ts', breaking: false, text: `enum type \`${name}\` added (enums.ts)` });
      continue;
    }
    const added = values.filter((v) => !old.includes(v));
    const removed = old.filter((v) => !values.includes(v));
    if (added.length) changes.push({ query: name, module: 'enums.ts', breaking: true, text: `\`${name}\` gains ${added.map((v) => `"${v}"`).join(', ')}: exhaustive switches over it no longer compile` });
    if (removed.length) changes.push({ query: name, module: 'enums.ts', breaking: true, text: `\`${name}\` loses ${removed.map((v) => `"${v}"`).join(', ')}` });
  }
  for (const name of before.keys()) if (!after.has(name)) changes.push({ query: name, module: 'enums.ts', breaking: true, text: `enum type \`${name}\` removed (enums.ts)` });
  return changes;
}
