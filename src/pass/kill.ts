/**
 * Kill stage: planned session kills go out as batched killSessions commands with {id, uid} in every element
 * (a bare id would only match the reaper's own sessions; other users' sessions need killAnySession), with
 * bounded concurrency; sessionless operations go out one killOp each. A failed batch does not stop the
 * others: every batch's result is recorded so that each victim gets its own outcome.
 */
import type { SessionKey } from './ports.ts';
import type { MongoPort } from './ports.ts';
import { mapLimit } from '../util/concurrency.ts';

/**
 * Default elements per killSessions command: the driver sessions spec batches endSessions at 10,000 ids
 * (specifications source/sessions/driver-sessions.md), and the server has no cap below the 16 MiB BSON limit.
 */
export const DEFAULT_KILL_BATCH_SIZE = 10_000;
/**
 * Upper bound for --batch-size: one element {id: UUID, uid: SHA-256} is about 80 bytes of BSON, so 50,000
 * elements make a ~4 MB command, well under maxBsonObjectSize (16 MiB, src/mongo/bson/util/builder.h).
 */
export const MAX_KILL_BATCH_SIZE = 50_000;
/** Concurrent kill commands: enough to overlap round trips, few enough not to crowd a busy primary. */
export const DEFAULT_KILL_CONCURRENCY = 4;

export interface KillTarget {
  kind: 'session' | 'operation';
  key: SessionKey | null;
  opid: string;
  /**
   * Replica-set members (host:port) where it holds something: the kill goes to each of them over its direct
   * connection. Empty or absent: the kill goes through the main connection (the primary, a standalone, mongos).
   */
  members?: readonly string[];
}

export interface KillError {
  code?: number;
  codeName?: string;
  message: string;
}

export interface KillOutcome<T> {
  item: T;
  /** "changed": the re-check found it changed since the scan, and it was not killed (`why`). */
  status: 'killed' | 'failed' | 'not-attempted' | 'changed';
  error?: KillError;
  /** What the re-check found changed (status "changed"). */
  why?: string;
  /** Which killSessions batch carried it (sessions only); batches are counted per member. */
  batch?: { index: number; size: number };
  /** The member this outcome is for; absent for a kill through the main connection. */
  member?: string;
}

export interface KillStageResult<T> {
  outcomes: KillOutcome<T>[];
  killSessionsCalls: number;
  killOpCalls: number;
  failedBatches: number;
  /** Re-check round trips ($currentOp restricted to a batch), one per batch. */
  rechecks: number;
}

/** The re-check of one batch just before it is sent (src/pass/recheck.ts): what to kill still, what changed. */
export type Recheck<T> = (batch: readonly T[]) => Promise<{ keep: T[]; changed: { item: T; why: string }[] }>;

export interface KillOptions<T = KillTarget> {
  batchSize: number;
  concurrency: number;
  /** Epoch ms after which no new command is started (the Lambda deadline minus a margin). */
  deadlineMs?: number;
  now?: () => number;
  onProgress?: (done: number, total: number) => void;
  /** Re-reads each batch right before it is sent; without it the batch is sent as planned. */
  recheck?: Recheck<T>;
}

export function toKillError(e: unknown): KillError {
  const err = e as { code?: unknown; codeName?: unknown; message?: unknown };
  return {
    ...(typeof err.code === 'number' ? { code: err.code } : {}),
    ...(typeof err.codeName === 'string' ? { codeName: err.codeName } : {}),
    message: typeof err.message === 'string' ? err.message : String(e),
  };
}

export function validateBatchSize(n: number): number {
  if (!Number.isInteger(n) || n < 1 || n > MAX_KILL_BATCH_SIZE) {
    throw new RangeError(`batch size must be an integer from 1 to ${MAX_KILL_BATCH_SIZE} (killSessions commands stay well under 16 MiB); got ${n}`);
  }
  return n;
}

/** "" stands for the main connection. */
const MAIN = '';

/** Targets by the member they go to: each member where they hold something, or the main connection. */
function byMember<T extends KillTarget>(targets: readonly T[], memberAware: boolean): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const t of targets) {
    const where = memberAware && t.members && t.members.length ? t.members : [MAIN];
    for (const m of where) {
      let g = groups.get(m);
      if (!g) groups.set(m, (g = []));
      g.push(t);
    }
  }
  return groups;
}

export async function executeKills<T extends KillTarget>(mongo: MongoPort, targets: readonly T[], opts: KillOptions<T>): Promise<KillStageResult<T>> {
  const now = opts.now ?? Date.now;
  const batchSize = validateBatchSize(opts.batchSize);
  const memberAware = mongo.killSessionsOn !== undefined && mongo.killOpOn !== undefined;
  // Batched per member: ceil(kills there / batch size) killSessions commands on each member.
  const batches: { member: string; items: T[] }[] = [];
  const sessionsMemberAware = memberAware && mongo.killSessionsReachEveryMember?.() !== true;
  for (const [member, group] of byMember(targets.filter((t) => t.kind === 'session'), sessionsMemberAware)) {
    for (let i = 0; i < group.length; i += batchSize) batches.push({ member, items: group.slice(i, i + batchSize) });
  }
  // Sessionless operations are re-checked in batches of the same size (per member), then killed one killOp each.
  const opBatches: { member: string; items: T[] }[] = [];
  for (const [member, group] of byMember(targets.filter((t) => t.kind === 'operation'), memberAware)) {
    for (let i = 0; i < group.length; i += batchSize) opBatches.push({ member, items: group.slice(i, i + batchSize) });
  }
  const on = (member: string) => (member ? { member } : {});

  const outcomes: KillOutcome<T>[] = [];
  let killSessionsCalls = 0;
  let killOpCalls = 0;
  let failedBatches = 0;
  let rechecks = 0;
  let done = 0;
  const total = [...batches, ...opBatches].reduce((n, b) => n + b.items.length, 0);
  const pastDeadline = (): boolean => opts.deadlineMs !== undefined && now() >= opts.deadlineMs;

  /** The re-check: what of the batch is still to kill; the rest gets its "changed" outcome. A failed re-check fails the batch. */
  const recheck = async (batch: T[], member: string, where?: { index: number; size: number }): Promise<T[] | null> => {
    if (!opts.recheck) return batch;
    rechecks++;
    const tag = { ...(where ? { batch: where } : {}), ...on(member) };
    try {
      const { keep, changed } = await opts.recheck(batch);
      for (const c of changed) outcomes.push({ item: c.item, status: 'changed', why: c.why, ...tag });
      return keep;
    } catch (e) {
      const error = toKillError(e);
      error.message = `re-check before the kill failed, so nothing of this batch was killed: ${error.message}`;
      failedBatches++;
      for (const item of batch) outcomes.push({ item, status: 'failed', error, ...tag });
      return null;
    }
  };

  const indexOn = new Map<string, number>();
  await mapLimit(batches, opts.concurrency, async ({ member, items: planned }) => {
    const index = indexOn.get(member) ?? 0;
    indexOn.set(member, index + 1);
    const where = { index, size: planned.length };
    if (pastDeadline()) {
      for (const item of planned) outcomes.push({ item, status: 'not-attempted', batch: where, ...on(member) });
      return;
    }
    const batch = await recheck(planned, member, where);
    done += planned.length - (batch?.length ?? 0);
    if (!batch || batch.length === 0) return;
    const sent = { index, size: batch.length };
    // Never an empty batch, never an element without its uid: both are checked here and in the adapter.
    const keys = batch.map((t) => t.key!).filter((k) => k && k.id && k.uid);
    if (keys.length !== batch.length) {
      // The plan refuses such kills first; should one get here, its batch fails (and is audited as failed)
      // rather than throwing and losing the outcomes of the batches already sent.
      const error = { message: 'internal: a session kill without {id, uid} reached the kill stage; the batch was not sent' };
      failedBatches++;
      for (const item of batch) outcomes.push({ item, status: 'failed', error, batch: sent, ...on(member) });
      return;
    }
    killSessionsCalls++;
    try {
      if (member) await mongo.killSessionsOn!(member, keys);
      else await mongo.killSessions(keys);
      for (const item of batch) outcomes.push({ item, status: 'killed', batch: sent, ...on(member) });
    } catch (e) {
      failedBatches++;
      const error = toKillError(e);
      for (const item of batch) outcomes.push({ item, status: 'failed', error, batch: sent, ...on(member) });
    }
    done += batch.length;
    opts.onProgress?.(done, total);
  });

  const toKill: { member: string; item: T }[] = [];
  for (const { member, items: planned } of opBatches) {
    if (pastDeadline()) {
      for (const item of planned) outcomes.push({ item, status: 'not-attempted', ...on(member) });
      continue;
    }
    const batch = await recheck(planned, member);
    if (batch) toKill.push(...batch.map((item) => ({ member, item })));
    done += planned.length - (batch?.length ?? 0);
  }
  await mapLimit(toKill, opts.concurrency, async ({ member, item }) => {
    if (pastDeadline()) {
      outcomes.push({ item, status: 'not-attempted', ...on(member) });
      return;
    }
    killOpCalls++;
    try {
      // Opids are per process: killOp goes to the member the operation was seen on, never another.
      if (member) await mongo.killOpOn!(member, item.opid);
      else await mongo.killOp(item.opid);
      outcomes.push({ item, status: 'killed', ...on(member) });
    } catch (e) {
      outcomes.push({ item, status: 'failed', error: toKillError(e), ...on(member) });
    }
    done++;
    opts.onProgress?.(done, total);
  });

  return { outcomes, killSessionsCalls, killOpCalls, failedBatches, rechecks };
}
