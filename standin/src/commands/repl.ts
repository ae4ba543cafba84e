/**
 * Replica-set commands: replSetGetStatus, replSetGetConfig and replSetStepUp, answered from the node's
 * replica set (replication.ts).
 *
 * Sources: src/mongo/db/repl/repl_set_commands.cpp (all three run on any member, need the cluster actions
 * replSetGetStatus / replSetGetConfig / replSetStateChange, and a node outside a replica set answers
 * NoReplicationEnabled(76) "not running with --replSet"), src/mongo/db/repl/repl_set_get_status_cmd.cpp.
 */
import { CommandError } from '../errors.ts';
import type { CommandContext, CommandDef } from '../mongod.ts';

function member(ctx: CommandContext) {
  const m = ctx.mongod.member;
  if (!m) throw new CommandError(76, 'NoReplicationEnabled', 'not running with --replSet');
  return m;
}

export const replCommands: CommandDef[] = [
  {
    names: ['replSetGetStatus'], secondaryAllowed: 'always', adminOnly: true,
    run: (ctx) => {
      ctx.mongod.requirePrivilege(ctx, { cluster: true }, 'replSetGetStatus');
      const m = member(ctx);
      return { ...m.topology.status(m.index), ok: 1 };
    },
  },
  {
    names: ['replSetGetConfig'], secondaryAllowed: 'always', adminOnly: true,
    run: (ctx) => {
      ctx.mongod.requirePrivilege(ctx, { cluster: true }, 'replSetGetConfig');
      return { config: member(ctx).topology.config(), ok: 1 };
    },
  },
  {
    // Test command: this member runs for election and wins (repl_set_commands.cpp CmdReplSetStepUp).
    names: ['replSetStepUp'], secondaryAllowed: 'always', adminOnly: true,
    run: (ctx) => {
      ctx.mongod.requirePrivilege(ctx, { cluster: true }, 'replSetStateChange');
      const m = member(ctx);
      try {
        m.topology.stepUp(m.index);
      } catch (e) {
        throw new CommandError(125, 'CommandFailed', `Election failed: ${(e as Error).message}`);
      }
      return { ok: 1 };
    },
  },
];
