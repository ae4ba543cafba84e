/** update through the router (writes.ts). */
import type { CommandDef } from '../../mongod.ts';
import { routeWrite } from './writes.ts';

export const updateCommand: CommandDef = {
  names: ['update'], secondaryAllowed: 'never', allowedInTransaction: true, opType: 'update',
  run: (ctx) => routeWrite(ctx, 'update'),
};
