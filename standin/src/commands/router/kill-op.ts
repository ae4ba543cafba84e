/**
 * killOp on the router (src/mongo/s/commands/cluster_kill_op.cpp):
 *  - a numeric `op` kills one of the router's own operations (isKillingLocalOp), as killOp on mongod;
 *  - a string "<shard>:<opid>" is sent as { killOp: 1, op: <opid> } to that shard, which reaches its primary
 *    (ScopedDbConnection on the shard's connection string; SERVER-96446 for targeting a member is open), and
 *    the reply is success with `shard` and `shardid` whatever the shard answered ("intentionally ignore return
 *    value"). An opid seen on a secondary is another process's number: it cannot be killed this way;
 *  - no `op`: 50759; another type: 50760; a string not of the form N:N: 28625; an unknown shard: ShardNotFound
 *    (70, ShardRegistry::getShard); an opid that is not a base-10 int: FailedToParse (NumberParser).
 * Killing a shard's operation needs killop on the cluster (KillOpCmdBase::checkAuthForOperation: only a local
 * op can be the caller's own).
 */
import { CommandError } from '../../errors.ts';
import { bsonTypeName, isNumber } from '../../idl.ts';
import type { CommandDef } from '../../mongod.ts';
import { killCommands } from '../kill.ts';
import { routerOf } from '../../sharding/router.ts';

const localKillOp = killCommands.find((d) => d.names.includes('killOp'))!;
const INT32_MAX = 0x7fffffff;

function parseShardOpId(text: string): number {
  if (!/^[+-]?\d+$/.test(text)) throw new CommandError(9, 'FailedToParse', `Did not consume whole string.`);
  const n = Number(text);
  if (n > INT32_MAX || n < -INT32_MAX - 1) throw new CommandError(15, 'Overflow', `Value ${text} is out of range for int`);
  return n;
}

export const killOpCommand: CommandDef = {
  names: ['killOp'], secondaryAllowed: 'always', ignoresSession: true,
  run: async (ctx) => {
    if (ctx.db !== 'admin') throw new CommandError(13, 'Unauthorized', 'killOp may only be run against the admin database.');
    const r = routerOf(ctx);
    const op = ctx.cmd.op;
    if (op === undefined) throw new CommandError(50759, 'Location50759', 'Did not provide "op" field');
    if (isNumber(op)) return localKillOp.run(ctx);
    if (typeof op !== 'string') throw new CommandError(50760, 'Location50760', `"op" field was of unsupported type ${bsonTypeName(op)}`);
    if (!ctx.mongod.can(ctx.conn, { cluster: true }, 'killop')) throw new CommandError(13, 'Unauthorized', 'Unauthorized');
    const sep = op.indexOf(':');
    if (op.length < 3 || sep <= 0 || sep === op.length - 1) {
      throw new CommandError(28625, 'Location28625', `The op argument to killOp must be of the format shardid:opid but found "${op}"`);
    }
    const shardId = op.slice(0, sep);
    const shard = r.config.shard(shardId);
    if (!shard) throw new CommandError(70, 'ShardNotFound', `Shard ${shardId} not found`);
    const opid = parseShardOpId(op.slice(sep + 1));
    ctx.mongod.log(`About to kill op ${op}`);
    await r.run(ctx, shard, r.primaryOf(shard), { killOp: 1, op: opid, $db: 'admin' });
    return { shard: shardId, shardid: opid, ok: 1 };
  },
};
