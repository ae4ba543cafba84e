/**
 * The compiled evaluator against json-rules-engine: random fact records and random rules (built
 * from FACT_CATALOGUE and the OPERATORS table, so new facts and operators are covered without
 * touching this file) must give identical decisions: winning action, winning rule, matched list.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { emptyFacts, type SessionFacts } from '../src/pass/facts.ts';
import { createEvaluator, evaluate, type Decision } from '../src/pass/policy/evaluate.ts';
import { LISTED_FACTS } from '../src/pass/inventory.ts';
import { evaluateWithEngine } from '../src/pass/policy/engine.ts';
import { loadPolicySet, parsePolicySet, type PolicySet } from '../src/pass/policy/load.ts';
import { OPERATORS } from '../src/pass/policy/operators.ts';
import { Random, buildFactPools, randomFacts, randomPolicyFile, type RandomPolicyStats } from './support/random-policy.ts';

const POLICIES_DIR = join(fileURLToPath(new URL('.', import.meta.url)), '..', 'policies');

/** What must agree, per record: the facts' position in the input, and the decision's outcome. */
function outcomes(records: readonly SessionFacts[], decisions: readonly Decision[]) {
  const position = new Map(records.map((r, i) => [r, i]));
  return decisions.map((d) => ({ record: position.get(d.facts), action: d.action, rule: d.rule, matched: d.matched.map((m) => m.rule) }));
}

async function assertSameDecisions(records: SessionFacts[], policy: PolicySet) {
  const compiled = outcomes(records, evaluate(records, policy));
  const reference = outcomes(records, await evaluateWithEngine(records, policy));
  for (let i = 0; i < Math.max(compiled.length, reference.length); i++) {
    // Compared one by one so that a failure shows the first differing record, not two huge arrays.
    assert.deepEqual(compiled[i], reference[i], `decision ${i} differs; record ${JSON.stringify(records[compiled[i]?.record ?? reference[i]?.record ?? 0])}`);
  }
  return compiled;
}

describe('compiled evaluator vs json-rules-engine', () => {
  it('agrees on random rules using every operator with all/any/not nesting', async () => {
    // Prepare
    const pools = buildFactPools();
    const stats: RandomPolicyStats = { leaves: [] };
    const rounds = [11, 23, 37, 41, 53, 67, 71].map((seed) => {
      const rng = new Random(seed);
      const policy = parsePolicySet([
        { path: `/random/a-${seed}.json`, text: randomPolicyFile(rng, 8, stats, 'a') },
        { path: `/random/b-${seed}.json`, text: randomPolicyFile(rng, 8, stats, 'b') },
      ]);
      const records = Array.from({ length: 700 }, () => randomFacts(rng, pools));
      return { policy, records };
    });

    // Act
    const results = [];
    for (const { policy, records } of rounds) results.push({ records, compiled: await assertSameDecisions(records, policy) });

    // Assess
    const operatorsUsed = new Set(stats.leaves.map((l) => l.spec.name));
    assert.deepEqual([...operatorsUsed].sort(), OPERATORS.map((op) => op.name).sort(), 'every operator of the table appears in the random rules');
    // Agreement only means something if each operator both matched and failed on the records used.
    const allRecords = results.flatMap((r) => r.records);
    for (const op of OPERATORS) {
      const outcomesSeen = new Set<boolean>();
      for (const leaf of stats.leaves.filter((l) => l.spec === op)) {
        const test = op.compile(leaf.value);
        for (const record of allRecords) outcomesSeen.add(test(record[leaf.fact as keyof SessionFacts]));
      }
      assert.deepEqual([...outcomesSeen].sort(), [false, true], `operator ${op.name} was seen both matching and failing`);
    }
    const distinctMatchLists = new Set(results.flatMap((r) => r.compiled.map((c) => c.matched.join(','))));
    assert.ok(distinctMatchLists.size > 500, `the rules matched in many combinations (${distinctMatchLists.size} distinct matched lists)`);
    const winningActions = new Set(results.flatMap((r) => r.compiled.map((c) => c.action)));
    assert.deepEqual([...winningActions].sort(), ['kill', 'protect', 'report']);
    const multiMatch = results.some((r) => r.compiled.some((c) => c.matched.length > 1));
    assert.ok(multiMatch, 'some records matched several rules, so resolution and match order were compared');
  });

  it('agrees on a set with more rules than the evaluator caches outcomes for (over 30)', async () => {
    // Prepare
    const rng = new Random(97);
    const stats: RandomPolicyStats = { leaves: [] };
    const policy = parsePolicySet([
      { path: '/random/big-a.json', text: randomPolicyFile(rng, 20, stats, 'a') },
      { path: '/random/big-b.json', text: randomPolicyFile(rng, 20, stats, 'b') },
    ]);
    const pools = buildFactPools();
    const records = Array.from({ length: 400 }, () => randomFacts(rng, pools));

    // Act
    const compiled = await assertSameDecisions(records, policy);

    // Assess
    assert.equal(policy.rules.length, 40);
    assert.ok(compiled.some((c) => c.matched.length > 1), 'some records matched several rules');
  });

  it('agrees on the default policy set over records around its thresholds', async () => {
    // Prepare
    const policy = await loadPolicySet(POLICIES_DIR, { env: {} });
    const rng = new Random(2024);
    const pools = buildFactPools();
    const records = Array.from({ length: 3000 }, () => randomFacts(rng, pools));

    // Act
    const compiled = await assertSameDecisions(records, policy);

    // Assess
    assert.ok(compiled.length > 0 && compiled.length < records.length, `some records decided and some not (${compiled.length} of ${records.length})`);
    // With ten protections, a random record nearly always has one: each rule is checked where it matched.
    const rulesThatMatched = new Set(compiled.flatMap((c) => c.matched));
    assert.deepEqual([...rulesThatMatched].sort(), policy.rules.map((r) => r.name).sort(), 'every default rule matched some record');
    assert.ok(new Set(compiled.map((c) => c.action)).size === 2, 'both protections and kills won somewhere');
  });

  it('agrees with the engine that empty all and empty any groups are true', async () => {
    // Prepare: the loader refuses empty groups, so the policy is built by hand.
    const policy: PolicySet = {
      dir: '(test)', files: ['t.json'], parameters: {}, parameterInfo: {},
      rules: [
        { name: 'empty-all', file: 't.json', priority: 1, action: 'report', reason: 'r', conditions: { all: [] } },
        { name: 'empty-any', file: 't.json', priority: 1, action: 'report', reason: 'r', conditions: { any: [] } },
        { name: 'not-empty-any', file: 't.json', priority: 1, action: 'report', reason: 'r', conditions: { not: { any: [] } } },
      ],
    };
    const records = [emptyFacts()];

    // Act
    const compiled = await assertSameDecisions(records, policy);

    // Assess
    assert.deepEqual(compiled[0]?.matched, ['empty-all', 'empty-any']);
  });
});

describe('deciding listing-only records with the rules that read their facts only', () => {
  it('decideVarying agrees with decide on records whose other facts are absent', () => {
    // Prepare: random rules, and records that differ only in the facts a listing can set
    const rng = new Random(131);
    const pools = buildFactPools();
    const stats: RandomPolicyStats = { leaves: [] };
    const policy = parsePolicySet([{ path: '/random/v.json', text: randomPolicyFile(rng, 24, stats, 'v') }]);
    const evaluator = createEvaluator(policy);
    let decided = 0;
    for (let i = 0; i < 3000; i++) {
      const full = randomFacts(rng, pools) as unknown as Record<string, unknown>;
      const record = emptyFacts('session') as unknown as Record<string, unknown>;
      for (const name of LISTED_FACTS) if (rng.chance(0.7)) record[name] = full[name];
      // Act
      const fast = evaluator.decideVarying(record as unknown as SessionFacts, LISTED_FACTS);
      const slow = evaluator.decide(record as unknown as SessionFacts);
      // Assess
      assert.deepEqual(fast && { rule: fast.rule, matched: fast.matched, evidence: fast.evidence }, slow && { rule: slow.rule, matched: slow.matched, evidence: slow.evidence });
      if (slow) decided++;
    }
    assert.ok(decided > 100, `enough records matched a rule to compare (${decided})`);
  });
});
