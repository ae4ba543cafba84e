/**
 * Sightings across passes: what earlier passes of a cluster saw of each candidate (a session or sessionless
 * operation holding something: a running operation, an open transaction, a cursor) and of each session's
 * client. Pure: the stores (ports.ts SightingsStore) only load and replace the state this module computes.
 *
 *  - `sightings` / `seenForSeconds` (facts.ts): how many consecutive passes, this one included, saw the record
 *    holding something, and for how long. A rule can then wait for a second sighting before killing, so that
 *    a pass started in a transient spike (an application stalled for a minute) does not kill what the next
 *    pass would have found back at work.
 *  - identity (the IdentitySightings hook, ports.ts): a session seen only through its idle cursors shows no
 *    client ($currentOp idleCursor documents carry no appName and no client: jstests/core/currentop_cursors.js);
 *    the client an earlier pass saw running its operations is recalled for it.
 *
 * Sessions that hold nothing and show no client (the bulk of a $listSessions listing) are not kept: a million
 * idle sessions cost no state.
 */
import { recordKey, type SessionFacts } from './facts.ts';
import type { ClientIdentity, IdentitySightings, Sighting, SightingsState, SightingsStore } from './ports.ts';

/**
 * How long a session's client is remembered after the last pass that saw the session: twice the server's
 * default logical session timeout (localLogicalSessionTimeoutMinutes, default kLogicalSessionDefaultTimeout =
 * Minutes(30) in the server's logical session cache). A session unused for that long has expired on the server, and its cursors
 * with it (the logical session cache's reaper kills the cursors of expired sessions), so nothing is left to
 * recognise.
 */
export const IDENTITY_RETENTION_MS = 60 * 60_000;

/**
 * At most this many entries per cluster are kept, the most recently seen first. Our bound: an entry is about
 * 250 bytes of JSON, so the state stays under ~50 MB (a few MB compressed in DynamoDB); a cluster with more
 * sessions holding something at once than this loses the oldest entries' memory (their next sighting counts
 * as a first one, which delays a kill rather than causing one).
 */
export const MAX_SIGHTINGS = 200_000;

function sessionKey(id: string, uid: string): string {
  return recordKey({ target: 'session', sessionId: id, uid, opid: '', members: [] });
}

/** A record is a candidate, one whose sightings count, when it holds something. */
function holdsSomething(f: Pick<SessionFacts, 'target' | 'holdsNothing'>): boolean {
  return f.target === 'operation' || !f.holdsNothing;
}

/**
 * The one rule of consecutiveness: a candidate seen by the previous recorded pass continues its run; one the
 * previous pass did not see holding something starts a new run of 1 now.
 */
function continued(state: SightingsState | null, old: Sighting | undefined, now: number): { sightings: number; firstSeenMs: number } {
  if (state && old && old.sightings > 0 && old.lastPass === state.pass) return { sightings: old.sightings + 1, firstSeenMs: old.firstSeenMs };
  return { sightings: 1, firstSeenMs: now };
}

/** Checks what a store read back: a state file edited by hand or written by another version is refused, not guessed at. */
export function checkSightingsState(value: unknown): string | null {
  const s = value as Partial<SightingsState> | null;
  if (!s || typeof s !== 'object') return 'not an object';
  if (s.version !== 1) return `version ${JSON.stringify(s.version)} is not 1`;
  if (!Number.isInteger(s.pass) || (s.pass as number) < 0) return '"pass" is not a whole number';
  if (typeof s.savedAtMs !== 'number') return '"savedAtMs" is not a number';
  if (!s.entries || typeof s.entries !== 'object' || Array.isArray(s.entries)) return '"entries" is not an object';
  for (const [key, e] of Object.entries(s.entries)) {
    if (!e || typeof e.sightings !== 'number' || typeof e.lastPass !== 'number' || typeof e.firstSeenMs !== 'number' || typeof e.lastSeenMs !== 'number') {
      return `entry ${JSON.stringify(key)} lacks firstSeenMs, lastSeenMs, lastPass or sightings`;
    }
  }
  return null;
}

/** What one pass reads of the state loaded before it: the IdentitySightings hook and the sightings facts. */
export class PassSightings implements IdentitySightings {
  /**
   * uid -> session id -> the entry, for the entries that name a client: lookup is asked once per listed session
   * (most of them never seen holding anything), and two Map probes with the strings it is given cost less than
   * building each one's key and probing the state's entries object. Built on the first lookup; null when a key
   * does not split into one id and uid (then lookup builds the key, as recordKey does).
   */
  #identities: Map<string, Map<string, Sighting>> | null | undefined;

  constructor(private readonly state: SightingsState | null, private readonly now: number) {}

  lookup(sessionId: string, uid: string): ClientIdentity | undefined {
    if (!this.state) return undefined;
    if (this.#identities === undefined) this.#identities = identitiesOf(this.state);
    const e = this.#identities ? this.#identities.get(uid)?.get(sessionId) : this.state.entries[sessionKey(sessionId, uid)];
    if (!e || (e.appName === null && e.client === null && e.clientDriver === null)) return undefined;
    return { appName: e.appName, client: e.client, clientDriver: e.clientDriver };
  }

  /** Sets `sightings` and `seenForSeconds` of a record of this pass (0 and 0 for one holding nothing). */
  apply(f: SessionFacts): void {
    if (!holdsSomething(f)) return;
    const run = continued(this.state, this.state?.entries[recordKey(f)], this.now);
    f.sightings = run.sightings;
    f.seenForSeconds = Math.max(0, (this.now - run.firstSeenMs) / 1000);
  }
}

/**
 * The session entries of a state that name a client (any of appName, client, clientDriver), by uid and id; null
 * when a session key has more than the two colons of "s:<id>:<uid>" (ids are UUIDs and uids hex, so only a state
 * written by hand can), since such a key could be split more than one way.
 */
function identitiesOf(state: SightingsState): Map<string, Map<string, Sighting>> | null {
  const byUid = new Map<string, Map<string, Sighting>>();
  for (const key in state.entries) {
    const e = state.entries[key]!;
    if (!key.startsWith('s:')) continue;
    const cut = key.indexOf(':', 2);
    if (cut < 0 || key.indexOf(':', cut + 1) >= 0) return null;
    if (e.appName === null && e.client === null && e.clientDriver === null) continue;
    const id = key.slice(2, cut);
    const uid = key.slice(cut + 1);
    let byId = byUid.get(uid);
    if (!byId) byUid.set(uid, (byId = new Map()));
    byId.set(id, e);
  }
  return byUid;
}

/**
 * The state after a pass: `prev` is the state as the store holds it now (re-read under its lock, so possibly
 * saved by another pass since this one loaded it), `records` the pass's records (sessions with activity and
 * sessionless operations), `now` the pass's inventory time. Entries not seen by this pass keep their client
 * for IDENTITY_RETENTION_MS and lose their run of sightings.
 */
export function recordPass(prev: SightingsState | null, records: Iterable<SessionFacts>, now: number): SightingsState {
  const pass = (prev?.pass ?? 0) + 1;
  const entries: Record<string, Sighting> = {};
  for (const f of records) {
    const holds = holdsSomething(f);
    const known = f.appName !== null || f.client !== null || f.clientDriver !== null;
    if (!holds && !known) continue;
    const key = recordKey(f);
    const old = prev?.entries[key];
    const run = holds ? continued(prev, old, now) : null;
    entries[key] = {
      firstSeenMs: run ? run.firstSeenMs : 0,
      lastSeenMs: now,
      lastPass: run ? pass : (old?.lastPass ?? 0),
      sightings: run ? run.sightings : 0,
      appName: f.appName ?? old?.appName ?? null,
      client: f.client ?? old?.client ?? null,
      clientDriver: f.clientDriver ?? old?.clientDriver ?? null,
    };
  }
  if (prev) {
    for (const [key, old] of Object.entries(prev.entries)) {
      if (key in entries || now - old.lastSeenMs > IDENTITY_RETENTION_MS) continue;
      if (old.appName === null && old.client === null && old.clientDriver === null) continue;
      entries[key] = { ...old, firstSeenMs: 0, sightings: 0 };
    }
  }
  return { version: 1, pass, savedAtMs: now, entries: capped(entries) };
}

function capped(entries: Record<string, Sighting>): Record<string, Sighting> {
  const keys = Object.keys(entries);
  if (keys.length <= MAX_SIGHTINGS) return entries;
  keys.sort((a, b) => entries[b]!.lastSeenMs - entries[a]!.lastSeenMs);
  const kept: Record<string, Sighting> = {};
  for (const k of keys.slice(0, MAX_SIGHTINGS)) kept[k] = entries[k]!;
  return kept;
}

/**
 * Sightings kept in the process: for runs without a durable store (a Lambda function without
 * REAPER_STATE_TABLE keeps them for as long as its container lives, a demo, tests).
 */
export class InMemorySightings implements SightingsStore {
  readonly where = 'memory of this process';
  readonly #states = new Map<string, SightingsState>();

  async load(cluster: string): Promise<SightingsState | null> {
    return this.#states.get(cluster) ?? null;
  }

  async update(cluster: string, apply: (current: SightingsState | null) => SightingsState): Promise<void> {
    this.#states.set(cluster, apply(this.#states.get(cluster) ?? null));
  }
}
