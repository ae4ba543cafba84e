/**
 * What the deployment template promises an operator before anything is deployed (serverless.yml).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

const yml = readFileSync(new URL('../serverless.yml', import.meta.url), 'utf8');

test('a first deploy is a dry run: the dryRun param defaults to true and feeds the reaper\'s DRY_RUN', () => {
  assert.match(yml, /^ {4}dryRun: 'true'$/m);
  assert.match(yml, /^ {6}DRY_RUN: \$\{param:dryRun\}$/m);
});
