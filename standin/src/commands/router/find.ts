/**
 * find through the router (src/mongo/s/query/cluster_find.cpp): to the shards the filter targets (the owner of
 * an unsharded collection; for a sharded one the shard of an _id equality, else every shard), a shard cursor on
 * each, and a router cursor over them. With several shards, sort, skip and limit are applied on the router over
 * everything the shards return (the server merges sorted streams and sends skip + limit down; same result).
 * config.shards, config.collections and config.system.sessions are read from the config state.
 */
import type { Document } from 'bson';
import { documentSource, DEFAULT_FIRST_BATCH } from '../../batches.ts';
import { expectDoc } from '../../idl.ts';
import { listSessions } from '../../listing.ts';
import { runPipeline } from '../../mql-stages.ts';
import type { CommandContext, CommandDef } from '../../mongod.ts';
import { batchSizeOf, collectionName, cursorReply, requireAction } from '../crud.ts';
import { routerOf, Router, type RemoteCursors } from '../../sharding/router.ts';

/** The config database's collections the router answers from the config state. */
export function configCollection(ctx: CommandContext, coll: string): Iterable<Document> | null {
  if (ctx.db !== 'config') return null;
  const r = routerOf(ctx);
  if (coll === 'shards') return r.config.shardDocuments();
  if (coll === 'collections') return r.config.collectionDocuments();
  if (coll === 'system.sessions') return listSessions(ctx.mongod, { allUsers: true, uids: null });
  return null;
}

function localStages(c: Document): Document[] {
  const stages: Document[] = [];
  if (c.filter !== undefined) stages.push({ $match: c.filter });
  if (c.sort !== undefined && Object.keys(c.sort as Document).length) stages.push({ $sort: c.sort });
  if (c.skip) stages.push({ $skip: c.skip });
  if (c.limit) stages.push({ $limit: c.limit });
  if (c.projection !== undefined && Object.keys(c.projection as Document).length) stages.push({ $project: c.projection });
  return stages;
}

export const findCommand: CommandDef = {
  names: ['find'], secondaryAllowed: 'optIn', allowedInTransaction: true, opType: 'query',
  run: async (ctx) => {
    const r = routerOf(ctx);
    const coll = collectionName(ctx, 'find');
    const ns = `${ctx.db}.${coll}`;
    const c = ctx.cmd;
    const batchSize = batchSizeOf(c.batchSize, 'FindCommandRequest', DEFAULT_FIRST_BATCH);
    const local = configCollection(ctx, coll);
    if (local) {
      requireAction(ctx, coll, 'find');
      const out = runPipeline(local, localStages(c), { now: new Date(ctx.now) })[Symbol.iterator]();
      return cursorReply(ctx, ns, documentSource(out), batchSize, c.singleBatch === true);
    }
    const filter = c.filter === undefined ? undefined : expectDoc(c.filter, 'find.filter');
    const targets = r.config.targets(ns, filter);
    const merge = targets.length > 1 && (c.sort !== undefined || c.skip !== undefined || c.limit !== undefined);
    const body: Document = { ...c };
    if (merge) for (const k of ['sort', 'skip', 'limit', 'batchSize', 'projection']) delete body[k];
    const remote: RemoteCursors = { parts: [], buffer: [] };
    for (const shard of targets) {
      const member = r.target(ctx, shard, false);
      Router.addShardReply(remote, shard, member, ctx.db, await r.onMember(ctx, shard, member, body));
    }
    if (merge) {
      await r.fill(ctx, remote, Infinity);
      const merged = [...runPipeline(remote.buffer, localStages({ ...c, filter: undefined }), { now: new Date(ctx.now) })];
      remote.buffer.splice(0, remote.buffer.length, ...merged);
    }
    return r.openCursor(ctx, ns, remote, batchSize, c.singleBatch === true);
  },
};
