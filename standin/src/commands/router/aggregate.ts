/**
 * aggregate through the router:
 *  - $currentOp: sharding/current-op.ts (the shards' operations, or the router's own with localOps);
 *  - $listLocalSessions: the router's own cache (jstests/auth/list_local_sessions.js on st.s0);
 *  - $listSessions: config.system.sessions, which in a cluster is one sharded collection that every router
 *    and shard member refreshes into (jstests/auth/list_sessions.js on st.s0): read here from the shared state;
 *  - on a collection: the owner shard of an unsharded collection runs the whole pipeline; for a sharded one the
 *    leading $match stages run on every shard and the rest on the router over what they return (the server's
 *    split into a shards part and a merge part, cluster_aggregate.cpp, simplified to that boundary).
 * Change streams and $out/$merge are not routed by the stand-in: 115 CommandNotSupported says so.
 */
import type { Document } from 'bson';
import { CommandError } from '../../errors.ts';
import { expectArray, expectDoc, isDoc, isNumber, toNumber } from '../../idl.ts';
import { DEFAULT_FIRST_BATCH } from '../../batches.ts';
import { runPipeline } from '../../mql-stages.ts';
import { isOutputStage } from '../../output-stages.ts';
import type { CommandDef } from '../../mongod.ts';
import { batchSizeOf, runAggregate } from '../crud.ts';
import { clusterCurrentOp } from '../../sharding/current-op.ts';
import { routerOf, Router, type RemoteCursors } from '../../sharding/router.ts';
import { configCollection } from './find.ts';

function stageName(stage: unknown): string | undefined {
  return isDoc(stage) ? Object.keys(stage)[0] : undefined;
}

export const aggregateCommand: CommandDef = {
  names: ['aggregate'], secondaryAllowed: 'optIn', allowedInTransaction: true,
  run: async (ctx) => {
    const r = routerOf(ctx);
    const pipeline = expectArray(ctx.cmd.pipeline, 'aggregate.pipeline') as Document[];
    const first = stageName(pipeline[0]);
    const target = ctx.cmd.aggregate;
    const collectionless = target === 1 || (isNumber(target) && toNumber(target) === 1);
    if (first === '$currentOp') return clusterCurrentOp(ctx, r);
    if (collectionless || first === '$listSessions' || first === '$listLocalSessions') return runAggregate(ctx);
    if (typeof target !== 'string') return runAggregate(ctx); // the type error, as on mongod
    if (configCollection(ctx, target)) return runAggregate(ctx);
    if (first === '$changeStream' || pipeline.some((s) => isOutputStage(s))) {
      throw new CommandError(115, 'CommandNotSupported', 'the stand-in router does not route change streams, $out or $merge: run them on the shard that holds the collection');
    }
    const ns = `${ctx.db}.${target}`;
    const cursorOpts = ctx.cmd.cursor === undefined ? {} : expectDoc(ctx.cmd.cursor, 'aggregate.cursor');
    const batchSize = batchSizeOf(cursorOpts.batchSize, 'aggregate.cursor', DEFAULT_FIRST_BATCH);
    const targets = r.config.targets(ns);
    const split = targets.length > 1 ? pipeline.findIndex((s) => stageName(s) !== '$match') : -1;
    const shardPart = split < 0 ? pipeline : pipeline.slice(0, split);
    const mergePart = split < 0 ? [] : pipeline.slice(split);
    const remote: RemoteCursors = { parts: [], buffer: [] };
    for (const shard of targets) {
      const member = r.target(ctx, shard, false);
      Router.addShardReply(remote, shard, member, ctx.db, await r.onMember(ctx, shard, member, { ...ctx.cmd, pipeline: shardPart }));
    }
    if (mergePart.length) {
      await r.fill(ctx, remote, Infinity);
      const merged = [...runPipeline(remote.buffer, mergePart, { now: new Date(ctx.now) })];
      remote.buffer.splice(0, remote.buffer.length, ...merged);
    }
    return r.openCursor(ctx, ns, remote, batchSize);
  },
};
