import { Logger } from 'graphile-migrate';
import { redact } from '../server/connection-string.js';

/**
 * graphile-migrate's logger without the per-migration chatter (our commands print their own
 * summary), and with passwords removed from anything it prints.
 */
export const quietLogger = new Logger(() => (level, message) => {
  if (level === 'error' || level === 'warning') console.error(redact(message));
});

/** The same, printing progress too: for `npm run dev`, where the developer watches migrations run. */
export const verboseLogger = new Logger(() => (level, message) => {
  const line = redact(message);
  if (level === 'error' || level === 'warning') console.error(line);
  else if (level === 'info') console.log(line);
});
