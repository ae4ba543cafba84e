/**
 * docs/snapshots.md is the reference of what a snapshot keeps: its tables must list exactly the fields the
 * recorder keeps, with the same reasons, and the credential fields it removes. The writer's version in every
 * snapshot header is the package's.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { WRITER_NAME, WRITER_VERSION } from '../src/adapters/snapshot/format.ts';
import { CREDENTIAL_FIELDS, KEPT_CURRENT_OP_FIELDS, KEPT_LISTING_FIELDS } from '../src/adapters/snapshot/redaction.ts';

const doc = readFileSync(new URL('../docs/snapshots.md', import.meta.url), 'utf8');

/** The rows of the first table after `heading`. */
function table(heading: string): { path: string; why: string }[] {
  const start = doc.indexOf(heading);
  assert.ok(start >= 0, `docs/snapshots.md has "${heading}"`);
  const rows: { path: string; why: string }[] = [];
  let inTable = false;
  for (const line of doc.slice(start).split('\n').slice(1)) {
    const m = /^\| `([^`]+)` \| (.+) \|$/.exec(line);
    if (m) {
      inTable = true;
      rows.push({ path: m[1]!, why: m[2]! });
    } else if (inTable && !line.startsWith('|')) break;
  }
  return rows;
}

test('the kept fields of listings and of $currentOp are documented, each with its reason', () => {
  assert.deepEqual(table('Kept in `$listSessions` and `$listLocalSessions` documents'), KEPT_LISTING_FIELDS.map(({ path, why }) => ({ path, why })));
  assert.deepEqual(table('Kept in `$currentOp` documents'), KEPT_CURRENT_OP_FIELDS.map(({ path, why }) => ({ path, why })));
});

test('the credential fields are documented', () => {
  const start = doc.indexOf('Credential fields');
  const paragraph = doc.slice(start, doc.indexOf('\n\n', start));
  assert.deepEqual([...paragraph.matchAll(/`([^`]+)`/g)].map((m) => m[1]), [...CREDENTIAL_FIELDS]);
});

test('snapshot headers name the package and its version', () => {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  assert.equal(`${WRITER_NAME} ${WRITER_VERSION}`, `${pkg.name} ${pkg.version}`);
});
