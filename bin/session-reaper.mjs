#!/usr/bin/env node
// The `session-reaper` command: runs the JavaScript that scripts/build.mjs compiles from src/ into dist/
// (`npm ci` builds it; so do `npm test` and `npm start`).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli/main.mjs', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write(`session-reaper: ${new URL('../dist/', import.meta.url).pathname} is missing: build the command with \`npm run build\` (npm ci does it too)\n`);
  process.exit(2);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
