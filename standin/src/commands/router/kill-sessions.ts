/**
 * killSessions on the router: the patterns as on mongod (a bare id is the caller's own session; [] is the
 * caller's sessions with auth, everything without), then the router's kill and the fan-out to every shard
 * host (Router.killEverywhere, kill_sessions_remote.cpp).
 */
import type { CommandDef } from '../../mongod.ts';
import { caller, killSessionsPatterns } from '../kill.ts';
import { routerOf } from '../../sharding/router.ts';

export const killSessionsCommand: CommandDef = {
  names: ['killSessions'], secondaryAllowed: 'always', ignoresSession: true,
  run: (ctx) => {
    const patterns = killSessionsPatterns(ctx);
    ctx.mongod.stats.killSessionsCalls++;
    return routerOf(ctx).killEverywhere(ctx, patterns, `killSessions by ${caller(ctx)}`);
  },
};
