/**
 * Transaction commands (commitTransaction, abortTransaction, the test command prepareTransaction) and the
 * test command sleep, which runs as long as asked and can be interrupted.
 *
 * Sources: src/mongo/db/commands/txn_cmds.cpp (admin only; commit of a prepared transaction needs
 * commitTimestamp), src/mongo/db/commands/sleep_command.cpp (secs / seconds / millis, default 10 s,
 * lock modes; no privilege needed, "it only works when enabled via command line").
 */
import { Timestamp } from 'bson';
import { CommandError } from '../errors.ts';
import { isNumber, toNumber } from '../idl.ts';
import type { CommandContext, CommandDef } from '../mongod.ts';
import { commitWrites } from './crud.ts';

export function requireTxn(ctx: CommandContext) {
  if (!ctx.txn) {
    throw new CommandError(50768, 'Location50768', `'${ctx.name}' must be run within a transaction: send it with lsid, txnNumber and autocommit: false`);
  }
  return ctx.txn;
}

export const txnCommands: CommandDef[] = [
  {
    names: ['commitTransaction'], secondaryAllowed: 'never', adminOnly: true, allowedInTransaction: true,
    run: (ctx) => {
      const txn = requireTxn(ctx);
      if (txn.state === 'committed') return { ok: 1 };
      if (txn.state === 'prepared' && !(ctx.cmd.commitTimestamp instanceof Timestamp)) {
        throw new CommandError(72, 'InvalidOptions', "'commitTimestamp' is required to commit a prepared transaction");
      }
      commitWrites(ctx);
      txn.state = 'committed';
      return { ok: 1 };
    },
  },
  {
    names: ['abortTransaction'], secondaryAllowed: 'never', adminOnly: true, allowedInTransaction: true,
    run: (ctx) => {
      const txn = requireTxn(ctx);
      ctx.mongod.abortTransaction(ctx.session!, txn, 251);
      return { ok: 1 };
    },
  },
  {
    names: ['prepareTransaction'], secondaryAllowed: 'never', adminOnly: true, allowedInTransaction: true,
    run: (ctx) => {
      const txn = requireTxn(ctx);
      if (txn.state === 'prepared') return { prepareTimestamp: new Timestamp({ t: Math.floor(txn.preparedAtMs / 1000), i: 1 }), ok: 1 };
      txn.state = 'prepared';
      txn.preparedAtMs = ctx.mongod.now();
      return { prepareTimestamp: new Timestamp({ t: Math.floor(txn.preparedAtMs / 1000), i: 1 }), ok: 1 };
    },
  },
  {
    names: ['sleep'], secondaryAllowed: 'always',
    run: async (ctx) => {
      const c = ctx.cmd;
      let ms = 0;
      if (c.secs !== undefined || c.seconds !== undefined || c.millis !== undefined) {
        if (c.secs !== undefined && c.seconds !== undefined) throw new CommandError(51153, 'Location51153', "Only one of 'secs' and 'seconds' may be specified");
        if (c.secs !== undefined) {
          if (!isNumber(c.secs)) throw new CommandError(34344, 'Location34344', "'secs' must be a number.");
          ms += Math.trunc(toNumber(c.secs)) * 1000;
        } else if (c.seconds !== undefined) {
          if (!isNumber(c.seconds)) throw new CommandError(51154, 'Location51154', "'seconds' must be a number.");
          ms += Math.trunc(toNumber(c.seconds)) * 1000;
        }
        if (c.millis !== undefined) {
          if (!isNumber(c.millis)) throw new CommandError(34345, 'Location34345', "'millis' must be a number.");
          ms += Math.trunc(toNumber(c.millis));
        }
      } else {
        ms = 10_000;
      }
      if (c.lock !== undefined) {
        if (c.w !== undefined) throw new CommandError(34346, 'Location34346', "Only one of 'w' and 'lock' may be set.");
        if (!['r', 'ir', 'w', 'iw', 'none'].includes(String(c.lock))) {
          throw new CommandError(34347, 'Location34347', "'lock' must be one of 'r', 'ir', 'w', 'iw', 'none'.");
        }
      }
      let timer: NodeJS.Timeout | undefined;
      const done = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), ms)));
      const err = await Promise.race([done, ctx.op.interrupted]);
      clearTimeout(timer);
      if (err) throw err;
      return { ok: 1 };
    },
  },
];
