/**
 * Authentication (saslStart / saslContinue with SCRAM-SHA-1 and SCRAM-SHA-256, logout) and user management
 * (createUser, createRole, grantRolesToUser, dropUser, usersInfo), on the model of
 * src/mongo/db/auth/sasl_commands.cpp and src/mongo/db/commands/user_management_commands.cpp.
 *
 * The localhost exception: while no user exists, an unauthenticated client may create the first user
 * (src/mongo/db/auth/authorization_session_impl.cpp _isLocalhostExceptionAllowed).
 */
import { Binary } from 'bson';
import type { Privilege, Resource, RoleName } from '../auth.ts';
import { CommandError } from '../errors.ts';
import { expectArray, expectDoc, expectString, isDoc, isNumber, toNumber } from '../idl.ts';
import type { CommandContext, CommandDef } from '../mongod.ts';
import { assertSupportedMechanism, ScramServerConversation } from '../scram.ts';

let nextConversationId = 1;

function payloadBuffer(v: unknown): Buffer {
  if (v instanceof Binary) return Buffer.from(v.buffer.subarray(0, v.length()));
  if (typeof v === 'string') return Buffer.from(v, 'utf8');
  throw new CommandError(14, 'TypeMismatch', 'payload must be a binData or string');
}

function parseRoles(value: unknown, db: string, path: string): RoleName[] {
  return expectArray(value, path).map((r, i) => {
    if (typeof r === 'string') return { role: r, db };
    const d = expectDoc(r, `${path}.${i}`);
    return { role: expectString(d.role, `${path}.role`), db: expectString(d.db, `${path}.db`) };
  });
}

function parseResource(value: unknown, path: string): Resource {
  const d = expectDoc(value, path);
  if (d.cluster === true) return { cluster: true };
  if (d.anyResource === true) return { anyResource: true };
  if (typeof d.db === 'string' && typeof d.collection === 'string') return { db: d.db, collection: d.collection };
  throw new CommandError(2, 'BadValue', `resource must be {cluster: true}, {anyResource: true} or {db: <string>, collection: <string>}; found ${JSON.stringify(d)}`);
}

function requireUserAdmin(ctx: CommandContext, action: string): void {
  const m = ctx.mongod;
  // Localhost exception: the first user may be created without authenticating.
  if (m.params.auth && !ctx.conn.user && m.auth.listUsers().length === 0 && action === 'createUser') return;
  if (m.params.auth && !ctx.conn.user) throw new CommandError(13, 'Unauthorized', `command ${ctx.name} requires authentication`);
  m.requirePrivilege(ctx, { db: ctx.db, collection: '' }, action);
}

function parsePrivileges(value: unknown, path: string): Privilege[] {
  return expectArray(value, path).map((p, i) => {
    const d = expectDoc(p, `${path}.${i}`);
    const actions = expectArray(d.actions, `${path}.actions`);
    for (const a of actions) if (typeof a !== 'string') throw new CommandError(14, 'TypeMismatch', 'actions must be strings');
    return { resource: parseResource(d.resource, `${path}.resource`), actions: actions as string[] };
  });
}

export const userCommands: CommandDef[] = [
  {
    names: ['saslStart'], secondaryAllowed: 'always', requiresAuth: false, ignoresSession: true,
    run: (ctx) => {
      const mechanism = expectString(ctx.cmd.mechanism, 'saslStart.mechanism');
      assertSupportedMechanism(mechanism);
      const db = ctx.db;
      const conversation = new ScramServerConversation(mechanism, (user: string) => {
        const def = ctx.mongod.auth.getUser(user, db);
        return def?.credentials[mechanism] ?? null;
      });
      let payload: Buffer;
      try {
        payload = conversation.start(payloadBuffer(ctx.cmd.payload));
      } catch (e) {
        ctx.mongod.log(`auth: failed ${mechanism} on ${db} from ${ctx.conn.remote} (conn${ctx.conn.id}): ${(e as Error).message}`);
        throw e;
      }
      const conversationId = nextConversationId++;
      ctx.conn.scram.set(conversationId, conversation);
      return { conversationId, done: false, payload: new Binary(payload), ok: 1 };
    },
  },
  {
    names: ['saslContinue'], secondaryAllowed: 'always', requiresAuth: false, ignoresSession: true,
    run: (ctx) => {
      const id = isNumber(ctx.cmd.conversationId) ? toNumber(ctx.cmd.conversationId) : NaN;
      const conversation = ctx.conn.scram.get(id);
      if (!conversation) throw new CommandError(17, 'ProtocolError', 'No SASL session state found');
      let result;
      try {
        result = conversation.continue(payloadBuffer(ctx.cmd.payload));
      } catch (e) {
        ctx.conn.scram.delete(id);
        ctx.mongod.log(`auth: failed on ${ctx.db} from ${ctx.conn.remote} (conn${ctx.conn.id}): ${(e as Error).message}`);
        throw e;
      }
      if (result.done) {
        ctx.conn.scram.delete(id);
        if (result.user) {
          ctx.conn.user = { user: result.user, db: ctx.db };
          ctx.mongod.log(`auth: ${result.user}@${ctx.db} authenticated from ${ctx.conn.remote} (conn${ctx.conn.id})`);
        }
      }
      return { conversationId: id, done: result.done, payload: new Binary(result.payload), ok: 1 };
    },
  },
  {
    names: ['logout'], secondaryAllowed: 'always', requiresAuth: false,
    run: (ctx) => {
      ctx.conn.user = null;
      return { ok: 1 };
    },
  },
  {
    names: ['createUser'], secondaryAllowed: 'never', requiresAuth: false,
    run: (ctx) => {
      requireUserAdmin(ctx, 'createUser');
      const user = expectString(ctx.cmd.createUser, 'createUser.createUser');
      const pwd = expectString(ctx.cmd.pwd, 'createUser.pwd');
      const roles = parseRoles(ctx.cmd.roles ?? [], ctx.db, 'createUser.roles');
      const mechanisms = ctx.cmd.mechanisms === undefined ? undefined : expectArray(ctx.cmd.mechanisms, 'createUser.mechanisms').map(String);
      if (user.length === 0) throw new CommandError(2, 'BadValue', 'User document needs \'user\' field to be non-empty');
      ctx.mongod.auth.createUser(user, ctx.db, pwd, roles, mechanisms);
      ctx.mongod.log(`user: created ${user}@${ctx.db} with roles ${roles.map((r) => `${r.role}@${r.db}`).join(',') || '(none)'}`);
      return { ok: 1 };
    },
  },
  {
    names: ['createRole'], secondaryAllowed: 'never',
    run: (ctx) => {
      requireUserAdmin(ctx, 'createRole');
      const role = expectString(ctx.cmd.createRole, 'createRole.createRole');
      const privileges = parsePrivileges(ctx.cmd.privileges ?? [], 'createRole.privileges');
      const roles = parseRoles(ctx.cmd.roles ?? [], ctx.db, 'createRole.roles');
      ctx.mongod.auth.createRole({ role, db: ctx.db, privileges, roles });
      return { ok: 1 };
    },
  },
  {
    // What `setup-role` re-runs to converge an existing role on its document.
    names: ['updateRole'], secondaryAllowed: 'never',
    run: (ctx) => {
      requireUserAdmin(ctx, 'createRole');
      const role = expectString(ctx.cmd.updateRole, 'updateRole.updateRole');
      const privileges = ctx.cmd.privileges === undefined ? undefined : parsePrivileges(ctx.cmd.privileges, 'updateRole.privileges');
      const roles = ctx.cmd.roles === undefined ? undefined : parseRoles(ctx.cmd.roles, ctx.db, 'updateRole.roles');
      if (!privileges && !roles) throw new CommandError(2, 'BadValue', 'Must specify at least one field to update in updateRole');
      ctx.mongod.auth.updateRole({ role, db: ctx.db }, { ...(privileges ? { privileges } : {}), ...(roles ? { roles } : {}) });
      return { ok: 1 };
    },
  },
  {
    names: ['grantRolesToUser'], secondaryAllowed: 'never',
    run: (ctx) => {
      requireUserAdmin(ctx, 'grantRole');
      const user = expectString(ctx.cmd.grantRolesToUser, 'grantRolesToUser.grantRolesToUser');
      ctx.mongod.auth.grantRoles(user, ctx.db, parseRoles(ctx.cmd.roles, ctx.db, 'grantRolesToUser.roles'));
      return { ok: 1 };
    },
  },
  {
    names: ['dropUser'], secondaryAllowed: 'never',
    run: (ctx) => {
      requireUserAdmin(ctx, 'dropUser');
      const user = expectString(ctx.cmd.dropUser, 'dropUser.dropUser');
      ctx.mongod.auth.dropUser(user, ctx.db);
      return { ok: 1 };
    },
  },
  {
    names: ['usersInfo'], secondaryAllowed: 'optIn',
    run: (ctx) => {
      const m = ctx.mongod;
      const arg = ctx.cmd.usersInfo;
      const wanted: { user: string; db: string }[] = [];
      let all = false;
      const add = (v: unknown): void => {
        if (typeof v === 'string') wanted.push({ user: v, db: ctx.db });
        else if (isDoc(v)) wanted.push({ user: expectString(v.user, 'usersInfo.user'), db: expectString(v.db, 'usersInfo.db') });
        else throw new CommandError(2, 'BadValue', 'User name must be either a string or an object');
      };
      if (arg === 1 || (isNumber(arg) && toNumber(arg) === 1)) all = true;
      else if (Array.isArray(arg)) arg.forEach(add);
      else add(arg);
      const self = ctx.conn.user;
      const onlySelf = !all && wanted.length === 1 && self && wanted[0].user === self.user && wanted[0].db === self.db;
      if (!onlySelf) m.requirePrivilege(ctx, { db: ctx.db, collection: '' }, 'viewUser');
      const defs = all ? m.auth.listUsers(ctx.db) : wanted.map((w) => m.auth.getUser(w.user, w.db)).filter((u) => u !== undefined);
      return {
        users: defs.map((u) => ({ _id: `${u.db}.${u.user}`, userId: u.userId, user: u.user, db: u.db, roles: u.roles, mechanisms: u.mechanisms })),
        ok: 1,
      };
    },
  },
];
