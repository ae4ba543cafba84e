/**
 * The server an end-to-end test talks to: the stand-in, started in-process on a free port, or a real
 * MongoDB when MONGODB_URI is set (a replica-set member started with --setParameter enableTestCommands=1;
 * for the access-control tests, a URI with a root user). Tests reach it only through the official driver.
 */
import { randomBytes } from 'node:crypto';
import type { TestContext } from 'node:test';
import { MongoClient, type MongoClientOptions } from 'mongodb';
import { startStandin, type RunningStandin } from '../src/server.ts';
import type { MongodParams } from '../src/mongod.ts';
import { ManualClock } from '../src/clock.ts';

export const REAL_URI = process.env.MONGODB_URI;

/** One line for the test output saying which server the end-to-end tests ran against. */
export function targetNotice(): string {
  return REAL_URI
    ? 'end-to-end tests run against the real server in MONGODB_URI and against the stand-in'
    : 'MONGODB_URI is not set: end-to-end tests run against the stand-in only (set MONGODB_URI to a replica set with enableTestCommands=1 to run them against a real server too)';
}

export interface Target {
  readonly kind: 'stand-in' | 'real server';
  readonly auth: boolean;
  /** A connection string with administrative rights (root when auth is on). */
  readonly adminUri: string;
  readonly standin: RunningStandin | null;
  /** Creates a user on admin for this test (dropped at stop) and returns its connection string. */
  createUser(name: string, roles: (string | { role: string; db: string })[]): Promise<{ uri: string; user: string }>;
  createRole(role: string, privileges: unknown[]): Promise<string>;
  /** A connected client, closed at stop. */
  client(uri?: string, opts?: MongoClientOptions): Promise<MongoClient>;
  /** The server's time, epoch ms: give it to the reaper as its `now`, so both read one clock. */
  now(): number;
  /**
   * Lets `ms` of the server's time pass: on the stand-in its ManualClock moves, without waiting; a real
   * server's clock cannot be moved, so there (and only there) the test waits for real.
   */
  letTimePass(ms: number): Promise<void>;
  stop(): Promise<void>;
}

export interface TargetOptions {
  auth?: boolean;
  /**
   * The stand-in reads a ManualClock that moves only with letTimePass (default: the system clock, for tests that
   * wait for the server's own timers: transaction expiry, TTL).
   */
  manualClock?: boolean;
  params?: Partial<MongodParams>;
}

const ADMIN = { user: 'admin', password: 'admin-secret' };

/** The targets to run an end-to-end suite against: always the stand-in, and the real server when configured. */
export function targetKinds(): ('stand-in' | 'real server')[] {
  return REAL_URI ? ['stand-in', 'real server'] : ['stand-in'];
}

export async function startTarget(kind: 'stand-in' | 'real server', opts: TargetOptions = {}): Promise<Target> {
  const suffix = randomBytes(3).toString('hex');
  const clients: MongoClient[] = [];
  const users: string[] = [];
  const roles: string[] = [];
  let standin: RunningStandin | null = null;
  let adminUri: string;
  let auth: boolean;
  const clock = kind === 'stand-in' && opts.manualClock ? new ManualClock() : null;
  if (kind === 'stand-in') {
    standin = await startStandin({ ...(clock ? { clock } : {}), params: { auth: opts.auth === true, ...opts.params }, users: opts.auth ? [`${ADMIN.user}:${ADMIN.password}:root`] : [] });
    adminUri = opts.auth ? standin.uriFor(ADMIN.user, ADMIN.password) : standin.uri;
    auth = opts.auth === true;
  } else {
    adminUri = REAL_URI!;
    auth = new URL(REAL_URI!.replace(/^mongodb(\+srv)?:/, 'http:')).username !== '';
  }
  const connect = async (uri: string, o: MongoClientOptions = {}): Promise<MongoClient> => {
    const c = new MongoClient(uri, { serverSelectionTimeoutMS: 5000, ...o });
    await c.connect();
    clients.push(c);
    return c;
  };
  const admin = await connect(adminUri);
  const withCredentials = (user: string, password: string): string => {
    const u = new URL(adminUri.replace(/^mongodb:/, 'http:'));
    u.username = encodeURIComponent(user);
    u.password = encodeURIComponent(password);
    u.searchParams.set('authSource', 'admin');
    return u.toString().replace(/^http:/, 'mongodb:');
  };
  return {
    kind,
    auth,
    adminUri,
    standin,
    async createUser(name, userRoles) {
      const user = `${name}_${suffix}`;
      const password = `pw-${suffix}`;
      await admin.db('admin').command({ createUser: user, pwd: password, roles: userRoles });
      users.push(user);
      return { uri: withCredentials(user, password), user };
    },
    async createRole(role, privileges) {
      const name = `${role}_${suffix}`;
      await admin.db('admin').command({ createRole: name, privileges, roles: [] });
      roles.push(name);
      return name;
    },
    client: (uri = adminUri, o) => connect(uri, o),
    now: () => clock ? clock.now() : Date.now(),
    async letTimePass(ms) {
      if (clock) clock.advance(ms);
      else if (kind === 'real server') await new Promise((r) => setTimeout(r, ms));
      else throw new Error('letTimePass: start the stand-in target with { manualClock: true }');
    },
    async stop() {
      if (kind === 'real server') {
        for (const u of users) await admin.db('admin').command({ dropUser: u }).catch(() => {});
        for (const r of roles) await admin.db('admin').command({ dropRole: r }).catch(() => {});
      }
      for (const c of clients) await c.close(true).catch(() => {});
      await standin?.stop();
    },
  };
}

/** Skips a test that needs a feature only the stand-in has (bulk creation, startup parameters). */
export function standinOnly(t: TestContext, target: Target, why: string): boolean {
  if (target.kind === 'stand-in') return false;
  t.skip(`stand-in only: ${why}`);
  return true;
}

/** Skips a test that needs access control on a server that runs without it. */
export function needsAuth(t: TestContext, target: Target): boolean {
  if (target.auth) return false;
  t.skip('needs access control: MONGODB_URI has no credentials');
  return true;
}
