/** `npm run codegen`: regenerate generated/ from sql/ against a database built from the migrations. */
import { codegen } from '../codegen/codegen.js';
import { resolveTarget } from '../server/resolve.js';
import { runCommand } from './run-command.js';

runCommand(async () => {
  const started = Date.now();
  const { server } = await resolveTarget();
  const result = await codegen(server);
  const changed = result.changed.length ? `changed: ${result.changed.join(', ')}` : 'nothing changed';
  console.log(`Generated ${result.queries} queries in ${result.files} files in ${Date.now() - started} ms (${changed}).`);
});
