/**
 * killSessions, killAllSessions, killAllSessionsByPattern and killOp, with the server's privileges,
 * empty-array meanings and errors (docs/server-semantics.md#kill-and-end-commands, docs/server-semantics.md#killop):
 *
 *  - killSessions [{id}]:     the uid defaults to the CALLER's digest, so a bare id only ever hits the caller's
 *                             own sessions, even for root (kill_sessions_command.cpp, makeLogicalSessionId);
 *  - killSessions [{id,uid}]: a foreign uid needs killAnySession (allowSpoof) or impersonate, else 13;
 *  - killSessions []:         with auth, every session of the caller; without auth, every session on the node
 *                             (patternsForLoggedInUser);
 *  - killAllSessions[ByPattern]: always need killAnySession; [] kills everything; users/roles in a pattern
 *                             need impersonate and do NOT filter (session_killer.cpp Matcher).
 * The kill commands ignore their own lsid (attachLogicalSessionsToOpCtx() == false), so they never kill themselves.
 */
import { userDigest } from '../auth.ts';
import { CommandError } from '../errors.ts';
import { bsonTypeName, expectArray, expectDoc, expectString, isNumber, rejectUnknown, toNumber, expectUuid, expectSha256, missingField } from '../idl.ts';
import type { CommandContext, CommandDef, KillPattern } from '../mongod.ts';
import { Long } from 'bson';

/** Who ran a kill command, for the log line. */
export function caller(ctx: CommandContext): string {
  return ctx.mongod.userName(ctx.conn) ?? `conn${ctx.conn.id}`;
}

function requireKillAnySession(ctx: CommandContext): void {
  if (!ctx.mongod.can(ctx.conn, { cluster: true }, 'killAnySession')) {
    throw new CommandError(13, 'Unauthorized', 'Unauthorized');
  }
}

function parseUsers(value: unknown, path: string): { user: string; db: string }[] {
  return expectArray(value, path).map((u, i) => {
    const d = expectDoc(u, `${path}.${i}`);
    rejectUnknown(d, ['user', 'db'], path);
    return { user: expectString(d.user, `${path}.user`), db: expectString(d.db, `${path}.db`) };
  });
}

/** The patterns of a killSessions command (kill_sessions_command.cpp), on mongod and on the router alike. */
export function killSessionsPatterns(ctx: CommandContext): KillPattern[] {
  const m = ctx.mongod;
  const P = 'KillSessionsCmd.killSessions';
  const list = expectArray(ctx.cmd.killSessions, P);
  let patterns: KillPattern[];
  if (list.length === 0) {
    patterns = m.params.auth ? [{ kind: 'uid', uidHex: m.digestHex(ctx.conn) }] : [{ kind: 'all' }];
  } else {
    patterns = list.map((e, i) => {
      const d = expectDoc(e, `${P}.${i}`);
      // A child session cannot be killed by itself: its parent is the target (jstests/sharding/internal_txns/kill_sessions.js).
      if (d.txnUUID !== undefined || d.txnNumber !== undefined) {
        throw new CommandError(72, 'InvalidOptions', 'Cannot kill an internal (child) session; kill its parent session {id, uid} instead');
      }
      const lsid = m.resolveLsid(ctx.conn, d, P, 'killAnySession');
      return { kind: 'lsid', ...lsid } as KillPattern;
    });
  }
  return patterns;
}

/** The patterns of a killAllSessions command: [] is everything, users become their uids; needs killAnySession. */
export function killAllSessionsPatterns(ctx: CommandContext): KillPattern[] {
  const P = 'KillAllSessionsCmd.killAllSessions';
  const users = parseUsers(ctx.cmd.killAllSessions, P);
  requireKillAnySession(ctx);
  return users.length === 0
    ? [{ kind: 'all' }]
    : users.map((u) => ({ kind: 'uid', uidHex: userDigest(`${u.user}@${u.db}`).toString('hex') }));
}

/**
 * The patterns of a killAllSessionsByPattern command: [] and a pattern with neither uid nor lsid are everything;
 * users/roles are impersonation data and need impersonate. Needs killAnySession.
 */
export function killAllSessionsByPatternPatterns(ctx: CommandContext): KillPattern[] {
  const m = ctx.mongod;
  const P = 'KillAllSessionsByPatternCmd.killAllSessionsByPattern';
  const list = expectArray(ctx.cmd.killAllSessionsByPattern, P);
  let needsImpersonate = false;
  const patterns: KillPattern[] = list.map((e, i) => {
    const d = expectDoc(e, `${P}.${i}`);
    rejectUnknown(d, ['lsid', 'uid', 'users', 'roles'], P);
    if (d.users !== undefined) {
      parseUsers(d.users, `${P}.users`);
      needsImpersonate = true;
    }
    if (d.roles !== undefined) {
      expectArray(d.roles, `${P}.roles`).forEach((r, j) => {
        const rd = expectDoc(r, `${P}.roles.${j}`);
        expectString(rd.role, `${P}.roles.role`);
        expectString(rd.db, `${P}.roles.db`);
      });
      needsImpersonate = true;
    }
    if (d.uid !== undefined) return { kind: 'uid', uidHex: expectSha256(d.uid, `${P}.uid`).toString('hex') };
    if (d.lsid !== undefined) {
      const l = expectDoc(d.lsid, `${P}.lsid`);
      const id = expectUuid(l.id, `${P}.lsid.id`);
      if (l.uid === undefined || l.uid === null) throw missingField(`${P}.lsid.uid`);
      const uid = expectSha256(l.uid, `${P}.lsid.uid`);
      return { kind: 'lsid', idHex: Buffer.from(id.buffer.subarray(0, 16)).toString('hex'), uidHex: uid.toString('hex') };
    }
    // Neither uid nor lsid: kill everything, whatever users/roles say (they are impersonation data only).
    return { kind: 'all' };
  });
  requireKillAnySession(ctx);
  if (needsImpersonate && !m.can(ctx.conn, { cluster: true }, 'impersonate')) {
    throw new CommandError(13, 'Unauthorized', 'Not authorized to impersonate in killAllSessionsByPattern');
  }
  return list.length === 0 ? [{ kind: 'all' }] : patterns;
}

/** killOp's numeric `op` (kill_op_cmd_base.cpp parseOpId): 4, 14, 2 and 26823 as the server. */
export function parseOpId(opArg: unknown): number {
  if (opArg === undefined) throw new CommandError(4, 'NoSuchKey', 'Missing expected field "op"');
  if (!isNumber(opArg)) {
    throw new CommandError(14, 'TypeMismatch', `Expected field "op" to have numeric type, but found ${bsonTypeName(opArg)}`);
  }
  let opid: number;
  if (opArg instanceof Long) {
    if (opArg.greaterThan(Long.fromNumber(0x7fffffff)) || opArg.lessThan(Long.fromNumber(-0x80000000))) {
      throw new CommandError(26823, 'Location26823', `invalid op : ${opArg.toString()}. Op ID cannot be represented with 32 bits`);
    }
    opid = opArg.toNumber();
  } else {
    opid = toNumber(opArg);
    if (!Number.isInteger(opid)) {
      throw new CommandError(2, 'BadValue', `Expected field "op" to have a value exactly representable as a 64-bit integer, but found op: ${opid}`);
    }
    if (opid > 0x7fffffff || opid < -0x80000000) {
      throw new CommandError(26823, 'Location26823', `invalid op : ${opid}. Op ID cannot be represented with 32 bits`);
    }
  }
  return opid;
}

export const killCommands: CommandDef[] = [
  {
    names: ['killSessions'], secondaryAllowed: 'always', ignoresSession: true,
    run: (ctx) => {
      const m = ctx.mongod;
      const patterns = killSessionsPatterns(ctx);
      m.stats.killSessionsCalls++;
      m.killByPatterns(patterns, `killSessions by ${caller(ctx)}`);
      return { ok: 1 };
    },
  },
  {
    names: ['killAllSessions'], secondaryAllowed: 'always', ignoresSession: true,
    run: (ctx) => {
      const m = ctx.mongod;
      const patterns = killAllSessionsPatterns(ctx);
      m.killByPatterns(patterns, `killAllSessions by ${caller(ctx)}`);
      return { ok: 1 };
    },
  },
  {
    names: ['killAllSessionsByPattern'], secondaryAllowed: 'always', ignoresSession: true,
    run: (ctx) => {
      const m = ctx.mongod;
      const patterns = killAllSessionsByPatternPatterns(ctx);
      m.killByPatterns(patterns, `killAllSessionsByPattern by ${caller(ctx)}`);
      return { ok: 1 };
    },
  },
  {
    names: ['killOp'], secondaryAllowed: 'always', ignoresSession: true,
    run: (ctx) => {
      const m = ctx.mongod;
      // kill_op.cpp: "killOp may only be run against the admin database." is Unauthorized(13).
      if (ctx.db !== 'admin') throw new CommandError(13, 'Unauthorized', 'killOp may only be run against the admin database.');
      const opid = parseOpId(ctx.cmd.op);
      const op = m.ops.get(opid);
      if (op) {
        const own = !!ctx.conn.user && op.effectiveUsers.some((u) => u.user === ctx.conn.user!.user && u.db === ctx.conn.user!.db);
        // kill_op_cmd_base.cpp: killop on the cluster, or the op belongs to a coauthorized client (your own op).
        if (!m.can(ctx.conn, { cluster: true }, 'killop') && !own) {
          throw new CommandError(13, 'Unauthorized', 'Unauthorized');
        }
        m.ops.kill(op);
        m.log(`kill: killOp ${opid} by ${caller(ctx)}`);
      } else if (!m.can(ctx.conn, { cluster: true }, 'killop')) {
        throw new CommandError(13, 'Unauthorized', 'Unauthorized');
      }
      return { info: 'attempting to kill op', ok: 1 };
    },
  },
];
