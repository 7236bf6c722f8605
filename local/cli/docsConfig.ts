/** `npm run docs:config`: rewrites the README's configuration table from functions/commons/settings.ts. */
import { readFile, writeFile } from 'node:fs/promises';
import { withConfigTable } from '../configTable.js';

const file = new URL('../../README.md', import.meta.url);
const before = await readFile(file, 'utf8');
const after = withConfigTable(before);
if (after === before) console.log('README.md: the configuration table is up to date');
else {
  await writeFile(file, after);
  console.log('README.md: configuration table rewritten');
}
