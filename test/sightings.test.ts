/**
 * Sightings (src/pass/sightings.ts) and the CLI's file store (src/adapters/sightings-file.ts): consecutive
 * sightings and their reset, the clients remembered for cursor-only sessions, and a state file that concurrent
 * runs neither corrupt nor lose updates of.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { emptyFacts, type SessionFacts } from '../src/pass/facts.ts';
import type { SightingsState } from '../src/pass/ports.ts';
import { IDENTITY_RETENTION_MS, PassSightings, recordPass } from '../src/pass/sightings.ts';
import { defaultStatePath, FileSightings } from '../src/adapters/sightings-file.ts';
import { ConfigError, ReaperError } from '../src/util/errors.ts';

const T0 = Date.UTC(2026, 0, 5, 9, 0, 0);
const ID = '9f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f';
const UID = 'a'.repeat(64);

function session(overrides: Partial<SessionFacts> = {}): SessionFacts {
  return Object.assign(emptyFacts('session'), { sessionId: ID, uid: UID, holdsNothing: false, hasTransaction: true, appName: 'orders', client: '10.0.0.5:5000', clientDriver: 'nodejs 7.9.0' }, overrides);
}

/** The record as the next pass sees it, sightings applied. */
function seen(state: SightingsState | null, f: SessionFacts, now: number): SessionFacts {
  new PassSightings(state, now).apply(f);
  return f;
}

describe('sightings', () => {
  test('count consecutive passes that see a record holding something, with the time since the first', () => {
    const s1 = recordPass(null, [seen(null, session(), T0)], T0);
    const f2 = seen(s1, session(), T0 + 300_000);
    assert.deepEqual([f2.sightings, f2.seenForSeconds], [2, 300]);
    const s2 = recordPass(s1, [f2], T0 + 300_000);
    const f3 = seen(s2, session(), T0 + 600_000);
    assert.deepEqual([f3.sightings, f3.seenForSeconds], [3, 600]);
  });

  test('a pass that does not see it holding something ends the run; the next sighting is a first one', () => {
    const s1 = recordPass(null, [session()], T0);
    const s2 = recordPass(s1, [session({ holdsNothing: true, hasTransaction: false })], T0 + 300_000);
    assert.equal(seen(s2, session(), T0 + 600_000).sightings, 1);
    const s3 = recordPass(s1, [], T0 + 300_000);
    assert.equal(seen(s3, session(), T0 + 600_000).sightings, 1, 'absent from a pass: the run ends too');
  });

  test('a record that holds nothing has 0 sightings; a sessionless operation is keyed by its opid', () => {
    assert.equal(seen(null, session({ holdsNothing: true }), T0).sightings, 0);
    const op = Object.assign(emptyFacts('operation'), { opid: '4242', opCount: 1, longestOpSeconds: 400 });
    const s1 = recordPass(null, [seen(null, op, T0)], T0);
    assert.equal(seen(s1, Object.assign(emptyFacts('operation'), { opid: '4242' }), T0 + 60_000).sightings, 2);
    assert.equal(seen(s1, Object.assign(emptyFacts('operation'), { opid: '4243' }), T0 + 60_000).sightings, 1);
  });

  test('a sessionless operation is its opid on its member: the same opid on a secondary and on its primary are two runs', () => {
    const SEC = 'shard1-b:27018';
    const PRI = 'shard1-a:27018';
    const op = (member: string, appName: string) => Object.assign(emptyFacts('operation'), { opid: 'shard1:5', opCount: 1, members: [member], appName });
    // Pass 1 sees the secondary's operation; pass 2 the primary's with the same opid: a first sighting, not a second.
    const s1 = recordPass(null, [seen(null, op(SEC, 'reports'), T0)], T0);
    const onPrimary = seen(s1, op(PRI, 'orders'), T0 + 60_000);
    assert.equal(onPrimary.sightings, 1, 'another process numbers its operations on its own');
    assert.equal(seen(s1, op(SEC, 'reports'), T0 + 60_000).sightings, 2, 'the same member continues its run');
    const s2 = recordPass(s1, [onPrimary, seen(s1, op(SEC, 'reports'), T0 + 60_000)], T0 + 60_000);
    const entries = Object.entries(s2.entries).map(([k, e]) => [k, e.sightings, e.appName]);
    assert.deepEqual(entries.sort(), [['o:shard1:5@shard1-a:27018', 1, 'orders'], ['o:shard1:5@shard1-b:27018', 2, 'reports']], 'neither run nor client merged');
  });

  test('a state saved with opid-only operation keys: continued where no member is known, not continued on a member', () => {
    const old: SightingsState = { version: 1, pass: 1, savedAtMs: T0, entries: { 'o:shard1:5': { firstSeenMs: T0, lastSeenMs: T0, lastPass: 1, sightings: 1, appName: null, client: null, clientDriver: null } } };
    const op = (members: string[]) => Object.assign(emptyFacts('operation'), { opid: 'shard1:5', opCount: 1, members });
    assert.equal(seen(old, op([]), T0 + 60_000).sightings, 2, 'a standalone, a one-member set, --members primary: the key is unchanged');
    assert.equal(seen(old, op(['shard1-b:27018']), T0 + 60_000).sightings, 1, 'on a member: which one the entry was is unknown, so it starts anew');
  });

  test('the client of a session is recalled for a later pass, for IDENTITY_RETENTION_MS after it was last seen', () => {
    const s1 = recordPass(null, [session()], T0);
    assert.deepEqual(new PassSightings(s1, T0 + 1).lookup(ID, UID), { appName: 'orders', client: '10.0.0.5:5000', clientDriver: 'nodejs 7.9.0' });
    assert.equal(new PassSightings(s1, T0).lookup(ID, 'b'.repeat(64)), undefined, 'the pair is the key');
    // Not seen by later passes: kept while within the retention, then dropped
    const kept = recordPass(s1, [], T0 + IDENTITY_RETENTION_MS);
    assert.equal(new PassSightings(kept, T0).lookup(ID, UID)?.appName, 'orders');
    assert.equal(new PassSightings(recordPass(kept, [], T0 + IDENTITY_RETENTION_MS + 1), T0).lookup(ID, UID), undefined);
    // A later pass that sees no client keeps the one known
    const s2 = recordPass(s1, [session({ appName: null, client: null, clientDriver: null })], T0 + 300_000);
    assert.equal(new PassSightings(s2, T0).lookup(ID, UID)?.appName, 'orders');
  });

  test('a state edited by hand with keys that split more than one way is looked up by the whole key, as written', () => {
    const entry = (appName: string | null) => ({ firstSeenMs: 0, lastSeenMs: T0, lastPass: 1, sightings: 0, appName, client: null, clientDriver: null });
    const state: SightingsState = { version: 1, pass: 1, savedAtMs: T0, entries: { 's:a:b:c': entry('x'), [`s:${ID}:${UID}`]: entry('orders'), [`s:${ID}:${'c'.repeat(64)}`]: entry(null) } };
    const p = new PassSightings(state, T0);
    assert.equal(p.lookup('a:b', 'c')?.appName, 'x');
    assert.equal(p.lookup('a', 'b:c')?.appName, 'x');
    assert.equal(p.lookup(ID, UID)?.appName, 'orders');
    assert.equal(p.lookup(ID, 'c'.repeat(64)), undefined, 'an entry that names no client recalls nothing');
    const clean: SightingsState = { ...state, entries: { [`s:${ID}:${UID}`]: entry('orders'), [`s:${ID}:${'c'.repeat(64)}`]: entry(null), 'o:42': entry('op') } };
    const q = new PassSightings(clean, T0);
    assert.equal(q.lookup(ID, UID)?.appName, 'orders');
    assert.equal(q.lookup(ID, 'c'.repeat(64)), undefined);
    assert.equal(q.lookup('42', ''), undefined, 'an operation\'s entry is no session\'s');
  });
});

describe('the state file', () => {
  const fresh = (): string => join(mkdtempSync(join(tmpdir(), 'sightings-')), 'nested', 'sightings.json');

  test('keeps each cluster apart and reads back what was saved', async () => {
    const store = new FileSightings(fresh());
    assert.equal(await store.load('orders'), null);
    await store.update('orders', (cur) => recordPass(cur, [session()], T0));
    await store.update('billing', (cur) => recordPass(cur, [], T0));
    assert.equal((await store.load('orders'))?.pass, 1);
    assert.deepEqual(Object.keys((await store.load('billing'))!.entries), []);
  });

  test('concurrent updates are all applied, none lost or torn, and no temporary file is left', async () => {
    const path = fresh();
    // Separate store objects, as separate runs would have: only the file's lock keeps them apart.
    await Promise.all(Array.from({ length: 8 }, (_, i) => new FileSightings(path).update('orders', (cur) => {
      const base = recordPass(cur, [], T0 + i);
      base.entries[`o:${i}`] = { firstSeenMs: T0, lastSeenMs: T0, lastPass: base.pass, sightings: 1, appName: 'a', client: null, clientDriver: null };
      // Entries other updates added survive: each update sees the one before it.
      return base;
    })));
    const state = (await new FileSightings(path).load('orders'))!;
    assert.equal(state.pass, 8);
    assert.deepEqual(Object.keys(state.entries).sort(), ['o:0', 'o:1', 'o:2', 'o:3', 'o:4', 'o:5', 'o:6', 'o:7']);
    assert.deepEqual(readdirSync(join(path, '..')), ['sightings.json']);
  });

  test('a file that is not a sightings file is refused with what to do, not overwritten', async () => {
    const path = fresh();
    const store = new FileSightings(path);
    await store.update('orders', (cur) => recordPass(cur, [], T0));
    writeFileSync(path, '{"version": 1, "clusters": {"orders": {"version": 1}}');
    await assert.rejects(store.load('orders'), (e: Error) => e instanceof ReaperError && e.message.includes(`state file ${path} is not valid JSON`) && /move it away/.test(e.message));
    writeFileSync(path, '{"version": 1, "clusters": {"orders": {"version": 1}}}');
    await assert.rejects(store.update('orders', (cur) => recordPass(cur, [], T0)), /the state of cluster "orders" is invalid \("pass" is not a whole number\)/);
    assert.equal(readFileSync(path, 'utf8'), '{"version": 1, "clusters": {"orders": {"version": 1}}}');
  });

  test('the default path follows XDG_STATE_HOME, else ~/.local/state; neither is an error naming --state', () => {
    assert.equal(defaultStatePath({ XDG_STATE_HOME: '/x/state', HOME: '/home/u' }), '/x/state/mongodb-session-reaper/sightings.json');
    assert.equal(defaultStatePath({ XDG_STATE_HOME: 'relative', HOME: '/home/u' }), '/home/u/.local/state/mongodb-session-reaper/sightings.json');
    assert.throws(() => defaultStatePath({}), (e: Error) => e instanceof ConfigError && /pass --state FILE/.test(e.message));
  });
});
