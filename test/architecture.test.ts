/**
 * The rule of which folder may import which (docs/architecture.md), held by reading every import of
 * src/ and functions/. Each folder imports only the folders below it in the picture; the stand-in is
 * reached only from the demo and the `mongod` subcommand.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Folder → the folders it may import (besides itself and npm packages). */
export const ALLOWED: Record<string, readonly string[]> = {
  'functions': ['src/service', 'src/adapters', 'src/pass', 'src/util'],
  'src/demo': ['src/cli', 'src/service', 'src/adapters', 'src/review', 'src/pass', 'src/util', 'standin'],
  'src/cli': ['src/service', 'src/adapters', 'src/review', 'src/pass', 'src/util'],
  'src/service': ['src/adapters', 'src/pass', 'src/util'],
  'src/adapters': ['src/review', 'src/pass', 'src/util'],
  'src/review': ['src/pass', 'src/util'],
  'src/pass': ['src/util', 'schemas'],
  'src/util': [],
};
/** Single files allowed one import beyond their folder's rule, each with its reason. */
const EXCEPTIONS: Record<string, { target: string; why: string }> = {
  'src/cli/main.ts': { target: 'standin', why: 'the `mongod` subcommand starts the stand-in' },
};

function folderOf(path: string): string | null {
  if (path.startsWith('standin/')) return 'standin';
  if (path.startsWith('schemas/')) return 'schemas';
  return Object.keys(ALLOWED).filter((f) => path === f || path.startsWith(f + '/')).sort((a, b) => b.length - a.length)[0] ?? null;
}

function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(join(ROOT, dir))) {
    const path = join(dir, name);
    if (statSync(join(ROOT, path)).isDirectory()) sources(path, out);
    else if (/\.(ts|js)$/.test(name) && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

const IMPORT = /(?:from\s+|import\s*\(\s*|import\s+)'(\.{1,2}\/[^']+)'/g;

function violations(): string[] {
  const found: string[] = [];
  for (const file of [...sources('src'), ...sources('functions')]) {
    const own = folderOf(file);
    assert.ok(own, `${file} is in no folder of the architecture: add it to ALLOWED in test/architecture.test.ts and docs/architecture.md`);
    const text = readFileSync(join(ROOT, file), 'utf8');
    for (const m of text.matchAll(IMPORT)) {
      const target = relative(ROOT, resolve(ROOT, dirname(file), m[1]!));
      const to = folderOf(target);
      if (to === own) continue;
      if (to && ALLOWED[own]!.includes(to)) continue;
      if (to && EXCEPTIONS[file]?.target === to) continue;
      found.push(`${file} imports ${target} (${own} -> ${to ?? 'outside the architecture'})`);
    }
  }
  return found;
}

test('every import of src/ and functions/ follows the folder rule of docs/architecture.md', () => {
  assert.deepEqual(violations(), []);
});

test('the rule can fail: a pass module importing the service would be reported', () => {
  // The checker itself, on a synthetic import: guards against a regex that matches nothing.
  const own = folderOf('src/pass/pass.ts');
  const to = folderOf('src/service/app.ts');
  assert.equal(own, 'src/pass');
  assert.equal(to, 'src/service');
  assert.ok(!ALLOWED[own!]!.includes(to!));
  const sample = "import { x } from '../service/app.ts';\nconst y = await import('../adapters/mongodb/adapter.ts');";
  assert.deepEqual([...sample.matchAll(IMPORT)].map((m) => m[1]), ['../service/app.ts', '../adapters/mongodb/adapter.ts']);
});

test('functions/ holds exactly the deployed functions of serverless.yml', () => {
  const yml = readFileSync(join(ROOT, 'serverless.yml'), 'utf8');
  const handlers = [...yml.matchAll(/handler:\s*functions\/([\w-]+)\.handler/g)].map((m) => `${m[1]}.ts`).sort();
  assert.deepEqual(readdirSync(join(ROOT, 'functions')).sort(), handlers);
});
