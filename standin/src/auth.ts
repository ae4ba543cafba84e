/**
 * Users, roles and privileges, on the model of mongod's authorization subsystem.
 *
 * Built-in roles and the actions they grant: mongodb/mongo `src/mongo/db/auth/builtin_roles.yml`
 * (the subset of actions that the stand-in's commands check). Notably (docs/server-semantics.md#privileges):
 *  - listSessions: clusterMonitor, clusterManager, clusterAdmin, root
 *  - inprog: clusterMonitor, clusterAdmin, root
 *  - killAnySession, killop: hostManager, clusterAdmin, root
 *  - impersonate: no normal built-in role (only the internal __system role)
 */
import { createHash } from 'node:crypto';
import { CommandError } from './errors.ts';
import { makeScramCredentials, type ScramCredentials } from './scram.ts';

export type Resource =
  | { cluster: true }
  | { anyResource: true }
  | { db: string; collection: string };

export interface Privilege {
  resource: Resource;
  actions: string[];
}

export interface RoleName {
  role: string;
  db: string;
}

export interface RoleDef {
  role: string;
  db: string;
  privileges: Privilege[];
  roles: RoleName[];
  builtin: boolean;
}

export interface UserDef {
  user: string;
  db: string;
  roles: RoleName[];
  credentials: { 'SCRAM-SHA-1'?: ScramCredentials; 'SCRAM-SHA-256'?: ScramCredentials };
  mechanisms: string[];
  userId: string;
}

/** SHA-256 of "user@db", or of "" for the no-auth pair (logical_session_id_helpers.cpp, user.cpp computeDigest). */
export function userDigest(user: string | null): Buffer {
  return createHash('sha256').update(user ?? '', 'utf8').digest();
}

export const NO_AUTH_DIGEST = userDigest('');

const READ_ACTIONS = ['find', 'listCollections', 'listIndexes', 'collStats', 'dbStats', 'dbHash', 'killCursors', 'changeStream', 'planCacheRead'];
const WRITE_ACTIONS = [...READ_ACTIONS, 'insert', 'update', 'remove', 'createCollection', 'dropCollection', 'createIndex', 'dropIndex', 'convertToCapped', 'renameCollectionSameDB'];
const USER_ADMIN_ACTIONS = ['changeCustomData', 'changePassword', 'createRole', 'createUser', 'dropRole', 'dropUser', 'grantRole', 'revokeRole', 'setAuthenticationRestriction', 'viewRole', 'viewUser'];
const CLUSTER_MONITOR_ACTIONS = ['connPoolStats', 'getCmdLineOpts', 'getLog', 'getParameter', 'hostInfo', 'inprog', 'listDatabases', 'listSessions', 'netstat', 'replSetGetConfig', 'replSetGetStatus', 'serverStatus', 'top', 'checkFreeMonitoringStatus', 'getDefaultRWConcern', 'listShards', 'getShardMap', 'useUUID'];
const HOST_MANAGER_ACTIONS = ['applicationMessage', 'closeAllDatabases', 'flushRouterConfig', 'fsync', 'invalidateUserCache', 'killAnyCursor', 'killAnySession', 'killop', 'logRotate', 'resync', 'setParameter', 'shutdown', 'touch', 'unlock'];
const CLUSTER_MANAGER_ACTIONS = ['listSessions', 'appendOplogNote', 'applicationMessage', 'cleanupOrphaned', 'flushRouterConfig', 'listShards', 'replSetConfigure', 'replSetGetConfig', 'replSetGetStatus', 'replSetStateChange', 'resync', 'setFeatureCompatibilityVersion'];

const cluster = (actions: string[]): Privilege => ({ resource: { cluster: true }, actions });
const anyNormalDb = (actions: string[]): Privilege => ({ resource: { db: '', collection: '' }, actions });
const onDb = (db: string, actions: string[]): Privilege => ({ resource: { db, collection: '' }, actions });

/** Built-in roles that exist on every database (read, readWrite, dbOwner, userAdmin). */
function dbRoles(db: string): RoleDef[] {
  return [
    { role: 'read', db, privileges: [onDb(db, READ_ACTIONS)], roles: [], builtin: true },
    { role: 'readWrite', db, privileges: [onDb(db, WRITE_ACTIONS)], roles: [], builtin: true },
    { role: 'userAdmin', db, privileges: [onDb(db, USER_ADMIN_ACTIONS)], roles: [], builtin: true },
    { role: 'dbOwner', db, privileges: [onDb(db, [...WRITE_ACTIONS, ...USER_ADMIN_ACTIONS, 'dropDatabase'])], roles: [], builtin: true },
  ];
}

/** Built-in roles that exist only on admin. */
const ADMIN_ROLES: RoleDef[] = [
  { role: 'clusterMonitor', db: 'admin', privileges: [cluster(CLUSTER_MONITOR_ACTIONS), onDb('config', ['find']), onDb('local', ['find'])], roles: [], builtin: true },
  { role: 'hostManager', db: 'admin', privileges: [cluster(HOST_MANAGER_ACTIONS)], roles: [], builtin: true },
  { role: 'clusterManager', db: 'admin', privileges: [cluster(CLUSTER_MANAGER_ACTIONS), anyNormalDb(['enableSharding'])], roles: [], builtin: true },
  {
    role: 'clusterAdmin', db: 'admin', privileges: [cluster(['dropDatabase'])],
    roles: [{ role: 'clusterManager', db: 'admin' }, { role: 'clusterMonitor', db: 'admin' }, { role: 'hostManager', db: 'admin' }], builtin: true,
  },
  { role: 'readAnyDatabase', db: 'admin', privileges: [anyNormalDb(READ_ACTIONS), cluster(['listDatabases'])], roles: [], builtin: true },
  { role: 'readWriteAnyDatabase', db: 'admin', privileges: [anyNormalDb(WRITE_ACTIONS), cluster(['listDatabases'])], roles: [], builtin: true },
  { role: 'userAdminAnyDatabase', db: 'admin', privileges: [anyNormalDb(USER_ADMIN_ACTIONS), cluster(['authSchemaUpgrade', 'invalidateUserCache', 'listDatabases'])], roles: [], builtin: true },
  { role: 'dbAdminAnyDatabase', db: 'admin', privileges: [anyNormalDb(['collStats', 'dbStats', 'dropCollection', 'dropDatabase', 'createCollection', 'createIndex', 'dropIndex', 'listCollections', 'listIndexes'])], roles: [], builtin: true },
  {
    role: 'root', db: 'admin', privileges: [anyNormalDb([...WRITE_ACTIONS, 'dropDatabase']), cluster(['validate'])],
    roles: [
      { role: 'readWriteAnyDatabase', db: 'admin' }, { role: 'dbAdminAnyDatabase', db: 'admin' },
      { role: 'userAdminAnyDatabase', db: 'admin' }, { role: 'clusterAdmin', db: 'admin' },
    ],
    builtin: true,
  },
  // The internal role: everything, impersonate included (builtin_roles.yml __system: anyResource anyAction).
  { role: '__system', db: 'admin', privileges: [{ resource: { anyResource: true }, actions: ['anyAction'] }], roles: [], builtin: true },
];

function roleKey(r: RoleName): string {
  return `${r.db}.${r.role}`;
}

export class AuthRegistry {
  private readonly users = new Map<string, UserDef>();
  private readonly customRoles = new Map<string, RoleDef>();
  private readonly privilegeCache = new Map<string, Privilege[]>();

  userKey(user: string, db: string): string {
    return `${user}@${db}`;
  }

  getUser(user: string, db: string): UserDef | undefined {
    return this.users.get(this.userKey(user, db));
  }

  listUsers(db?: string): UserDef[] {
    return [...this.users.values()].filter((u) => db === undefined || u.db === db);
  }

  getRole(name: RoleName): RoleDef | undefined {
    if (name.db === 'admin') {
      const builtin = ADMIN_ROLES.find((r) => r.role === name.role);
      if (builtin) return builtin;
    }
    const perDb = dbRoles(name.db).find((r) => r.role === name.role);
    if (perDb) return perDb;
    return this.customRoles.get(roleKey(name));
  }

  createUser(user: string, db: string, password: string, roles: RoleName[], mechanisms = ['SCRAM-SHA-1', 'SCRAM-SHA-256']): UserDef {
    if (this.users.has(this.userKey(user, db))) {
      throw new CommandError(51003, 'Location51003', `User "${user}@${db}" already exists`);
    }
    for (const r of roles) this.assertRoleExists(r);
    const credentials: UserDef['credentials'] = {};
    for (const m of mechanisms) {
      if (m !== 'SCRAM-SHA-1' && m !== 'SCRAM-SHA-256') {
        throw new CommandError(2, 'BadValue', `Unknown auth mechanism '${m}'`);
      }
      credentials[m] = makeScramCredentials(user, password, m);
    }
    const def: UserDef = { user, db, roles: [...roles], credentials, mechanisms: [...mechanisms], userId: cryptoRandomUuid() };
    this.users.set(this.userKey(user, db), def);
    this.privilegeCache.clear();
    return def;
  }

  dropUser(user: string, db: string): void {
    if (!this.users.delete(this.userKey(user, db))) {
      throw new CommandError(11, 'UserNotFound', `User '${user}@${db}' not found`);
    }
    this.privilegeCache.clear();
  }

  grantRoles(user: string, db: string, roles: RoleName[]): void {
    const def = this.getUser(user, db);
    if (!def) throw new CommandError(11, 'UserNotFound', `Could not find user "${user}" for db "${db}"`);
    for (const r of roles) {
      this.assertRoleExists(r);
      if (!def.roles.some((x) => x.role === r.role && x.db === r.db)) def.roles.push(r);
    }
    this.privilegeCache.clear();
  }

  createRole(def: Omit<RoleDef, 'builtin'>): void {
    if (this.getRole(def)) {
      throw new CommandError(51002, 'Location51002', `Role "${def.role}@${def.db}" already exists`);
    }
    for (const r of def.roles) this.assertRoleExists(r);
    this.customRoles.set(roleKey(def), { ...def, builtin: false });
    this.privilegeCache.clear();
  }

  /**
   * updateRole (user_management_commands.cpp): privileges and roles, where given, replace the role's own;
   * a built-in role cannot be changed.
   */
  updateRole(name: RoleName, update: { privileges?: Privilege[]; roles?: RoleName[] }): void {
    const def = this.getRole(name);
    if (!def) throw new CommandError(31, 'RoleNotFound', `Role ${name.role}@${name.db} not found`);
    if (def.builtin) throw new CommandError(2, 'BadValue', `Cannot update built-in role: ${name.role}@${name.db}`);
    for (const r of update.roles ?? []) this.assertRoleExists(r);
    this.customRoles.set(roleKey(name), { ...def, ...(update.privileges ? { privileges: update.privileges } : {}), ...(update.roles ? { roles: update.roles } : {}) });
    this.privilegeCache.clear();
  }

  private assertRoleExists(r: RoleName): void {
    if (!this.getRole(r)) throw new CommandError(31, 'RoleNotFound', `Could not find role: ${r.role}@${r.db}`);
  }

  /** All privileges of a user, roles resolved transitively (cached until users or roles change). */
  privilegesOf(user: string, db: string): Privilege[] {
    const key = this.userKey(user, db);
    const cached = this.privilegeCache.get(key);
    if (cached) return cached;
    const def = this.getUser(user, db);
    const out: Privilege[] = [];
    const seen = new Set<string>();
    const visit = (r: RoleName): void => {
      const k = roleKey(r);
      if (seen.has(k)) return;
      seen.add(k);
      const role = this.getRole(r);
      if (!role) return;
      out.push(...role.privileges);
      role.roles.forEach(visit);
    };
    def?.roles.forEach(visit);
    this.privilegeCache.set(key, out);
    return out;
  }

  /** Resolved role names of a user (for usersInfo and connectionStatus). */
  rolesOf(user: string, db: string): RoleName[] {
    return this.getUser(user, db)?.roles ?? [];
  }
}

function cryptoRandomUuid(): string {
  return globalThis.crypto.randomUUID();
}

/** Does the privilege's resource cover the requested one? (src/mongo/db/auth/resource_pattern.h matching). */
function resourceCovers(have: Resource, want: Resource): boolean {
  if ('anyResource' in have) return true;
  if ('cluster' in want) return 'cluster' in have;
  if ('cluster' in have || 'anyResource' in want) return false;
  const w = want as { db: string; collection: string };
  const h = have as { db: string; collection: string };
  // anyNormalResource ({db:"", collection:""}) covers every non-system collection of every database.
  if (h.db === '' && h.collection === '') return !w.collection.startsWith('system.');
  if (h.db !== w.db) return false;
  if (h.collection === '') return !w.collection.startsWith('system.');
  return h.collection === w.collection;
}

export function hasPrivilege(privileges: Privilege[], resource: Resource, action: string): boolean {
  return privileges.some((p) => resourceCovers(p.resource, resource) && (p.actions.includes(action) || p.actions.includes('anyAction')));
}
