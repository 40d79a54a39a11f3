/** Rows the queries under test refer to but no generated query writes (strategies, models, teams). */
import { randomBytes } from 'node:crypto';
import type { Queryable } from '../../src/runtime/query.js';

/** A name no other test (running concurrently on the shared database) uses. */
export function unique(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex').toUpperCase()}`;
}

/** A strategy and a probability model, so that automated trades are attributable. */
export async function strategyAndModel(db: Queryable): Promise<{ strategyId: number; modelId: number }> {
  const name = unique('test');
  const { rows: [strategy] } = await db.query<{ strategy_id: number }>({
    text: `INSERT INTO strategies (strategy_name, strategy_version) VALUES ($1, '1.0') RETURNING strategy_id`,
    values: [name],
  });
  const { rows: [model] } = await db.query<{ model_id: number }>({
    text: `INSERT INTO probability_models (model_name, model_version) VALUES ($1, '1.0') RETURNING model_id`,
    values: [name],
  });
  return { strategyId: strategy!.strategy_id, modelId: model!.model_id };
}

export async function team(db: Queryable, league: string, code: string): Promise<number> {
  const { rows: [row] } = await db.query<{ team_id: number }>({
    text: `INSERT INTO teams (team_code, name, league) VALUES ($1, $1, $2::league) RETURNING team_id`,
    values: [code, league],
  });
  return row!.team_id;
}
