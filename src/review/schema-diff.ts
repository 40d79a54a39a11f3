/**
 * Two snapshots → what changed, in the words a reviewer uses (`trades.fees: numeric(10,4) →
 * numeric(12,4)`, `index idx_x added`), object by object rather than as a text diff.
 */
import { byCodeUnit } from '../schema/catalog.js';
import { type Block, type ColumnLine, parseSnapshot, parseTableColumns } from '../schema/snapshot-format.js';

export interface SchemaChange {
  kind: Block['kind'];
  name: string;
  change: 'added' | 'removed' | 'changed';
  /** One line for the report. */
  text: string;
}

const REVIEW_ORDER: Block['kind'][] = [
  'extension', 'type', 'domain', 'table', 'constraint', 'index', 'sequence', 'view', 'materialized view',
  'function', 'trigger', 'row security', 'policy', 'role', 'membership', 'owner', 'grant', 'default privileges', 'comment',
];

export function diffSnapshots(baseText: string, headText: string): SchemaChange[] {
  const base = parseSnapshot(baseText);
  const head = parseSnapshot(headText);
  // Structure first, then behaviour, then security, comments last: the order a reviewer reads in.
  const rank = (key: string) => String(REVIEW_ORDER.indexOf((head.get(key) ?? base.get(key))!.kind)).padStart(2, '0');
  const keys = [...new Set([...base.keys(), ...head.keys()])].sort((a, b) => byCodeUnit(rank(a) + a, rank(b) + b));
  const changes: SchemaChange[] = [];
  for (const key of keys) {
    const before = base.get(key);
    const after = head.get(key);
    if (before && after && before.body === after.body) continue;
    const { kind, name } = (after ?? before)!;
    if (!before) changes.push({ kind, name, change: 'added', text: added(after!) });
    else if (!after) changes.push({ kind, name, change: 'removed', text: `${label(before)} removed` });
    else for (const text of changed(before, after)) changes.push({ kind, name, change: 'changed', text });
  }
  return changes;
}

/** `CREATE ROLE r BYPASSRLS LOGIN;` → `BYPASSRLS LOGIN`. */
const roleAttributes = (body: string) => /^CREATE ROLE \S+ (.+);$/.exec(body)?.[1] ?? 'no attributes';

function label(block: Block): string {
  if (block.kind === 'membership') return `role membership \`${block.body.replace(/;$/, '')}\``;
  if (block.kind === 'comment') return `comment on ${block.name}`;
  return `${block.kind} ${block.name}`;
}

function added(block: Block): string {
  if (block.kind === 'table') {
    const columns = parseTableColumns(block.body);
    return `table ${block.name} added (${columns.length} column${columns.length === 1 ? '' : 's'}: ${columns.map((c) => c.name).join(', ')})`;
  }
  if (block.kind === 'grant') return `grant ${grantPrivileges(block.body)} on ${block.name} added`;
  if (block.kind === 'type') return `enum ${block.name} added (${enumValues(block.body).join(', ')})`;
  if (block.kind === 'constraint') return `constraint ${block.name} added: \`${definition(block.body)}\``;
  if (block.kind === 'membership') return `role membership added: \`${block.body.replace(/;$/, '')}\``;
  if (block.kind === 'role' && roleAttributes(block.body) !== 'no attributes') return `role ${block.name} added (${roleAttributes(block.body)})`;
  return `${label(block)} added`;
}

function changed(before: Block, after: Block): string[] {
  switch (after.kind) {
    case 'table':
      return tableChanges(after.name, before.body, after.body);
    case 'type':
      return enumChanges(after.name, enumValues(before.body), enumValues(after.body));
    case 'role':
      return [`role ${after.name}: ${roleAttributes(before.body)} → ${roleAttributes(after.body)}`];
    case 'grant':
      return [`grant on ${after.name}: ${grantPrivileges(before.body)} → ${grantPrivileges(after.body)}`];
    case 'comment':
      return [`comment on ${after.name} changed`];
    case 'row security':
      return [`row-level security on ${after.name}: ${securityState(before.body)} → ${securityState(after.body)}`];
    case 'trigger': {
      // Enabled or disabled is said as such: the definition is otherwise the same.
      const [stateBefore, stateAfter] = [triggerState(before.body), triggerState(after.body)];
      const same = stripState(before.body) === stripState(after.body);
      if (stateBefore !== stateAfter && same) return [`trigger ${after.name}: ${stateAfter}${stateBefore !== 'enabled' ? ` (was ${stateBefore})` : ''}`];
      return [`trigger ${after.name}: ${shortChange(definition(stripState(before.body)), definition(stripState(after.body)))}${stateBefore !== stateAfter ? `, and ${stateAfter}` : ''}`];
    }
    case 'constraint':
    case 'index':
    case 'policy':
      return [`${after.kind} ${after.name}: ${shortChange(definition(before.body), definition(after.body))}`];
    default:
      return [`${label(after)}: definition changed`];
  }
}

function tableChanges(table: string, beforeBody: string, afterBody: string): string[] {
  const before = parseTableColumns(beforeBody);
  const after = parseTableColumns(afterBody);
  const lines: string[] = [];
  const beforeByName = new Map(before.map((column) => [column.name, column]));
  const afterByName = new Map(after.map((column) => [column.name, column]));
  for (const column of after) {
    const old = beforeByName.get(column.name);
    if (!old) lines.push(`${table}.${column.name} added: ${describeColumn(column)}`);
    else lines.push(...columnChanges(`${table}.${column.name}`, old, column));
  }
  for (const column of before) if (!afterByName.has(column.name)) lines.push(`${table}.${column.name} removed`);
  const common = (columns: ColumnLine[], other: Map<string, ColumnLine>) => columns.filter((c) => other.has(c.name)).map((c) => c.name).join();
  if (common(before, afterByName) !== common(after, beforeByName)) lines.push(`table ${table}: columns reordered`);
  const shape = (body: string) => body.split('\n').filter((line) => !line.startsWith('    ')).join('\n');
  if (shape(beforeBody) !== shape(afterBody)) lines.push(`table ${table}: ${shortChange(shape(beforeBody), shape(afterBody))}`);
  return lines.length ? lines : [`table ${table}: definition changed`];
}

function columnChanges(name: string, before: ColumnLine, after: ColumnLine): string[] {
  const lines: string[] = [];
  if (before.type !== after.type) lines.push(`${name}: ${before.type} → ${after.type}`);
  if (before.notNull !== after.notNull) lines.push(`${name}: now ${after.notNull ? 'NOT NULL' : 'nullable'}`);
  if (before.default !== after.default) lines.push(`${name}: default ${before.default ?? 'none'} → ${after.default ?? 'none'}`);
  if (before.generated !== after.generated) lines.push(`${name}: ${before.generated ?? 'not generated'} → ${after.generated ?? 'not generated'}`);
  if (before.collation !== after.collation) lines.push(`${name}: collation ${before.collation ?? 'default'} → ${after.collation ?? 'default'}`);
  return lines;
}

function describeColumn(column: ColumnLine): string {
  return [column.type, column.notNull ? 'NOT NULL' : 'nullable', column.generated, column.default !== null ? `DEFAULT ${column.default}` : null]
    .filter(Boolean)
    .join(' ');
}

function enumValues(body: string): string[] {
  return body.split('\n').filter((line) => line.startsWith('    ')).map((line) => line.trim().replace(/,$/, ''));
}

function enumChanges(name: string, before: string[], after: string[]): string[] {
  const lines = after.filter((value) => !before.includes(value)).map((value) => `enum ${name}: value ${value} added`);
  lines.push(...before.filter((value) => !after.includes(value)).map((value) => `enum ${name}: value ${value} removed`));
  const kept = (values: string[], other: string[]) => values.filter((value) => other.includes(value)).join();
  if (kept(before, after) !== kept(after, before)) lines.push(`enum ${name}: values reordered`);
  return lines;
}

/** A trigger's state as the snapshot writes it after its definition (snapshot.ts). */
const STATE = /\nALTER TABLE \S+ (DISABLE|ENABLE ALWAYS|ENABLE REPLICA) TRIGGER \S+;$/;
const triggerState = (body: string) => ({ DISABLE: 'disabled', 'ENABLE ALWAYS': 'enabled always (also during replication)', 'ENABLE REPLICA': 'enabled for replication only (never fires in normal sessions)' })[STATE.exec(body)?.[1] ?? ''] ?? 'enabled';
const stripState = (body: string) => body.replace(STATE, '');

const grantPrivileges = (body: string) => /^GRANT (.+?)(?: \(.*\))? ON /.exec(body)?.[1] ?? body;
const securityState = (body: string) =>
  [body.includes('ENABLE ROW') ? 'enabled' : 'disabled', body.includes('FORCE ROW') ? 'forced' : ''].filter(Boolean).join(', ');

/** The statement without the `ALTER TABLE t ADD CONSTRAINT c` prefix that both sides share. */
function definition(body: string): string {
  return body.replace(/^ALTER TABLE \S+ ADD CONSTRAINT \S+ /, '').replace(/;$/, '');
}

/** `old → new` when short enough to read in one line, otherwise just "definition changed". */
function shortChange(before: string, after: string): string {
  const oneLine = (text: string) => text.replace(/\s+/g, ' ').trim();
  const [a, b] = [oneLine(before), oneLine(after)];
  return a.length + b.length <= 240 ? `definition changed: \`${a}\` → \`${b}\`` : 'definition changed';
}
