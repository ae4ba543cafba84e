#!/usr/bin/env node
// Runs every *.test.ts under the given folders (default: standin/test and test) with node's
// own test runner and tsx as the TypeScript loader. Node 20's `--test` takes no globs, so the
// files are found here and passed explicitly; the runner's closing summary is what CI reads.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const roots = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const flags = process.argv.slice(2).filter((a) => a.startsWith('-'));
const files = [];
function walk(dir) {
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (name === 'node_modules') continue;
    if (statSync(path).isDirectory()) walk(path);
    else if (name.endsWith('.test.ts')) files.push(path);
  }
}
for (const root of roots.length ? roots : ['standin/test', 'test']) walk(root);
if (files.length === 0) {
  console.error('run-tests: no *.test.ts files found under ' + (roots.join(', ') || 'standin/test, test'));
  process.exit(1);
}
const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=2', ...flags, ...files],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);
