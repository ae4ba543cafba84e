/**
 * $currentOp on a router (src/mongo/db/pipeline/document_source_current_op.cpp, the mongos branch of
 * DocumentSourceCurrentOp; docs/server-semantics.md "Through mongos"):
 *  - localOps: false (the default) always needs inprog on the cluster (LiteParsed::requiredPrivileges on mongos)
 *    and runs on the shards: one member of each, chosen by the read preference (primary by default; SERVER-34633),
 *    or with targetAllNodes: true (7.1+) every data-bearing member of every shard. Each shard document gets
 *    `shard` first, `opid` as the string "<shard>:<opid>" and `client` renamed `client_s` (doGetNext with
 *    fromMongos); the application's address is in clientMetadata.mongos.client (router.ts pooled connections);
 *  - localOps: true reports the router's own operations, and its transaction state with the participants
 *    (transaction.numParticipants, participants: [{ name, coordinator, readOnly }], TransactionRouter::Observer).
 * The stages after $currentOp run on the router, over what the shards returned.
 */
import type { Document } from 'bson';
import { CommandError } from '../errors.ts';
import { expectArray, expectDoc } from '../idl.ts';
import { currentOp, parseCurrentOpSpec } from '../listing.ts';
import { documentSource, DEFAULT_FIRST_BATCH } from '../batches.ts';
import { runPipeline } from '../mql-stages.ts';
import type { CommandContext } from '../mongod.ts';
import { batchSizeOf, cursorReply } from '../commands/crud.ts';
import { hostUnreachable, type Router } from './router.ts';
import type { Shard } from './config.ts';

/** doGetNext with fromMongos: `shard` first, then the fields in order with opid and client rewritten. */
export function fromShard(shard: string, doc: Document): Document {
  const out: Document = { shard };
  for (const [k, v] of Object.entries(doc)) {
    if (k === 'opid') out.opid = `${shard}:${v}`;
    else if (k === 'client') out.client_s = v;
    else out[k] = v;
  }
  return out;
}

/** The router's transaction state in a localOps document: numParticipants and participants. */
function withParticipants(r: Router, doc: Document): Document {
  const lsid = doc.lsid as Document | undefined;
  const txnReport = doc.transaction as Document | undefined;
  if (!lsid || !txnReport) return doc;
  const hex = (b: unknown) => Buffer.from((b as { buffer: Uint8Array }).buffer).toString('hex');
  const rec = r.mongod.sessions.get(hex(lsid.id), hex(lsid.uid));
  const list = rec?.txn ? r.participants.get(rec.txn) ?? [] : [];
  const readOnly = list.filter((p) => p.readOnly).length;
  doc.transaction = {
    ...txnReport,
    numParticipants: list.length,
    participants: list.map((p, i) => ({ name: p.shard, coordinator: i === 0, ...(p.readOnly ? { readOnly: true } : { readOnly: false }) })),
    numReadOnlyParticipants: readOnly,
    numNonReadOnlyParticipants: list.length - readOnly,
  };
  return doc;
}

/** The members a non-local $currentOp reaches on one shard. */
function members(r: Router, ctx: CommandContext, shard: Shard, allNodes: boolean): number[] {
  if (!allNodes) return [r.pick(shard, ctx.cmd.$readPreference)];
  return shard.set.members.map((m, i) => {
    if (!shard.set.topology.node(i)) throw hostUnreachable(m.host);
    return i;
  });
}

export async function clusterCurrentOp(ctx: CommandContext, r: Router): Promise<Document> {
  const m = ctx.mongod;
  if (ctx.db !== 'admin' || ctx.cmd.aggregate !== 1) {
    throw new CommandError(73, 'InvalidNamespace', "$currentOp must be run against the 'admin' database with {aggregate: 1}");
  }
  if (ctx.txn) throw new CommandError(263, 'OperationNotSupportedInTransaction', 'Operation not permitted in transaction :: caused by :: $currentOp is not allowed in transactions');
  const pipeline = expectArray(ctx.cmd.pipeline, 'aggregate.pipeline') as Document[];
  const spec = pipeline[0]!.$currentOp;
  const opts = parseCurrentOpSpec(m, ctx.conn, spec, true);
  if (!opts.localOps && !m.can(ctx.conn, { cluster: true }, 'inprog')) {
    throw new CommandError(13, 'Unauthorized', `not authorized on admin to execute command { aggregate: 1, pipeline: [ { $currentOp: ${JSON.stringify(spec)} } ] }`);
  }
  const cursorOpts = ctx.cmd.cursor === undefined ? {} : expectDoc(ctx.cmd.cursor, 'aggregate.cursor');
  const batchSize = batchSizeOf(cursorOpts.batchSize, 'aggregate.cursor', DEFAULT_FIRST_BATCH);
  let docs: Document[];
  if (opts.localOps) {
    docs = [...currentOp(m, ctx.conn, opts, ctx.now)].map((d) => withParticipants(r, d));
  } else {
    const shardSpec: Document = { ...(spec as Document) };
    delete shardSpec.localOps;
    delete shardSpec.targetAllNodes;
    docs = [];
    for (const shard of r.config.shards) {
      for (const i of members(r, ctx, shard, opts.targetAllNodes)) {
        const cmd = r.statement(ctx, shard, {
          aggregate: 1, pipeline: [{ $currentOp: shardSpec }], cursor: {}, $db: 'admin',
        }, { readPreference: { mode: 'secondaryPreferred' } });
        for (const d of await r.drain(ctx, shard, i, cmd)) docs.push(fromShard(shard.name, d));
      }
    }
  }
  const out = runPipeline(docs, pipeline.slice(1), { now: new Date(ctx.now) })[Symbol.iterator]();
  return cursorReply(ctx, 'admin.$cmd.aggregate', documentSource(out), batchSize);
}
