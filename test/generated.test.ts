/**
 * Generated code is committed; it must be what the generator makes from today's sources, or a schema
 * change would silently not reach the Lambda bundles.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { generatedValidators } from '../scripts/generate-validators.ts';

test('src/generated is up to date with policies/schema.json (run `npm run generate` if not)', () => {
  for (const [path, code] of Object.entries(generatedValidators())) {
    assert.equal(readFileSync(new URL(`../${path}`, import.meta.url), 'utf8'), code, `${path} is stale: run npm run generate`);
  }
});
