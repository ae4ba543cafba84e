/**
 * Rewrites the generated configuration reference in docs/deploy.md from src/service/config.ts SETTINGS.
 *   node --import tsx scripts/config-reference.ts          rewrite the file
 *   node --import tsx scripts/config-reference.ts --check  exit 1 when it is out of date
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { BEGIN, END, configReference } from '../src/service/config-reference.ts';

const path = new URL('../docs/deploy.md', import.meta.url);
const text = readFileSync(path, 'utf8');
const start = text.indexOf(BEGIN);
const end = text.indexOf(END);
if (start < 0 || end < start) {
  console.error(`docs/deploy.md has no generated section (${BEGIN} ... ${END})`);
  process.exit(1);
}
const updated = text.slice(0, start) + (await configReference()) + text.slice(end + END.length);
if (process.argv.includes('--check')) {
  if (updated !== text) {
    console.error('docs/deploy.md: the configuration reference is out of date; run npm run docs:config');
    process.exit(1);
  }
} else {
  writeFileSync(path, updated);
}
