/**
 * killCursors through the router: the router cursors named (owner or killAnyCursor, as on mongod) and, for each,
 * killCursors on its shard cursors (ClusterCursorManager kills the remote cursors of a router cursor it kills).
 */
import { Long, type Document } from 'bson';
import { expectArray, toNumber } from '../../idl.ts';
import type { CommandDef } from '../../mongod.ts';
import { routerOf } from '../../sharding/router.ts';

export const killCursorsCommand: CommandDef = {
  names: ['killCursors'], secondaryAllowed: 'always', allowedInTransaction: true, opType: 'killcursors',
  run: async (ctx) => {
    const r = routerOf(ctx);
    const m = ctx.mongod;
    const ids = expectArray(ctx.cmd.cursors, 'killCursors.cursors');
    const killed: Long[] = [];
    const notFound: Long[] = [];
    for (const raw of ids) {
      const id = raw instanceof Long ? raw : Long.fromNumber(toNumber(raw));
      const cursor = m.cursors.get(id);
      if (!cursor) {
        notFound.push(id);
        continue;
      }
      if (m.params.auth && cursor.owner !== m.userName(ctx.conn) && !m.can(ctx.conn, { cluster: true }, 'killAnyCursor')) {
        throw m.notAuthorized(ctx.db, ctx.cmd);
      }
      m.cursors.close(cursor);
      const remote = r.remotes.get(cursor);
      if (remote) await r.killShardCursors(ctx, remote);
      killed.push(id);
    }
    const reply: Document = { cursorsKilled: killed, cursorsNotFound: notFound, cursorsAlive: [], cursorsUnknown: [], ok: 1 };
    return reply;
  },
};
