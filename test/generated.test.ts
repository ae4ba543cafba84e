/**
 * Generated code is committed; it must be what the generator makes from today's sources, or a schema
 * change would silently not reach the Lambda bundles.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { generatedValidators } from '../scripts/generate-validators.ts';

test('the generated validators are up to date with policies/schema.json and schemas/ (run `npm run generate` if not)', () => {
  for (const [path, code] of Object.entries(generatedValidators())) {
    assert.equal(readFileSync(new URL(`../${path}`, import.meta.url), 'utf8'), code, `${path} is stale: run npm run generate`);
  }
});

test('the generated folders hold nothing the generator does not make (a validator left behind by a removed schema)', () => {
  const made = Object.keys(generatedValidators());
  for (const dir of new Set(made.map((path) => dirname(path)))) {
    const present = readdirSync(new URL(`../${dir}`, import.meta.url)).map((name) => `${dir}/${name}`).sort();
    assert.deepEqual(present, made.filter((path) => dirname(path) === dir).sort(), `${dir}: delete what npm run generate does not write`);
  }
});
