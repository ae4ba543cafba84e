/** delete through the router (writes.ts). */
import type { CommandDef } from '../../mongod.ts';
import { routeWrite } from './writes.ts';

export const deleteCommand: CommandDef = {
  names: ['delete'], secondaryAllowed: 'never', allowedInTransaction: true, opType: 'remove',
  run: (ctx) => routeWrite(ctx, 'delete'),
};
