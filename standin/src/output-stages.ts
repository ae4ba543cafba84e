/**
 * $out and $merge, the last stage of an aggregate: the results are written to a collection and the cursor
 * returned is empty.
 *  - $out (document_source_out.cpp) writes into a temporary collection and renames it over the target at the
 *    end, so a killed $out leaves the target as it was;
 *  - $merge (document_source_merge.cpp) writes into the target batch by batch as it goes, so a killed $merge
 *    leaves the batches already written: partial output.
 * The server's fail points hangWhileBuildingDocumentSourceOutBatch / hangWhileBuildingDocumentSourceMergeBatch
 * hold the stage before each batch for as long as they are on (interruptible, as the jstests use them), which is
 * how a test keeps an output aggregation running.
 */
import { Long, ObjectId, type Document } from 'bson';
import { recordChange } from './change-streams.ts';
import { CommandError } from './errors.ts';
import { isDoc } from './idl.ts';
import type { CommandContext } from './mongod.ts';
import { Collection } from './storage.ts';

/** Documents per write batch (the server batches by size; a fixed count keeps partial output observable). */
const OUTPUT_BATCH = 100;
const HOLD_POLL_MS = 10;

export function isOutputStage(stage: Document | undefined): boolean {
  return !!stage && isDoc(stage) && ('$out' in stage || '$merge' in stage);
}

interface Target {
  db: string;
  coll: string;
}

function targetOf(ctx: CommandContext, value: unknown, stage: string): Target {
  if (typeof value === 'string') return { db: ctx.db, coll: value };
  if (isDoc(value) && typeof value.coll === 'string') return { db: typeof value.db === 'string' ? value.db : ctx.db, coll: value.coll };
  throw new CommandError(16990, 'Location16990', `${stage} only supports a string or object argument, but found ${typeof value}`);
}

async function hold(ctx: CommandContext, failPoint: string): Promise<void> {
  if (!ctx.mongod.failPoints.enter(failPoint)) {
    if (ctx.op.killPending) throw ctx.op.killPending;
    return;
  }
  while (ctx.mongod.failPoints.isOn(failPoint)) {
    if (ctx.op.killPending) throw ctx.op.killPending;
    await Promise.race([new Promise((r) => setTimeout(r, HOLD_POLL_MS)), ctx.op.interrupted]);
  }
  if (ctx.op.killPending) throw ctx.op.killPending;
}

function put(ctx: CommandContext, t: Target, doc: Document): void {
  const c = ctx.mongod.storage.getOrCreate(t.db, t.coll);
  const key = Collection.idKey(doc._id);
  recordChange(ctx.mongod, t.db, t.coll, c.docs.get(key) ?? null, doc);
  c.docs.set(key, doc);
}

/** Runs the output stage over the results; the reply is the empty cursor the server returns. */
export async function writeOutput(ctx: CommandContext, results: Iterable<Document>, stage: Document, ns: string): Promise<Document> {
  if (ctx.txn) throw new CommandError(263, 'OperationNotSupportedInTransaction', `${'$out' in stage ? '$out' : '$merge'} cannot be used in a transaction`);
  const docs = [...results].map((d) => (d._id === undefined ? { _id: new ObjectId(), ...d } : d));
  if ('$out' in stage) {
    const target = targetOf(ctx, stage.$out, '$out');
    ctx.mongod.requirePrivilege(ctx, { db: target.db, collection: target.coll }, 'insert');
    const staged: Document[] = [];
    for (let i = 0; i < docs.length; i += OUTPUT_BATCH) {
      await hold(ctx, 'hangWhileBuildingDocumentSourceOutBatch');
      staged.push(...docs.slice(i, i + OUTPUT_BATCH));
    }
    await hold(ctx, 'hangWhileBuildingDocumentSourceOutBatch');
    // The rename: the target is replaced whole, in one step.
    ctx.mongod.storage.drop(target.db, target.coll);
    for (const d of staged) put(ctx, target, d);
  } else {
    const spec = isDoc(stage.$merge) ? stage.$merge : { into: stage.$merge };
    const target = targetOf(ctx, spec.into, '$merge');
    ctx.mongod.requirePrivilege(ctx, { db: target.db, collection: target.coll }, 'insert');
    const whenMatched = typeof spec.whenMatched === 'string' ? spec.whenMatched : 'merge';
    const whenNotMatched = typeof spec.whenNotMatched === 'string' ? spec.whenNotMatched : 'insert';
    for (let i = 0; i < docs.length; i += OUTPUT_BATCH) {
      await hold(ctx, 'hangWhileBuildingDocumentSourceMergeBatch');
      for (const d of docs.slice(i, i + OUTPUT_BATCH)) {
        const existing = ctx.mongod.storage.get(target.db, target.coll)?.docs.get(Collection.idKey(d._id));
        if (existing) {
          if (whenMatched === 'fail') throw new CommandError(11000, 'DuplicateKey', `$merge failed due to a DuplicateKey error on ${target.db}.${target.coll}`);
          if (whenMatched === 'keepExisting') continue;
          put(ctx, target, whenMatched === 'replace' ? d : { ...existing, ...d });
        } else {
          if (whenNotMatched === 'discard') continue;
          if (whenNotMatched === 'fail') throw new CommandError(13113, 'MergeStageNoMatchingDocument', `$merge could not find a matching document in the target collection for at least one document in the source collection`);
          put(ctx, target, d);
        }
      }
    }
  }
  return { cursor: { firstBatch: [], id: Long.fromNumber(0), ns }, ok: 1 };
}
