/**
 * One thing the review tells a reviewer about what a change does to a guarantee: which object,
 * which guarantee (the rule), what is lost, and how to resolve it. A blocking point fails
 * `npm run review` (and `npm run check` for the invariants of the head schema).
 */
export interface Point {
  /** `guarantee/...`, `data/...`, `consumer/...`, `convention/...`. */
  rule: string;
  /** The object the point is about: `trades`, `trades_live.live_history_kept`, `sql/trades.sql:listTrades`. */
  object: string;
  /** What the change does, in words. */
  message: string;
  /** What a reviewer should check and how to resolve it (the declaration to call, the query to fix, the marker to add). */
  resolve: string;
  blocking: boolean;
}

export const point = (rule: string, object: string, message: string, resolve: string, blocking = true): Point => ({ rule, object, message, resolve, blocking });

export function renderPoint(p: Point): string {
  return `- ${p.blocking ? '**blocking**' : 'advice'} ${p.rule} \`${p.object}\`: ${p.message}${p.resolve ? ` — *Resolve:* ${p.resolve}` : ''}`;
}
