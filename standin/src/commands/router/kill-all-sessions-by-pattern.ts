/** killAllSessionsByPattern on the router: as on mongod, then the router's kill and the fan-out (Router.killEverywhere). */
import type { CommandDef } from '../../mongod.ts';
import { caller, killAllSessionsByPatternPatterns } from '../kill.ts';
import { routerOf } from '../../sharding/router.ts';

export const killAllSessionsByPatternCommand: CommandDef = {
  names: ['killAllSessionsByPattern'], secondaryAllowed: 'always', ignoresSession: true,
  run: (ctx) => routerOf(ctx).killEverywhere(ctx, killAllSessionsByPatternPatterns(ctx), `killAllSessionsByPattern by ${caller(ctx)}`),
};
