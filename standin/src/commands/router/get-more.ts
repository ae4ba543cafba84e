/**
 * getMore through the router: the router cursor's checks (owner, session: getmore_cmd.cpp validateLSID, as on
 * mongod), then getMore on its shard cursors until the batch is full. A shard cursor that is gone (killed on
 * the shard, its session killed) fails the getMore with the shard's CursorNotFound(43) and ends the router
 * cursor, as ClusterCursorManager does with a remote error.
 */
import { Long } from 'bson';
import { isNumber } from '../../idl.ts';
import { wrongType } from '../../idl.ts';
import type { CommandDef } from '../../mongod.ts';
import { batchSizeOf, findCursor, nextBatchReply, validateGetMore } from '../crud.ts';
import { routerOf } from '../../sharding/router.ts';

export const getMoreCommand: CommandDef = {
  names: ['getMore'], secondaryAllowed: 'always', allowedInTransaction: true, opType: 'getmore',
  run: async (ctx) => {
    const r = routerOf(ctx);
    const id = ctx.cmd.getMore;
    if (!(id instanceof Long) && !isNumber(id)) throw wrongType('getMore.getMore', id, 'long');
    const coll = typeof ctx.cmd.collection === 'string' ? ctx.cmd.collection : '';
    const cursor = findCursor(ctx, id);
    validateGetMore(ctx, cursor, coll);
    const batchSize = batchSizeOf(ctx.cmd.batchSize, 'getMore', null);
    const remote = r.remotes.get(cursor);
    cursor.pinned = true;
    ctx.op.details = { cursor };
    try {
      if (remote) {
        try {
          await r.fill(ctx, remote, batchSize ?? Infinity);
        } catch (e) {
          ctx.mongod.cursors.close(cursor);
          await r.killShardCursors(ctx, remote);
          throw e;
        }
      }
      return nextBatchReply(ctx, cursor, batchSize);
    } finally {
      cursor.pinned = false;
    }
  },
};
