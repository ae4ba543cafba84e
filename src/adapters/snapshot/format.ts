/**
 * The snapshot format: what the cluster looked like to one pass, as the server returned it. A gzip stream
 * (node:zlib) of JSON lines:
 *
 *   {"$snapshot": HEADER}                                   format and version, time, topology, reaper, redaction
 *   {"$section": {"member": "host:port", "source": S}}      S: currentOp, localOps, listLocalSessions or listSessions
 *   RAW DOCUMENT                                            one line each, canonical Extended JSON, redacted
 *   {"$end": {"member", "source", "documents": N}}          with "error" when the listing did not finish
 *   ... one section per member and source ...
 *   {"$trailer": {"sections": N, "documents": N}}           its absence means the file was cut short
 *
 * Documents are recorded raw (not as the reaper's fact records), so facts added to the reaper later apply to
 * old snapshots. Sections are per member: on a replica set of two or more members the pass reads $currentOp
 * and $listLocalSessions on every data-bearing member over a connection of its own (src/adapters/mongodb/
 * members.ts), so each such member has those two sections, and the member the main connection reaches has
 * $listSessions too. The header lists every member with its sections and the coverage the pass discovered
 * (members not read, and why), so a replay tags and reports exactly as the pass did.
 *
 * Through mongos (src/adapters/mongodb/sharded.ts) the main connection's $currentOp (every shard member's
 * documents, each naming its `shard` and `host`) is the router's "currentOp" section; each router's own
 * operations, read on that router alone ($currentOp {localOps: true}), are its "localOps" section, kept apart
 * from the cluster-wide one; each router's $listLocalSessions is its own section. The shard members are listed
 * with their states and no sections, so a replay tags each document with its member's state as the pass did.
 *
 * Version 2 added the members' `state`, `direct` and `sections` and the header's `coverage`. A version 1 file
 * has none of them: each member it lists has all three sections, read over the main connection.
 * docs/snapshots.md describes the format for people; this module is its single definition in code.
 */
import type { Coverage, MemberState } from '../../pass/ports.ts';
import { KEPT_CURRENT_OP_FIELDS, KEPT_LISTING_FIELDS } from './redaction.ts';

export const SNAPSHOT_FORMAT = 'mongodb-session-reaper/snapshot';

/** The format version this code writes. Readers accept every version from OLDEST_READABLE_VERSION up to it. */
export const SNAPSHOT_VERSION = 2;
export const OLDEST_READABLE_VERSION = 1;

/** The tool that writes the snapshot, named in its header (test/snapshot.format.test.ts holds it to package.json). */
export const WRITER_NAME = 'mongodb-session-reaper';
export const WRITER_VERSION = '0.1.0';

export type ListingSource = 'currentOp' | 'listLocalSessions' | 'listSessions';

/** A section's listing: one of the pass's, or "localOps", a router's own $currentOp, replayed as part of currentOp. */
export type SectionSource = ListingSource | 'localOps';

/** Every section kind, in the order a recording writes them. */
export const SECTION_SOURCES: readonly SectionSource[] = ['currentOp', 'localOps', 'listLocalSessions', 'listSessions'];

/** The listing a section's documents belong to. */
export function sectionListing(source: SectionSource): ListingSource {
  return source === 'localOps' ? 'currentOp' : source;
}

/** The order a pass reads the listings in (src/pass/scan.ts), which is the order a snapshot records them in. */
export const SOURCES: readonly ListingSource[] = ['currentOp', 'listLocalSessions', 'listSessions'];

export interface SnapshotMember {
  /** host:port of the member, as it names itself (hello.me) or as the connection reached it. */
  name: string;
  /** The member's hello reply, the fields that describe its role (no $clusterTime, no SASL mechanisms). */
  hello: Record<string, unknown>;
  /** Version 2: its state when the pass discovered it; its documents are tagged with it when `direct`. */
  state?: MemberState | '';
  /**
   * Version 2: read over a direct connection of its own (a replica set of two or more members). Its documents
   * are then tagged with the member and its state, as the live adapter tags them, and the reaper's session on
   * that connection (reaperSessionId) is reported as the reaper's main session.
   */
  direct?: { reaperSessionId: string };
  /** Version 2: the sections recorded for it; absent: the three listings (every version 1 member). */
  sections?: SectionSource[];
  /** Version 2, through mongos: the shard of a shard member. */
  shard?: string;
}

export interface SnapshotHeader {
  format: typeof SNAPSHOT_FORMAT;
  version: number;
  /** "mongodb-session-reaper 0.1.0": the tool and version that wrote it. */
  writer: string;
  /** The pass's "now": the time every idle duration of the snapshot is measured from. */
  takenAt: string;
  takenAtMs: number;
  source: {
    /** The connection string with its credentials removed (src/util/redact.ts). */
    uri: string;
    cluster?: string;
    /** "snapshot" (the command), "run" (run --record) or "lambda" (the function's recording). */
    recordedBy: 'snapshot' | 'run' | 'lambda';
  };
  topology: { kind: 'standalone' | 'replicaSet' | 'mongos'; setName?: string; hosts?: string[] };
  members: SnapshotMember[];
  /**
   * Version 2: what the pass's discovery found (src/pass/ports.ts Coverage), members not read included with
   * why; a replay reports it as the pass did. Absent when the recording port was not asked to discover.
   */
  coverage?: Coverage;
  /**
   * Version 2, through mongos: the documents of the main connection's $currentOp name the shard and member
   * that reported them (`shard`, `host`); a replay tags them with those and the member's state, as the pass did.
   */
  shardTags?: true;
  /** The session the recording connection used: the backtest protects it as the pass did. */
  reaper: { sessionId: string; uid: string; user: string };
  redaction: {
    /** "redacted": values outside the kept fields are markers; "kept": --keep-values (credentials still removed). */
    values: 'redacted' | 'kept';
    kept: { currentOp: string[]; listings: string[] };
  };
}

export interface SectionStart {
  member: string;
  source: SectionSource;
}

export interface SectionEnd extends SectionStart {
  documents: number;
  /** Why the listing did not finish; a section with an error is never used for decisions. */
  error?: string;
}

export interface Trailer {
  sections: number;
  documents: number;
  /**
   * Set when a member read at the start of the recording was no longer read by its end (it failed half-way, or a
   * fallback left it out): what changed. The sections then do not hold one view the pass decided on, and the
   * reader refuses the snapshot for decisions.
   */
  coverageChanged?: string;
}

/** The first key of every line that is not a document. */
export const LINE_KEYS = { header: '$snapshot', section: '$section', end: '$end', trailer: '$trailer' } as const;

/** A header for a snapshot written now by this code (the recorder, a test's excerpt). */
export function snapshotHeader(fields: Pick<SnapshotHeader, 'takenAtMs' | 'source' | 'topology' | 'members' | 'reaper' | 'coverage' | 'shardTags'> & { valuesKept: boolean }): SnapshotHeader {
  const { valuesKept, ...rest } = fields;
  return {
    format: SNAPSHOT_FORMAT, version: SNAPSHOT_VERSION, writer: `${WRITER_NAME} ${WRITER_VERSION}`,
    takenAt: new Date(fields.takenAtMs).toISOString(), ...rest,
    redaction: {
      values: valuesKept ? 'kept' : 'redacted',
      kept: { currentOp: KEPT_CURRENT_OP_FIELDS.map((f) => f.path), listings: KEPT_LISTING_FIELDS.map((f) => f.path) },
    },
  };
}

export function isListingSource(v: unknown): v is ListingSource {
  return typeof v === 'string' && (SOURCES as readonly string[]).includes(v);
}

export function isSectionSource(v: unknown): v is SectionSource {
  return v === 'localOps' || isListingSource(v);
}

/** The listings recorded for a member: its `sections`, or all three (version 1, a member without the field). */
export function memberSections(member: SnapshotMember): readonly SectionSource[] {
  return member.sections ?? SOURCES;
}
