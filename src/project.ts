/** The project's root folder (where package.json and .gmrc.cjs are): every path precog-db reads or writes starts here. */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
