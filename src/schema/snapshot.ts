/**
 * A deterministic schema snapshot (generated/schema.sql) by catalog introspection.
 * Why not pg_dump: the embedded server ships none, and a user's may be another major version
 * (pg_dump refuses newer servers) or print version banners. The text depends only on the
 * migrations: no OIDs, no owner names, no versions, everything sorted by code unit.
 */
import type { ServerTarget } from '../server/connection-string.js';
import { connect } from '../server/resolve.js';
import { type Catalog, readCatalog, sortBy } from './catalog.js';
import { type Block, renderBlocks, renderColumn } from './snapshot-format.js';

export async function schemaSnapshot(server: ServerTarget, database: string): Promise<string> {
  const client = await connect(server, database);
  try {
    return renderSnapshot(await readCatalog(client));
  } finally {
    await client.end();
  }
}

interface Placed extends Block {
  /** Sort key: section, the table (or object) it belongs to, position within that group, own name. */
  at: string[];
}

const SECTION = { extension: '0', role: '1', type: '2', sequence: '3', function: '4', relation: '5', schema: '6' };
// Within a table's group: the table, its constraints, indexes, triggers, security, grants, comments.
const WITHIN = { object: '0', constraint: '1', index: '2', trigger: '3', security: '4', policy: '5', grant: '6', comment: '7', owner: '8' };

export function renderSnapshot(catalog: Catalog): string {
  const placed: Placed[] = [];
  const add = (at: string[], block: Block) => placed.push({ ...block, at });

  for (const name of catalog.extensions) add([SECTION.extension, name], { kind: 'extension', name, body: `CREATE EXTENSION ${name} SCHEMA public;` });
  for (const name of catalog.roles) {
    const attributes = catalog.roleAttributes?.find((r) => r.role === name)?.attributes ?? [];
    add([SECTION.role, name], { kind: 'role', name, body: `CREATE ROLE ${name}${attributes.length ? ` ${attributes.join(' ')}` : ''};` });
  }
  for (const { role, member } of catalog.memberships ?? []) {
    add([SECTION.role, role, member], { kind: 'membership', name: `${member} in ${role}`, body: `GRANT ${role} TO ${member};` });
  }
  for (const { name, values } of catalog.enums) {
    const list = values.map((value) => `    '${value.replace(/'/g, "''")}'`).join(',\n');
    add([SECTION.type, name, WITHIN.object], { kind: 'type', name, body: `CREATE TYPE ${name} AS ENUM (\n${list}\n);` });
  }
  for (const { name, definition } of catalog.domains) {
    add([SECTION.type, name, WITHIN.object], { kind: 'domain', name, body: `CREATE DOMAIN ${name} AS ${definition};` });
  }
  for (const { name, definition, ownedBy } of catalog.sequences) {
    const owned = ownedBy ? `\nALTER SEQUENCE ${name} OWNED BY ${ownedBy};` : '';
    add([SECTION.sequence, name, WITHIN.object], { kind: 'sequence', name, body: `CREATE SEQUENCE ${name} ${definition};${owned}` });
  }
  for (const { signature, definition, owner } of catalog.functions) {
    add([SECTION.function, signature, WITHIN.object], { kind: 'function', name: signature, body: `${definition.trim()};` });
    if (owner) add([SECTION.function, signature, WITHIN.owner], { kind: 'owner', name: `function ${signature}`, body: `ALTER FUNCTION ${signature} OWNER TO ${owner};` });
  }
  for (const relation of catalog.relations) {
    const group = [SECTION.relation, relation.name];
    add([...group, WITHIN.object], relationBlock(relation));
    if (relation.rowSecurity || relation.forceRowSecurity) {
      const lines = [];
      if (relation.rowSecurity) lines.push(`ALTER TABLE ${relation.name} ENABLE ROW LEVEL SECURITY;`);
      if (relation.forceRowSecurity) lines.push(`ALTER TABLE ${relation.name} FORCE ROW LEVEL SECURITY;`);
      add([...group, WITHIN.security], { kind: 'row security', name: relation.name, body: lines.join('\n') });
    }
    if (relation.owner) {
      add([...group, WITHIN.owner], { kind: 'owner', name: relation.name, body: `ALTER TABLE ${relation.name} OWNER TO ${relation.owner};` });
    }
  }
  for (const c of catalog.constraints) {
    add([SECTION.relation, c.table, WITHIN.constraint, c.name], {
      kind: 'constraint',
      name: `${c.table}.${c.name}`,
      body: `ALTER TABLE ${c.table} ADD CONSTRAINT ${c.name} ${c.definition};`,
    });
  }
  for (const index of catalog.indexes) {
    add([SECTION.relation, index.table, WITHIN.index, index.name], { kind: 'index', name: index.name, body: `${index.definition};` });
  }
  for (const trigger of catalog.triggers) {
    const disabled = trigger.enabled === 'O' ? '' : `\nALTER TABLE ${trigger.table} ${trigger.enabled === 'D' ? 'DISABLE' : trigger.enabled === 'A' ? 'ENABLE ALWAYS' : 'ENABLE REPLICA'} TRIGGER ${trigger.name};`;
    add([SECTION.relation, trigger.table, WITHIN.trigger, trigger.name], {
      kind: 'trigger',
      name: `${trigger.table}.${trigger.name}`,
      body: `${trigger.definition};${disabled}`,
    });
  }
  for (const policy of catalog.policies) {
    add([SECTION.relation, policy.table, WITHIN.policy, policy.name], { kind: 'policy', name: `${policy.table}.${policy.name}`, body: policy.definition });
  }
  for (const grant of catalog.grants) {
    const on = grant.objectKind === 'COLUMN' ? grantOnColumn(grant.object, grant.privileges) : `${grant.privileges.join(', ')} ON ${grant.objectKind} ${grant.object}`;
    const name = `${grant.objectKind.toLowerCase()} ${grant.object} to ${grant.grantee}${grant.grantable ? ' with grant option' : ''}`;
    const at = grant.group ? [SECTION.relation, grant.group, WITHIN.grant, name]
      : grant.objectKind === 'FUNCTION' ? [SECTION.function, grant.object, WITHIN.grant, name]
        : grant.objectKind === 'TYPE' ? [SECTION.type, grant.object, WITHIN.grant, name]
          : [SECTION.schema, name];
    add(at, { kind: 'grant', name, body: `GRANT ${on} TO ${grant.grantee}${grant.grantable ? ' WITH GRANT OPTION' : ''};` });
  }
  for (const { statement } of catalog.defaultPrivileges) {
    // Named by the statement itself: default privileges have no name of their own.
    add([SECTION.schema, 'default', statement], { kind: 'default privileges', name: statement.replace(/;$/, ''), body: statement });
  }
  for (const comment of catalog.comments) {
    const name = `${comment.kind.toLowerCase()} ${comment.target}`;
    const section = comment.group ? SECTION.relation
      : comment.kind === 'FUNCTION' || comment.kind === 'PROCEDURE' ? SECTION.function : SECTION.type;
    const owner = comment.group || comment.target;
    add([section, owner, WITHIN.comment, name], { kind: 'comment', name, body: `COMMENT ON ${comment.kind} ${comment.target} IS ${comment.text};` });
  }
  return renderBlocks(sortBy(placed, (block) => block.at));
}

function relationBlock(relation: Catalog['relations'][number]): Block {
  const options = relation.options.length ? ` WITH (${relation.options.join(', ')})` : '';
  if (relation.kind === 'v' || relation.kind === 'm') {
    const kind = relation.kind === 'v' ? 'view' : 'materialized view';
    const definition = (relation.viewDefinition ?? '').trim().replace(/;$/, '');
    return { kind, name: relation.name, body: `CREATE ${kind.toUpperCase()} ${relation.name}${options} AS\n${definition};` };
  }
  const columns = relation.columns.map((column) => renderColumn({ ...column, generated: column.generated || null }));
  const kind = `${relation.unlogged ? 'UNLOGGED ' : ''}${relation.kind === 'f' ? 'FOREIGN ' : ''}TABLE`;
  const partition = relation.partitionKey ? ` PARTITION BY ${relation.partitionKey}` : '';
  return { kind: 'table', name: relation.name, body: `CREATE ${kind} ${relation.name} (\n${columns.join(',\n')}\n)${partition}${options};` };
}

/** `table (column)` → `SELECT (column) ON TABLE table`. */
function grantOnColumn(object: string, privileges: string[]): string {
  const [, table, column] = /^(.+) \((.+)\)$/.exec(object) ?? [];
  return `${privileges.join(', ')} (${column}) ON TABLE ${table}`;
}
