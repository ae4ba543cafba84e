/**
 * Session commands: startSession, refreshSessions, endSessions, and the test commands
 * refreshLogicalSessionCacheNow, reapLogicalSessionCacheNow and standinBulkCreateSessions.
 *
 * endSessions is deferred: LogicalSessionCacheImpl::endSessions only records the ids; the next refresh
 * deletes the records and kills their cursors; running ops are not interrupted and transactions are not
 * aborted (end_sessions_command.cpp, logical_session_cache_impl.cpp; docs/server-semantics.md#endsessions).
 */
import { randomBytes } from 'node:crypto';
import { Binary, Int32, type Document } from 'bson';
import { userDigest, NO_AUTH_DIGEST } from '../auth.ts';
import { CommandError } from '../errors.ts';
import { expectArray, expectDoc, expectString, isDoc, isNumber, toNumber, wrongType } from '../idl.ts';
import type { CommandContext, CommandDef } from '../mongod.ts';
import { uuidBinary, type ClientInfo } from '../sessions.ts';
import { documentSource } from '../batches.ts';
import { prng } from '../prng.ts';

function lsidList(ctx: CommandContext, field: string, path: string): Document[] {
  const v = ctx.cmd[field];
  if (v === null) throw new CommandError(10065, 'Location10065', `invalid parameter: expected an object (${field})`);
  return expectArray(v, path).map((e, i) => expectDoc(e, `${path}.${i}`));
}

function range(v: unknown, dflt: [number, number]): [number, number] {
  if (isNumber(v)) return [toNumber(v), toNumber(v)];
  if (isDoc(v) && isNumber(v.min) && isNumber(v.max)) return [toNumber(v.min), toNumber(v.max)];
  return dflt;
}

export const sessionCommands: CommandDef[] = [
  {
    names: ['startSession'], secondaryAllowed: 'always',
    run: (ctx) => {
      const idHex = randomBytes(16).toString('hex');
      // RFC 4122 version 4 bits, as the server's UUID::gen.
      const bytes = Buffer.from(idHex, 'hex');
      bytes[6] = (bytes[6] & 0x0f) | 0x40;
      bytes[8] = (bytes[8] & 0x3f) | 0x80;
      const hex = bytes.toString('hex');
      const m = ctx.mongod;
      m.sessions.vivify(hex, m.digestHex(ctx.conn), m.params.auth ? m.userName(ctx.conn) : null, ctx.now, m.clientInfo(ctx.conn));
      return { id: { id: uuidBinary(hex) }, timeoutMinutes: new Int32(m.params.localLogicalSessionTimeoutMinutes), ok: 1 };
    },
  },
  {
    names: ['refreshSessions'], secondaryAllowed: 'always', ignoresSession: true,
    run: (ctx) => {
      const m = ctx.mongod;
      for (const e of lsidList(ctx, 'refreshSessions', 'refreshSessions.refreshSessions')) {
        const lsid = m.resolveLsid(ctx.conn, e, 'refreshSessions.refreshSessionsFromClient', null);
        m.sessions.vivify(lsid.idHex, lsid.uidHex, m.params.auth ? m.userName(ctx.conn) : null, ctx.now, m.clientInfo(ctx.conn));
      }
      return { ok: 1 };
    },
  },
  {
    names: ['endSessions'], secondaryAllowed: 'always', ignoresSession: true,
    run: (ctx) => {
      const m = ctx.mongod;
      for (const e of lsidList(ctx, 'endSessions', 'endSessions.endSessions')) {
        // No allowSpoof: a foreign uid needs impersonate (makeLogicalSessionIds without allowSpoof).
        const lsid = m.resolveLsid(ctx.conn, e, 'endSessions.endSessionsFromClient', null);
        const rec = m.lookup(lsid);
        if (rec) rec.ending = true;
      }
      return { ok: 1 };
    },
  },
  {
    names: ['refreshLogicalSessionCacheNow'], secondaryAllowed: 'always', ignoresSession: true,
    run: (ctx) => {
      ctx.mongod.refreshSessions();
      return { ok: 1 };
    },
  },
  {
    // Reaps config.transactions entries of removed sessions; the stand-in keeps none, so there is nothing to do.
    names: ['reapLogicalSessionCacheNow'], secondaryAllowed: 'always', ignoresSession: true,
    run: () => ({ ok: 1 }),
  },
  {
    /**
     * Test command for benchmarks: creates N synthetic sessions without connections.
     * { standinBulkCreateSessions: N, users: [{user, db}], appNames: [...], seed,
     *   lastUseAgeSeconds: n | {min, max},                 // config.system.sessions lastUse = now - age
     *   runningOps: n, opSecondsRunning: n | {min, max},    // synthetic ops, run until killed
     *   idleTransactions: n, txnInactiveSeconds: n | {min, max}, preparedTransactions: n,
     *   cursors: n, cursorIdleSeconds: n | {min, max},
     *   spreadOverMembers: bool }
     * Features are dealt to distinct sessions in that order: ops first, then transactions, then cursors.
     * The documents go to config.system.sessions (one collection for a replica set); the activity lands on the
     * member the command is sent to, or with spreadOverMembers: true, operations and cursors are dealt
     * round-robin over the members that are up and transactions go to the primary (where transactions run).
     */
    names: ['standinBulkCreateSessions'], secondaryAllowed: 'always', ignoresSession: true, adminOnly: true,
    run: (ctx) => {
      const m = ctx.mongod;
      const c = ctx.cmd;
      if (!isNumber(c.standinBulkCreateSessions)) throw wrongType('standinBulkCreateSessions.standinBulkCreateSessions', c.standinBulkCreateSessions, 'int');
      const n = toNumber(c.standinBulkCreateSessions);
      const users = c.users === undefined ? [] : expectArray(c.users, 'standinBulkCreateSessions.users').map((u) => {
        const d = expectDoc(u, 'standinBulkCreateSessions.users');
        return `${expectString(d.user, 'standinBulkCreateSessions.users.user')}@${expectString(d.db, 'standinBulkCreateSessions.users.db')}`;
      });
      const appNames = c.appNames === undefined ? ['app'] : expectArray(c.appNames, 'standinBulkCreateSessions.appNames').map(String);
      const rand = prng(isNumber(c.seed) ? toNumber(c.seed) : 1);
      const pick = ([lo, hi]: [number, number]): number => lo + rand() * (hi - lo);
      const ageRange = range(c.lastUseAgeSeconds, [0, 0]);
      const opRange = range(c.opSecondsRunning, [1, 1]);
      const txnRange = range(c.txnInactiveSeconds, [1, 1]);
      const curRange = range(c.cursorIdleSeconds, [1, 1]);
      const nOps = isNumber(c.runningOps) ? toNumber(c.runningOps) : 0;
      const nTxn = isNumber(c.idleTransactions) ? toNumber(c.idleTransactions) : 0;
      const nPrep = isNumber(c.preparedTransactions) ? toNumber(c.preparedTransactions) : 0;
      const nCur = isNumber(c.cursors) ? toNumber(c.cursors) : 0;
      // A guard on memory rather than a server rule: maxSessions bounds the bulk inventory too.
      if (m.sessionsCollection.size + n > m.params.maxSessions) {
        throw new CommandError(261, 'TooManyLogicalSessions', `Unable to add ${n} sessions: config.system.sessions holds ${m.sessionsCollection.size} and maxSessions is ${m.params.maxSessions}`);
      }
      const now = m.now();
      const spread = c.spreadOverMembers === true && m.member !== null;
      const members = spread ? m.member!.topology.runningNodes() : [m];
      const primaryIndex = spread ? m.member!.topology.primary() : null;
      const txnHome = primaryIndex === null ? m : m.member!.topology.node(primaryIndex)!;
      let dealt = 0;
      const uids = (users.length ? users : [null]).map((u) => ({ user: m.params.auth ? u : null, uidHex: (u && m.params.auth ? userDigest(u) : NO_AUTH_DIGEST).toString('hex') }));
      const clients: ClientInfo[] = appNames.map((name, i) => ({
        connectionId: 0, client: `192.0.2.${(i % 250) + 1}:${40000 + i}`, appName: name,
        clientMetadata: { application: { name }, driver: { name: 'nodejs', version: '7.0.0' }, platform: 'synthetic' },
      }));
      const idBytes = Buffer.alloc(16);
      for (let i = 0; i < n; i++) {
        for (let b = 0; b < 16; b += 4) idBytes.writeUInt32LE((rand() * 0x100000000) >>> 0, b);
        idBytes[6] = (idBytes[6] & 0x0f) | 0x40;
        idBytes[8] = (idBytes[8] & 0x3f) | 0x80;
        const owner = uids[i % uids.length];
        const idHex = idBytes.toString('hex');
        m.sessionsCollection.upsert(idHex, owner.uidHex, owner.user, now - Math.round(pick(ageRange) * 1000));
        // Only sessions with activity have a catalog record, on the member that holds the activity.
        if (i >= nOps + nTxn + nPrep + nCur) continue;
        const isTxn = i >= nOps && i < nOps + nTxn + nPrep;
        const t = isTxn ? txnHome : members[dealt++ % members.length];
        const rec = t.sessions.create(idHex, owner.uidHex, owner.user);
        rec.lastClient = clients[i % clients.length];
        const lsid = { id: uuidBinary(rec.idHex), uid: new Binary(Buffer.from(rec.uidHex, 'hex'), 0) };
        if (i < nOps) {
          const secs = pick(opRange);
          t.ops.start({
            client: rec.lastClient, session: rec, startedAtMs: now - Math.round(secs * 1000),
            command: { find: 'orders', filter: { status: 'open' }, lsid: { id: lsid.id }, $db: 'app' }, op: 'query', ns: 'app.orders',
            effectiveUsers: owner.user ? [{ user: owner.user.split('@')[0], db: owner.user.split('@').slice(1).join('@') }] : [],
            txn: null, synthetic: true,
          });
        } else if (i < nOps + nTxn + nPrep) {
          const inactive = pick(txnRange);
          const start = now - Math.round(inactive * 1000) - 5;
          rec.txnNumber = 1;
          rec.txn = {
            txnNumber: 1, state: i < nOps + nTxn ? 'inProgress' : 'prepared', abortCode: 0, startWallMs: start, activeMicros: 5000,
            activeSinceMs: 0, preparedAtMs: i < nOps + nTxn ? 0 : start + 5,
            expiresAtMs: start + m.params.transactionLifetimeLimitSeconds * 1000, readConcern: null, writes: new Map(), synthetic: true,
          };
        } else {
          const idle = pick(curRange);
          const created = new Date(now - Math.round(idle * 1000));
          t.cursors.open({
            ns: 'app.events', session: rec, owner: owner.user, txn: null, originatingCommand: { find: 'events', batchSize: 2, lsid: { id: lsid.id }, $db: 'app' },
            createdDate: created, noCursorTimeout: false, source: documentSource([{ _id: 1 }][Symbol.iterator]()),
          });
        }
      }
      m.log(`bulk: created ${n} synthetic sessions (${nOps} running ops, ${nTxn} idle transactions, ${nPrep} prepared, ${nCur} cursors)`);
      return { created: n, sessions: m.sessionsCollection.size, ok: 1 };
    },
  },
];
