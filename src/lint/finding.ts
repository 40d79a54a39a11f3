/**
 * One finding, the same shape wherever a rule is judged: the environment-safety lint, squawk, the
 * review and `npm run check`. The rule is named the same way in each (`env/...` for the lint's
 * rules over text, `squawk/<rule>`, `guarantee/...`, `data/...`, `consumer/...`, `convention/...`
 * for the review's judgment of the head schema and the change). A blocking finding fails
 * `npm run review` (and `npm run check` for the lint and the invariants of the head schema).
 */
export interface Finding {
  rule: string;
  /** The object it is about: `trades`, `trades_live.live_history_kept`, `sql/trades.sql:listTrades`, or the file. */
  object: string;
  /** What is wrong (or what the change does), in words. */
  message: string;
  /** What to check and how to resolve it (the declaration to call, the query to fix, the marker to add); '' when the message says it. */
  resolve: string;
  blocking: boolean;
  /** Where it is, path relative to the project root, when known (always, for the lint): for annotations. */
  file?: string;
  line?: number;
}

/** A finding that names its file and line: what the lint and squawk report, judging text. */
export type LocatedFinding = Finding & { file: string; line: number };

export const finding = (rule: string, object: string, message: string, resolve: string, blocking = true): Finding => ({ rule, object, message, resolve, blocking });

/** A finding of the lint at a file's line, about `object` (a sql/ query `file:name`, or the file itself). */
export const located = (file: string, line: number, rule: string, message: string, blocking = true, object = file): LocatedFinding =>
  ({ rule, object, message, resolve: '', blocking, file, line });
