/**
 * abortTransaction through the router: abortTransaction on every participant, the router's record aborted; the
 * first participant's failure is the reply (a participant whose transaction was killed answers
 * NoSuchTransaction 251, as the server's router passes on).
 */
import type { CommandDef } from '../../mongod.ts';
import { requireTxn } from '../txn.ts';
import { routerOf, replyError } from '../../sharding/router.ts';

export const abortTransactionCommand: CommandDef = {
  names: ['abortTransaction'], secondaryAllowed: 'never', adminOnly: true, allowedInTransaction: true,
  run: async (ctx) => {
    const r = routerOf(ctx);
    const txn = requireTxn(ctx);
    const replies = await r.abortParticipants(ctx, null);
    ctx.mongod.abortTransaction(ctx.session!, txn, 251);
    const failed = replies.find((x) => x.ok !== 1);
    if (failed) throw replyError(failed);
    return { ok: 1 };
  },
};
