/**
 * getMore through the router: the router cursor's checks (owner, session: getmore_cmd.cpp validateLSID, as on
 * mongod), then getMore on its shard cursors until the batch is full. A shard cursor that is gone (killed on
 * the shard, its session killed) fails the getMore with the shard's CursorNotFound(43) and ends the router
 * cursor, as ClusterCursorManager does with a remote error.
 */
import type { CommandDef } from '../../mongod.ts';
import { getMoreCursor, nextBatchReply } from '../crud.ts';
import { routerOf } from '../../sharding/router.ts';

export const getMoreCommand: CommandDef = {
  names: ['getMore'], secondaryAllowed: 'always', allowedInTransaction: true, opType: 'getmore',
  run: async (ctx) => {
    const r = routerOf(ctx);
    const { cursor, batchSize } = getMoreCursor(ctx);
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
