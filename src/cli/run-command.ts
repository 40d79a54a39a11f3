import { redact } from '../server/connection-string.js';

/**
 * Runs a command's body: a failure prints its message (passwords removed) and exits 1,
 * without a stack trace, which says nothing to the person reading it.
 */
export function runCommand(body: () => Promise<void>): void {
  body().then(
    () => process.exit(0),
    (error: unknown) => {
      const message = error instanceof Error ? error.message : String(error);
      console.error(`\n${redact(message)}`);
      if (process.env.PRECOG_DEBUG && error instanceof Error) console.error(redact(error.stack ?? ''));
      process.exit(1);
    },
  );
}
