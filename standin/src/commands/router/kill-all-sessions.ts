/** killAllSessions on the router: killAnySession, then the router's kill and the fan-out (Router.killEverywhere). */
import type { CommandDef } from '../../mongod.ts';
import { caller, killAllSessionsPatterns } from '../kill.ts';
import { routerOf } from '../../sharding/router.ts';

export const killAllSessionsCommand: CommandDef = {
  names: ['killAllSessions'], secondaryAllowed: 'always', ignoresSession: true,
  run: (ctx) => routerOf(ctx).killEverywhere(ctx, killAllSessionsPatterns(ctx), `killAllSessions by ${caller(ctx)}`),
};
