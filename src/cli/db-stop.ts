/** `npm run db:stop`: stop the embedded PostgreSQL (its data stays; the next command restarts it). */
import { stopEmbeddedServer } from '../server/embedded.js';
import { runCommand } from './run-command.js';

runCommand(async () => {
  console.log((await stopEmbeddedServer()) ? 'Embedded PostgreSQL stopped.' : 'Embedded PostgreSQL was not running.');
});
