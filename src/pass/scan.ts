/**
 * The inventory and evaluate stages, in one streaming scan: $currentOp and $listLocalSessions first (the
 * sessions that hold something or were just used, joined in the InventoryBuilder), then $listSessions a
 * server batch at a time, where every session not already known is evaluated on the spot and dropped unless
 * a rule matched. A million idle sessions then cost one batch of records at a time, not a million records.
 */
import { emptyFacts, type SessionFacts } from './facts.ts';
import { InventoryBuilder, LISTED_FACTS } from './inventory.ts';
import { createEngineEvaluator } from './policy/engine.ts';
import { evaluatorFor, type AsyncEvaluator, type Decision, type EvaluatorKind } from './policy/evaluate.ts';
import type { PolicySet } from './policy/types.ts';
import type { MongoPort, ReaperIdentity } from './ports.ts';
import { PassSightings } from './sightings.ts';

export interface Scan {
  decisions: Decision[];
  sessions: number;
  sessionlessOps: number;
  internalOps: number;
  /** Time spent in policy evaluation, inside the scan: reported as the evaluate stage. */
  evaluateMs: number;
  /** The records with activity (sessions and sessionless operations), for the sightings of the next pass. */
  records: { sessions: readonly SessionFacts[]; sessionlessOps: readonly SessionFacts[] };
}

/** Documents between two progress lines. */
const PROGRESS_EVERY = 100_000;

export interface ScanOptions {
  evaluator?: EvaluatorKind;
  /** What earlier passes saw (sightings facts, recalled clients); without it every candidate is at its first sighting. */
  sightings?: PassSightings;
  progress?: (line: string) => void;
}

/** One decision function for the scan: synchronous for the compiled evaluator, awaited for json-rules-engine. */
type DecideFn = (facts: SessionFacts) => Decision | null | Promise<Decision | null>;

/**
 * The scan's two decision functions: `any` for records built from activity, `listed` for the listing-only
 * records, which differ only in LISTED_FACTS (the compiled evaluator then tests only the rules reading those).
 */
function decideFns(policy: PolicySet, kind: EvaluatorKind): { any: DecideFn; listed: DecideFn } {
  if (kind === 'json-rules-engine') {
    const engine: AsyncEvaluator = createEngineEvaluator(policy);
    const decide: DecideFn = (facts) => engine.decide(facts);
    return { any: decide, listed: decide };
  }
  const compiled = evaluatorFor(policy);
  return { any: (facts) => compiled.decide(facts), listed: (facts) => compiled.decideVarying(facts, LISTED_FACTS) };
}

export async function scan(mongo: MongoPort, self: ReaperIdentity, now: number, policy: PolicySet, options: ScanOptions = {}): Promise<Scan> {
  const { progress } = options;
  const sightings = options.sightings ?? new PassSightings(null, now);
  const builder = new InventoryBuilder(now, self, sightings);
  const { any: decideOne, listed: decideListed } = decideFns(policy, options.evaluator ?? 'compiled');
  const decisions: Decision[] = [];
  let evaluateMs = 0;
  let streamed = 0;
  let read = 0;
  let reported = 0;
  const tick = (count: number): void => {
    read += count;
    if (read - reported >= PROGRESS_EVERY) {
      reported = read;
      progress?.(`inventory: ${read.toLocaleString('en-US')} documents read`);
    }
  };
  const decide = async (records: readonly SessionFacts[]): Promise<void> => {
    const t = performance.now();
    for (let i = 0; i < records.length; i++) {
      const r = decideOne(records[i]!);
      const d = r instanceof Promise ? await r : r;
      if (d) decisions.push(d);
    }
    evaluateMs += performance.now() - t;
  };
  // Sessions known only from the listing go through one scratch record: most match no rule and leave
  // nothing behind; those that do get a copy of their own.
  const scratch = emptyFacts('session');
  for await (const batch of mongo.currentOp()) {
    for (const a of batch) builder.addActivity(a);
    tick(batch.length);
  }
  for await (const batch of mongo.listLocalSessions()) {
    for (const s of batch) builder.addListed(s, 'listLocalSessions');
    tick(batch.length);
  }
  for await (const batch of mongo.listSessions()) {
    for (const s of batch) {
      if (!builder.detachListed(s, scratch)) continue;
      streamed++;
      // Timed per record (a clock read costs ~25 ns) so the stage report keeps joining and deciding apart.
      const t = performance.now();
      const r = decideListed(scratch);
      // Only json-rules-engine answers with a promise; the compiled evaluator's path stays synchronous.
      const d = r instanceof Promise ? await r : r;
      if (d) {
        d.facts = { ...scratch };
        decisions.push(d);
      }
      evaluateMs += performance.now() - t;
    }
    tick(batch.length);
  }
  const inventory = builder.build();
  for (const f of inventory.sessions) sightings.apply(f);
  for (const f of inventory.sessionlessOps) sightings.apply(f);
  await decide(inventory.sessions);
  await decide(inventory.sessionlessOps);
  return {
    decisions, sessions: inventory.sessions.length + streamed, sessionlessOps: inventory.sessionlessOps.length,
    internalOps: inventory.internalOps, evaluateMs,
    records: { sessions: inventory.sessions, sessionlessOps: inventory.sessionlessOps },
  };
}
