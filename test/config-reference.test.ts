/**
 * docs/deploy.md's configuration reference is the one generated from the settings table.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { SETTINGS } from '../src/service/config.ts';
import { BEGIN, END, configReference } from '../src/service/config-reference.ts';

test('docs/deploy.md has the generated configuration reference, up to date (npm run docs:config rewrites it)', async () => {
  // Prepare
  const doc = readFileSync(new URL('../docs/deploy.md', import.meta.url), 'utf8');
  const section = doc.slice(doc.indexOf(BEGIN), doc.indexOf(END) + END.length);
  // Act
  const generated = await configReference();
  // Assess
  assert.equal(section, generated);
  for (const s of SETTINGS) assert.ok(section.includes(`\`${s.env}\``), `${s.env} is documented`);
});
