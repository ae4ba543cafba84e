/**
 * killCursors through the router: the router cursors named, with mongod's checks (owner or killAnyCursor),
 * and for each the killCursors of its shard cursors (ClusterCursorManager kills the remote cursors of a router
 * cursor it kills).
 */
import type { CommandDef } from '../../mongod.ts';
import { killCursors } from '../crud.ts';
import { routerOf } from '../../sharding/router.ts';

export const killCursorsCommand: CommandDef = {
  names: ['killCursors'], secondaryAllowed: 'always', allowedInTransaction: true, opType: 'killcursors',
  run: (ctx) => {
    const r = routerOf(ctx);
    return killCursors(ctx, async (cursor) => {
      const remote = r.remotes.get(cursor);
      if (remote) await r.killShardCursors(ctx, remote);
    });
  },
};
