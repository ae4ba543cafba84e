/**
 * The README is reference documentation: its fact catalogue, operator list and configuration table must
 * name exactly what the code has, so a new fact, operator or setting cannot ship undocumented.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { FACT_CATALOGUE } from '../src/pass/facts.ts';
import { OPERATORS } from '../src/pass/policy/operators.ts';
import { SETTINGS } from '../src/service/config.ts';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

function section(title: string): string {
  const start = readme.indexOf(title);
  assert.ok(start >= 0, `README has a "${title}" section`);
  const next = readme.indexOf('\n#', start + title.length);
  return readme.slice(start, next < 0 ? undefined : next);
}

test('the README fact catalogue lists every fact with its type, unit, sources and aggregation, and nothing else', () => {
  const rows = [...section('### Fact catalogue').matchAll(/^\| `(\w+)` \| ([^|]+) \| ([^|]+) \| ([^|]+) \| ([^|]+) \| ([^|]+) \|$/gm)];
  assert.deepEqual(rows.map((r) => r[1]), FACT_CATALOGUE.map((f) => f.name));
  for (const [, name, type, unit, from, perSession, meaning] of rows) {
    const spec = FACT_CATALOGUE.find((f) => f.name === name)!;
    assert.equal(type!.trim(), `${spec.type}${spec.nullable ? ' or unknown' : ''}`, `type of ${name}`);
    assert.equal(unit!.trim(), spec.unit || '-', `unit of ${name}`);
    assert.equal(from!.trim(), spec.from.join(', '), `sources of ${name}`);
    assert.equal(perSession!.trim(), spec.perSession, `aggregation of ${name}`);
    assert.equal(meaning!.trim(), spec.meaning, `meaning of ${name}`);
  }
});

test('the README default-policy table lists the shipped rules with their action, priority, switch and description', () => {
  const policy = JSON.parse(readFileSync(new URL('../policies/default.json', import.meta.url), 'utf8')) as {
    rules: { name: string; priority: number; description: string; enabled?: { param: string }; event: { type: string } }[];
  };
  const rows = [...section('### The default policy set').matchAll(/^\| `([\w.-]+)` \| (\w+) \| (\d+) \| ([^|]+) \| (.+) \|$/gm)];
  assert.deepEqual(rows.map((r) => r[1]), policy.rules.map((r) => r.name));
  for (const [, name, action, priority, switchedBy, description] of rows) {
    const rule = policy.rules.find((r) => r.name === name)!;
    assert.equal(action, rule.event.type, `action of ${name}`);
    assert.equal(Number(priority), rule.priority, `priority of ${name}`);
    assert.equal(switchedBy!.trim(), rule.enabled ? `\`${rule.enabled.param}\`` : '-', `switch of ${name}`);
    assert.equal(description!.replace(/\\\|/g, '|'), rule.description, `description of ${name}`);
  }
});

test('the README names every operator', () => {
  const text = section('### Operators');
  for (const op of OPERATORS) assert.ok(text.includes(`\`${op.name}\``), `operator ${op.name} is documented`);
});

test('the README configuration table names every setting\'s flag and environment variable', () => {
  const text = section('## Configuration');
  // Settings without a flag are the Lambda functions' deployment settings, documented in docs/deploy.md.
  for (const s of SETTINGS.filter((x) => x.flag !== null)) {
    assert.ok(text.includes(`\`--${s.flag}\``), `--${s.flag} is documented`);
    assert.ok(text.includes(`\`${s.env}\``), `${s.env} is documented`);
  }
});
