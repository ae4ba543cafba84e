/**
 * Not a test: measures the compiled evaluator over 1,000,000 records (random facts, then a quiet
 * cluster) and json-rules-engine over 20,000, with the default policy set, and prints records per
 * second.
 *
 *   node --import tsx bench/evaluate.bench.ts
 *
 * The million records are references into 100,000 distinct random records, which keeps the
 * benchmark's own memory small while still defeating any per-object caching.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { emptyFacts, type SessionFacts } from '../src/pass/facts.ts';
import { evaluate } from '../src/pass/policy/evaluate.ts';
import { evaluateWithEngine } from '../src/pass/policy/engine.ts';
import { loadPolicySet } from '../src/pass/policy/load.ts';
import { Random, buildFactPools, randomFacts } from '../test/support/random-policy.ts';

const COMPILED_RECORDS = 1_000_000;
const ENGINE_RECORDS = 20_000;
const DISTINCT_RECORDS = 100_000;

const policy = await loadPolicySet(join(fileURLToPath(new URL('.', import.meta.url)), '..', 'policies'), { env: {} });
const rng = new Random(7);
const pools = buildFactPools();

/**
 * Random records from the fact pools: thresholds, booleans and agent names come up so often that
 * nearly 9 records in 10 get a decision. The worst case for the evaluator, which then allocates a
 * decision per record.
 */
function randomRecords(): SessionFacts[] {
  const distinct = Array.from({ length: DISTINCT_RECORDS }, () => randomFacts(rng, pools));
  return Array.from({ length: COMPILED_RECORDS }, (_, i) => distinct[i % DISTINCT_RECORDS]!);
}

/** A busy but healthy cluster: application sessions, mostly short-lived, about 3% over a threshold. */
function quietRecords(): SessionFacts[] {
  const apps = ['orders-service', 'billing-worker', 'mongosh 2.3.1', 'reporting', 'MongoDB Automation Agent v13'];
  const distinct = Array.from({ length: DISTINCT_RECORDS }, (_, i): SessionFacts => {
    const outlier = rng.chance(0.03);
    const inTxn = rng.chance(0.1);
    return {
      ...emptyFacts(i % 50 === 0 ? 'operation' : 'session'),
      sessionId: `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`,
      uid: 'e'.repeat(64), user: 'app@admin', userName: 'app', userDb: 'admin',
      appName: rng.chance(0.01) ? apps[4]! : apps[rng.int(4)]!,
      client: `10.0.${rng.int(255)}.${rng.int(255)}:${40000 + rng.int(20000)}`,
      idleSeconds: rng.int(outlier ? 3000 : 50),
      opCount: rng.int(2),
      longestOpSeconds: outlier && rng.chance(0.3) ? 301 + rng.int(1000) : rng.int(5),
      opTypes: ['query'],
      hasTransaction: inTxn,
      txnInactiveSeconds: inTxn ? (outlier ? 61 + rng.int(100) : rng.int(10)) : 0,
      cursorCount: rng.int(2),
      longestCursorIdleSeconds: outlier ? 901 + rng.int(1000) : rng.int(100),
    };
  });
  return Array.from({ length: COMPILED_RECORDS }, (_, i) => distinct[i % DISTINCT_RECORDS]!);
}

function rate(count: number, ms: number): string {
  return `${Math.round(count / (ms / 1000)).toLocaleString('en-US')} records/s`;
}

function timeEvaluate(label: string, records: SessionFacts[]): void {
  // One warm-up pass so the JIT has seen the code before it is timed.
  evaluate(records.slice(0, 50_000), policy);
  const start = performance.now();
  const decisions = evaluate(records, policy);
  const ms = performance.now() - start;
  console.log(`evaluate           ${label}: ${records.length.toLocaleString('en-US')} records in ${ms.toFixed(0)} ms, ${rate(records.length, ms)} (${decisions.length.toLocaleString('en-US')} decisions)`);
}

// The quiet cluster first: the random pass leaves ~900,000 decisions for the collector to clear.
timeEvaluate('quiet cluster', quietRecords());
const random = randomRecords();
timeEvaluate('random facts', random);

const engineRecords = random.slice(0, ENGINE_RECORDS);
const start = performance.now();
const engineDecisions = await evaluateWithEngine(engineRecords, policy);
const ms = performance.now() - start;
console.log(`evaluateWithEngine random facts: ${ENGINE_RECORDS.toLocaleString('en-US')} records in ${ms.toFixed(0)} ms, ${rate(ENGINE_RECORDS, ms)} (${engineDecisions.length.toLocaleString('en-US')} decisions)`);
