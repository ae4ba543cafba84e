/**
 * Replica-set membership: the set's configuration, which member is primary, each member's topologyVersion,
 * and what a member says about the set in hello, replSetGetStatus and replSetGetConfig.
 *
 * Sources: src/mongo/db/repl/topology_coordinator.cpp (fillHelloForReplSet: hidden and delayed members are left
 * out of hosts, priority-0 members are passives, electionId only on the primary; prepareStatusResponse),
 * src/mongo/db/repl/hello_response.cpp (field order), src/mongo/db/repl/replication_info.cpp (the awaitable
 * hello), the SDAM spec's server-monitoring.md (topologyVersion: processId changes at every start, counter on
 * every change of what hello says).
 *
 * Modelled: the members share their data, so replication is immediate and every member reports the same
 * lastWrite. A stopped member is down: the others keep it in their configuration, and while the primary is
 * down nobody names a primary. There are no automatic elections: stepUp() makes another member primary.
 */
import { Long, ObjectId, Timestamp, type Document } from 'bson';
import type { Clock } from './clock.ts';
import { CommandError } from './errors.ts';
import type { Mongod } from './mongod.ts';

export interface MemberOptions {
  /** Hidden members are absent from hello's hosts; the server requires priority 0 for them. */
  hidden?: boolean;
  /** Default 1, or 0 for a hidden member. 0 makes a passive member (listed under `passives`). */
  priority?: number;
  /** Default 1. */
  votes?: number;
  /** Replica-set tags, for read preferences with tag sets ({dc: "east"}). */
  tags?: Record<string, string>;
}

export interface MemberConfig {
  readonly _id: number;
  readonly host: string;
  readonly hidden: boolean;
  readonly priority: number;
  readonly votes: number;
  readonly arbiterOnly: false;
  readonly tags: Readonly<Record<string, string>>;
}

interface TopologyVersion {
  processId: ObjectId;
  counter: number;
}

/** MemberState codes and names (src/mongo/db/repl/member_state.h). */
const STATE = { PRIMARY: [1, 'PRIMARY'], SECONDARY: [2, 'SECONDARY'], DOWN: [8, '(not reachable/healthy)'] } as const;

/** heartbeatIntervalMillis default 2000 (repl_set_config.idl settings.heartbeatIntervalMillis). */
const HEARTBEAT_INTERVAL_MILLIS = 2000;
/** electionTimeoutMillis default 10000 (repl_set_config.idl settings.electionTimeoutMillis). */
const ELECTION_TIMEOUT_MILLIS = 10_000;

export function memberConfigs(hosts: string[], options: MemberOptions[]): MemberConfig[] {
  return hosts.map((host, i) => {
    const o = options[i] ?? {};
    const hidden = o.hidden === true;
    const priority = o.priority ?? (hidden ? 0 : 1);
    // repl_set_config.cpp / member_config.cpp validation: "priority must be 0 when hidden=true".
    if (hidden && priority !== 0) throw new Error(`member ${i}: a hidden member must have priority 0 (got ${priority}); leave priority out or set it to 0`);
    if (!Number.isFinite(priority) || priority < 0 || priority > 1000) throw new Error(`member ${i}: priority must be between 0 and 1000, got ${priority}`);
    const votes = o.votes ?? 1;
    if (votes !== 0 && votes !== 1) throw new Error(`member ${i}: votes must be 0 or 1, got ${votes}`);
    const tags = { ...o.tags };
    for (const [k, v] of Object.entries(tags)) if (typeof v !== 'string') throw new Error(`member ${i}: tag "${k}" must have a string value`);
    return { _id: i, host, hidden, priority, votes, arbiterOnly: false, tags };
  });
}

/** What the members of one set share about the set, and each member's view of it. */
export class ReplicaSetTopology {
  /** setVersion / config version: the configuration never changes here. */
  readonly configVersion = 1;
  term = 1;
  private primaryIndex: number;
  private readonly nodes: (Mongod | null)[];
  private readonly versions: TopologyVersion[];
  private readonly waiters: Set<() => void>[];
  private opTimeSecs: number;
  private opTimeInc = 1;
  private lastWriteMs: number;
  private electionMs: number;

  /**
   * @param streaming whether hello carries topologyVersion (and so lets drivers stream it). The single-node
   *   stand-in leaves it out, so the driver keeps polling with one monitoring connection, as it always has.
   */
  constructor(readonly name: string, readonly members: MemberConfig[], private readonly clock: Clock, readonly streaming = true) {
    if (!/^[^/\s,]+$/.test(name)) throw new Error(`replica set name "${name}" is not valid: use letters, digits, "-" or "_" (no "/", "," or spaces)`);
    if (members.length === 0) throw new Error('a replica set needs at least one member');
    const electable = members.findIndex((m) => !m.hidden && m.priority > 0);
    if (electable < 0) throw new Error('a replica set needs a member that can be primary: not hidden, priority > 0');
    this.primaryIndex = electable;
    this.nodes = members.map(() => null);
    this.versions = members.map(() => ({ processId: new ObjectId(), counter: 0 }));
    this.waiters = members.map(() => new Set());
    const now = clock.now();
    this.opTimeSecs = Math.floor(now / 1000);
    this.lastWriteMs = now;
    this.electionMs = now;
  }

  // ---- membership --------------------------------------------------------------------------------

  /** A member came up: a new processId (as a restarted mongod has), and the others' view changes. */
  attach(index: number, node: Mongod): void {
    this.nodes[index] = node;
    this.versions[index] = { processId: new ObjectId(), counter: 0 };
    if (index === this.primaryIndex) this.changedExcept(index);
  }

  detach(index: number): void {
    this.nodes[index] = null;
    this.wake(index);
    if (index === this.primaryIndex) this.changedExcept(index);
  }

  node(index: number): Mongod | null {
    return this.nodes[index];
  }

  /** The members that are up, in configuration order. */
  runningNodes(): Mongod[] {
    return this.nodes.filter((n): n is Mongod => n !== null);
  }

  /** The primary, if it is up. */
  primary(): number | null {
    return this.nodes[this.primaryIndex] ? this.primaryIndex : null;
  }

  isPrimary(index: number): boolean {
    return this.primary() === index;
  }

  /** An election won by `index` (replSetStepUp): a new term, a new electionId, everyone's hello changes. */
  stepUp(index: number): void {
    const m = this.members[index];
    if (!m) throw new Error(`no member ${index}: the set has members 0..${this.members.length - 1}`);
    if (!this.nodes[index]) throw new Error(`member ${index} (${m.host}) is stopped: start it before it can become primary`);
    if (m.hidden || m.priority === 0) throw new Error(`member ${index} (${m.host}) cannot be primary: it is ${m.hidden ? 'hidden' : 'priority 0'}`);
    if (index === this.primaryIndex) return;
    this.primaryIndex = index;
    this.term++;
    this.electionMs = this.clock.now();
    this.changedExcept(-1);
  }

  /** OID::fromTerm (src/mongo/bson/oid.cpp): 0x7fffffff then the term as 8 big-endian bytes. */
  electionId(): ObjectId {
    return new ObjectId(`7fffffff${this.term.toString(16).padStart(16, '0')}`);
  }

  /** A write on the primary advances the set's last optime (every member has it at once). */
  noteWrite(): void {
    const now = this.clock.now();
    const secs = Math.floor(now / 1000);
    if (secs > this.opTimeSecs) {
      this.opTimeSecs = secs;
      this.opTimeInc = 1;
    } else {
      this.opTimeInc++;
    }
    this.lastWriteMs = now;
  }

  // ---- topologyVersion and the awaitable hello ----------------------------------------------------

  topologyVersion(index: number): Document {
    const v = this.versions[index];
    return { processId: v.processId, counter: Long.fromNumber(v.counter) };
  }

  /**
   * awaitHelloResponse (replication_coordinator_impl.cpp): answer at once if the client's processId is not
   * ours or its counter is behind; otherwise wait until the counter moves or maxAwaitTimeMS passes (real time:
   * this is a wait for an event), or the operation is interrupted.
   */
  async awaitTopologyChange(index: number, client: { processId: unknown; counter: number }, maxAwaitTimeMS: number, interrupted: Promise<unknown>): Promise<void> {
    const v = this.versions[index];
    if (!(client.processId instanceof ObjectId) || !client.processId.equals(v.processId)) return;
    if (client.counter > v.counter) {
      throw new CommandError(31382, 'Location31382', `Received a topology version with counter: ${client.counter} which is greater than the server topology version counter: ${v.counter}`);
    }
    if (client.counter < v.counter) return;
    let timer: NodeJS.Timeout | undefined;
    let wake!: () => void;
    const changed = new Promise<void>((resolve) => (wake = resolve));
    this.waiters[index].add(wake);
    try {
      await Promise.race([changed, interrupted, new Promise<void>((resolve) => (timer = setTimeout(resolve, maxAwaitTimeMS)))]);
    } finally {
      clearTimeout(timer);
      this.waiters[index].delete(wake);
    }
  }

  private changedExcept(index: number): void {
    for (let i = 0; i < this.members.length; i++) {
      if (i === index || !this.nodes[i]) continue;
      this.versions[i].counter++;
      this.wake(i);
    }
  }

  private wake(index: number): void {
    for (const w of [...this.waiters[index]]) w();
  }

  // ---- what a member says ------------------------------------------------------------------------------

  private opTime(): Document {
    return { ts: new Timestamp({ t: this.opTimeSecs, i: this.opTimeInc }), t: Long.fromNumber(this.term) };
  }

  /** The replica-set part of hello, in hello_response.cpp's order. */
  helloFields(index: number, legacy: boolean): Document {
    const hosts: string[] = [];
    const passives: string[] = [];
    for (const m of this.members) {
      if (m.hidden) continue;
      (m.priority > 0 ? hosts : passives).push(m.host);
    }
    const self = this.members[index];
    const primary = this.primary();
    const isPrimary = primary === index;
    const doc: Document = {};
    if (this.streaming) doc.topologyVersion = this.topologyVersion(index);
    doc.hosts = hosts;
    if (passives.length) doc.passives = passives;
    doc.setName = this.name;
    doc.setVersion = this.configVersion;
    doc[legacy ? 'ismaster' : 'isWritablePrimary'] = isPrimary;
    doc.secondary = !isPrimary;
    if (primary !== null) doc.primary = this.members[primary].host;
    if (self.priority === 0) doc.passive = true;
    if (self.hidden) doc.hidden = true;
    if (Object.keys(self.tags).length) doc.tags = { ...self.tags };
    doc.me = self.host;
    if (isPrimary) doc.electionId = this.electionId();
    const date = new Date(this.lastWriteMs);
    doc.lastWrite = { opTime: this.opTime(), lastWriteDate: date, majorityOpTime: this.opTime(), majorityWriteDate: date };
    return doc;
  }

  /** replSetGetConfig's `config` (repl_set_config.cpp toBSON, with the defaults a fresh rs.initiate leaves). */
  config(): Document {
    return {
      _id: this.name, version: this.configVersion, term: Long.fromNumber(this.term),
      members: this.members.map((m) => ({
        _id: m._id, host: m.host, arbiterOnly: m.arbiterOnly, buildIndexes: true, hidden: m.hidden, priority: m.priority,
        tags: { ...m.tags }, secondaryDelaySecs: Long.fromNumber(0), votes: m.votes,
      })),
      protocolVersion: Long.fromNumber(1), writeConcernMajorityJournalDefault: true,
      settings: {
        chainingAllowed: true, heartbeatIntervalMillis: HEARTBEAT_INTERVAL_MILLIS, heartbeatTimeoutSecs: 10,
        electionTimeoutMillis: ELECTION_TIMEOUT_MILLIS, catchUpTimeoutMillis: -1, catchUpTakeoverDelayMillis: 30_000,
        getLastErrorModes: {}, getLastErrorDefaults: { w: 1, wtimeout: 0 }, replicaSetId: this.versions[0].processId,
      },
    };
  }

  /** replSetGetStatus (topology_coordinator.cpp prepareStatusResponse), the fields monitoring tools read. */
  status(index: number): Document {
    const now = this.clock.now();
    const primary = this.primary();
    const optime = this.opTime();
    const optimeDate = new Date(this.lastWriteMs);
    const stateOf = (i: number) => (!this.nodes[i] ? STATE.DOWN : i === primary ? STATE.PRIMARY : STATE.SECONDARY);
    const voting = this.members.filter((m) => m.votes > 0).length;
    const majority = Math.floor(voting / 2) + 1;
    const members = this.members.map((m, i) => {
      const [state, stateStr] = stateOf(i);
      const up = this.nodes[i] !== null;
      const entry: Document = { _id: m._id, name: m.host, health: up ? 1 : 0, state, stateStr };
      const node = this.nodes[i];
      entry.uptime = node ? Math.floor(Math.max(0, now - node.startedAt) / 1000) : 0;
      entry.optime = up ? optime : { ts: new Timestamp({ t: 0, i: 0 }), t: Long.fromNumber(-1) };
      entry.optimeDate = up ? optimeDate : new Date(0);
      entry.lastAppliedWallTime = up ? optimeDate : new Date(0);
      entry.lastDurableWallTime = up ? optimeDate : new Date(0);
      if (i !== index) {
        entry.lastHeartbeat = new Date(now);
        entry.lastHeartbeatRecv = up ? new Date(now) : new Date(0);
        entry.pingMs = Long.fromNumber(0);
        entry.lastHeartbeatMessage = up ? '' : `Error connecting to ${m.host} :: caused by :: Connection refused`;
      }
      const isSyncing = up && i !== primary && primary !== null;
      entry.syncSourceHost = isSyncing ? this.members[primary].host : '';
      entry.syncSourceId = isSyncing ? primary : -1;
      entry.infoMessage = '';
      if (i === primary) {
        entry.electionTime = new Timestamp({ t: Math.floor(this.electionMs / 1000), i: 1 });
        entry.electionDate = new Date(this.electionMs);
      }
      entry.configVersion = this.configVersion;
      entry.configTerm = this.term;
      if (i === index) entry.self = true;
      return entry;
    });
    const [myState] = stateOf(index);
    return {
      set: this.name, date: new Date(now), myState, term: Long.fromNumber(this.term),
      syncSourceHost: members[index].syncSourceHost, syncSourceId: members[index].syncSourceId,
      heartbeatIntervalMillis: Long.fromNumber(HEARTBEAT_INTERVAL_MILLIS),
      majorityVoteCount: majority, writeMajorityCount: majority, votingMembersCount: voting, writableVotingMembersCount: voting,
      optimes: {
        lastCommittedOpTime: optime, lastCommittedWallTime: optimeDate, readConcernMajorityOpTime: optime,
        appliedOpTime: optime, durableOpTime: optime, lastAppliedWallTime: optimeDate, lastDurableWallTime: optimeDate,
      },
      members,
    };
  }
}

/** One member's handle on its set: what a Mongod needs to answer as that member. */
export class ReplicaMember {
  constructor(readonly topology: ReplicaSetTopology, readonly index: number) {}

  get host(): string {
    return this.topology.members[this.index].host;
  }

  isPrimary(): boolean {
    return this.topology.isPrimary(this.index);
  }
}
