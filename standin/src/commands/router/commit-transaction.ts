/**
 * commitTransaction through the router (src/mongo/s/transaction_router.cpp commitTransaction): no participant,
 * nothing to do; one, commitTransaction on it; several, a two-phase commit (the coordinator's
 * prepareTransaction on every participant, then commitTransaction with the commit timestamp; the server's
 * coordinator runs on the first participant, txn_two_phase_commit_cmds.cpp). A participant that fails the
 * prepare (its transaction killed: 251) aborts the others and the commit fails with its error.
 */
import { Timestamp, type Document } from 'bson';
import type { CommandDef } from '../../mongod.ts';
import { requireTxn } from '../txn.ts';
import { routerOf, replyError } from '../../sharding/router.ts';

export const commitTransactionCommand: CommandDef = {
  names: ['commitTransaction'], secondaryAllowed: 'never', adminOnly: true, allowedInTransaction: true,
  run: async (ctx) => {
    const r = routerOf(ctx);
    const txn = requireTxn(ctx);
    if (txn.state === 'committed') return { ok: 1 };
    const shards = (r.participants.get(txn) ?? []).map((p) => r.config.shard(p.shard)!);
    let commitTimestamp: Timestamp | null = null;
    if (shards.length > 1) {
      for (const shard of shards) {
        const reply = await r.run(ctx, shard, r.primaryOf(shard), r.txnCommand(ctx, { prepareTransaction: 1 }));
        if (reply.ok !== 1) {
          await r.abortParticipants(ctx, null);
          throw replyError(reply);
        }
        const ts = reply.prepareTimestamp as Timestamp;
        if (!commitTimestamp || ts.greaterThan(commitTimestamp)) commitTimestamp = ts;
      }
    }
    for (const shard of shards) {
      const body: Document = commitTimestamp ? { commitTransaction: 1, commitTimestamp } : { commitTransaction: 1 };
      const reply = await r.run(ctx, shard, r.primaryOf(shard), r.txnCommand(ctx, body));
      if (reply.ok !== 1) throw replyError(reply);
    }
    txn.state = 'committed';
    return { ok: 1 };
  },
};
