/**
 * Seeded random $currentOp documents, as BSON bytes, for the differential tests of the readers that must agree
 * with the general decoding (toActivity of BSON.deserialize): the fields toActivity reads (and some it does not),
 * each usually of the type the server writes and sometimes (with probability `wild`) of any other BSON type, in
 * random order, sometimes repeated, nested to a few levels. Every byte comes from the seed, so a failure
 * reproduces from the seed alone. `wild` above 0.1 also brings text and keys the raw reader leaves to the general
 * decoding (non-ASCII, a NUL inside a value, numeric and DBRef keys).
 */
import { Binary, BSON, Decimal128, Double, Int32, Long, ObjectId, Timestamp, UUID } from 'mongodb';
import { prng } from '../../standin/src/prng.ts';
import { NOW } from './current-op-docs.ts';

const ASCII = ['', 'op', 'idleSession', 'idleCursor', 'query', 'getmore', 'command', 'none', 'orders-api', 'conn12', 'Index Build', '10.0.0.1:5000', 'db1:27017', 'shard01:77', 'admin', 'x'.repeat(300)];
// Text the direct reader leaves to the general decoding (non-ASCII) or must carry through (a NUL inside a value).
const ODD_TEXT = ['caf\u00e9', 'a\u0000b', '\u{1f600}'];
// Command keys the direct reader leaves to the general decoding.
const ODD_COMMAND_KEYS = ['0', '$ref', '$id', '__proto__'];
const KEYS = ['type', 'lsid', 'opid', 'active', 'secs_running', 'op', 'ns', 'appName', 'client', 'client_s', 'connectionId', 'desc', 'msg',
  'planSummary', 'queryShapeHash', 'command', 'killPending', 'waitingForLock', 'numYields', 'writeConflicts', 'lockStats',
  'twoPhaseCommitCoordinator', 'clientMetadata', 'effectiveUsers', 'transaction', 'cursor', 'host', 'shard', 'threaded', 'other'];
const NESTED_KEYS: Record<string, string[]> = {
  lsid: ['id', 'uid', 'txnNumber', 'txnUUID'],
  command: ['find', 'aggregate', 'insert', 'getMore', 'createIndexes', '$truncated', 'comment', 'pipeline', '$db', 'collection'],
  originatingCommand: ['find', 'aggregate', 'comment', 'pipeline', '$db'],
  pipeline: ['$match', '$changeStream', '$out', '$merge', '$group'],
  lockStats: ['Global', 'Database', 'Collection', 'Mutex', '2'],
  resource: ['timeAcquiringMicros', 'acquireCount'],
  timeAcquiringMicros: ['r', 'w', 'R', 'W'],
  clientMetadata: ['driver', 'mongos', 'application', 'os'],
  driver: ['name', 'version'],
  mongos: ['client', 'host', 'version'],
  effectiveUser: ['user', 'db'],
  transaction: ['parameters', 'timeOpenMicros', 'timeActiveMicros', 'timeInactiveMicros', 'timePreparedMicros', 'expiryTime', 'readTimestamp'],
  parameters: ['txnNumber', 'autocommit', 'readConcern'],
  cursor: ['lastAccessDate', 'originatingCommand', 'tailable', 'awaitData', 'noCursorTimeout', 'nDocsReturned', 'cursorId'],
};

/** One element list (repeats allowed), to be encoded as a document (0x03) or an array (0x04) by bsonOf. */
export class Raw {
  constructor(readonly kind: 0x03 | 0x04, readonly elements: [string, unknown][]) {}
}

/** The BSON bytes of a document whose elements are given in order, repeated keys allowed; a Raw value is a nested element list. */
export function bsonOf(elements: [string, unknown][]): Buffer {
  const parts = elements.map(([name, value]) => {
    if (value instanceof Raw) return Buffer.concat([Buffer.from([value.kind]), Buffer.from(`${name}\0`, 'utf8'), bsonOf(value.elements)]);
    const one = Buffer.from(BSON.serialize({ [name]: value }));
    return one.subarray(4, one.length - 1);
  });
  const body = Buffer.concat(parts);
  const out = Buffer.alloc(body.length + 5);
  out.writeInt32LE(out.length, 0);
  body.copy(out, 4);
  return out;
}

export function randomCurrentOpDocuments(seed: number, wild: number): () => Buffer {
  const rnd = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const chance = (p: number) => rnd() < p;
  const STRINGS = wild > 0.1 ? [...ASCII, ...ODD_TEXT] : ASCII;
  const commandKeys = wild > 0.1 ? [...NESTED_KEYS.command!, ...ODD_COMMAND_KEYS] : NESTED_KEYS.command!;
  // Every byte from the seed (not crypto's), so a failure reproduces from the test's seed alone.
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(rnd() * 256)));
  const uid = () => new Binary(bytes(32), 0);
  const newUuid = () => new UUID(bytes(16));
  // A UUID-subtype binary only of 16 bytes: bson's Extended JSON parser cannot make another (a recorded one is
  // refused, not misread: test/snapshot.ejson.test.ts), and the server writes none.
  const binary = () => {
    const subtype = pick([0, 2, 4, 0x80]);
    return new Binary(Buffer.alloc(subtype === 4 ? 16 : pick([0, 8, 16])), subtype);
  };
  const anyScalar = (): unknown => pick<() => unknown>([
    () => pick(STRINGS), () => new Int32(Math.floor(rnd() * 2000) - 1000), () => Long.fromNumber(Math.floor(rnd() * 1e12)),
    () => Long.fromString(pick(['9223372036854775807', '-9223372036854775808', '9007199254740993', '-1'])),
    () => new Double(pick([0, -0, 1.5, NaN, Infinity, -Infinity, 2 ** 53 + 2, 1e-300])), () => chance(0.5), () => null,
    () => new Date(pick([0, NOW, 8.64e15, -1])), () => new Timestamp({ t: 5, i: 1 }), () => newUuid(), () => uid(),
    () => binary(), () => new ObjectId(bytes(12)), () => Decimal128.fromString('3.5'),
    () => /a+/i, () => new BSON.MinKey(), () => new BSON.MaxKey(), () => new BSON.Code('x'),
  ])();
  const doc = (keys: readonly string[], value: (key: string, depth: number) => unknown, depth: number): Raw => {
    const elements: [string, unknown][] = [];
    // A nested document of a few fields: the top level has room for every key, nested ones for up to six.
    const n = Math.floor(rnd() * (Math.min(keys.length, depth === 0 ? keys.length : 6) + 1));
    for (let i = 0; i < n; i++) elements.push([chance(1 - wild) ? pick(keys) : pick(['zz', '_', 'op_', '1x']), undefined]);
    for (const e of elements) e[1] = value(e[0], depth + 1);
    return new Raw(0x03, elements.filter((e) => e[1] !== undefined));
  };
  const array = (item: () => unknown): Raw => new Raw(0x04, Array.from({ length: Math.floor(rnd() * 4) }, (_, i) => [String(i), item()] as [string, unknown]));
  // Usually the type the server writes for the key; sometimes anything.
  const value = (key: string, depth: number): unknown => {
    if (depth > 4 || chance(wild)) return chance(0.15) && depth <= 4 ? doc(KEYS, value, depth) : anyScalar();
    switch (key) {
      case 'type': return pick(['op', 'idleSession', 'idleCursor', 'op', 'other']);
      case 'lsid': return doc(NESTED_KEYS.lsid!, value, depth);
      case 'id': return chance(0.8) ? newUuid() : anyScalar();
      case 'uid': return chance(0.8) ? uid() : anyScalar();
      case 'txnNumber': return Long.fromNumber(Math.floor(rnd() * 10));
      case 'txnUUID': return newUuid();
      case 'opid': return pick<() => unknown>([() => new Int32(Math.floor(rnd() * 1e6)), () => `shard0${Math.floor(rnd() * 3)}:${Math.floor(rnd() * 1000)}`, () => Long.fromNumber(Math.floor(rnd() * 1e10))])();
      case 'active': case 'killPending': case 'waitingForLock': case 'tailable': case 'awaitData': case 'noCursorTimeout': case 'autocommit': case 'threaded': return chance(0.5);
      case 'secs_running': case 'timeOpenMicros': case 'timeActiveMicros': case 'timeInactiveMicros': case 'timePreparedMicros': case 'numYields': case 'writeConflicts': case 'nDocsReturned': case 'r': case 'w': case 'R': case 'W':
        return pick<() => unknown>([() => Long.fromNumber(Math.floor(rnd() * 1e9)), () => new Int32(Math.floor(rnd() * 1e6)), () => new Double(rnd() * 100)])();
      case 'connectionId': return new Int32(Math.floor(rnd() * 100));
      case 'command': case 'originatingCommand': return commandDoc(depth);
      case 'pipeline': return array(() => doc(NESTED_KEYS.pipeline!, () => doc([], value, depth + 2), depth + 1));
      case 'comment': return chance(0.7) ? pick(STRINGS) : anyScalar();
      case 'lockStats': return doc(NESTED_KEYS.lockStats!, (_k, d) => doc(NESTED_KEYS.resource!, (k2, d2) => (k2 === 'timeAcquiringMicros' ? doc(NESTED_KEYS.timeAcquiringMicros!, value, d2) : anyScalar()), d), depth);
      case 'clientMetadata': return doc(NESTED_KEYS.clientMetadata!, value, depth);
      case 'driver': return doc(NESTED_KEYS.driver!, () => pick(STRINGS), depth);
      case 'mongos': return doc(NESTED_KEYS.mongos!, () => pick(STRINGS), depth);
      case 'effectiveUsers': return array(() => (chance(0.9) ? doc(NESTED_KEYS.effectiveUser!, () => pick(STRINGS), depth + 1) : anyScalar()));
      case 'transaction': return doc(NESTED_KEYS.transaction!, value, depth);
      case 'parameters': return doc(NESTED_KEYS.parameters!, value, depth);
      case 'expiryTime': case 'lastAccessDate': return chance(0.6) ? new Date(NOW + Math.floor(rnd() * 1e6)) : pick(['2026-11-30T12:01:00.000+00:00', 'not a date']);
      case 'cursor': return doc(NESTED_KEYS.cursor!, value, depth);
      case 'twoPhaseCommitCoordinator': return doc(['lsid', 'txnNumber'], value, depth);
      default: return pick(STRINGS);
    }
  };
  const commandDoc = (depth: number): Raw => {
    const elements: [string, unknown][] = [[pick(NESTED_KEYS.command!.slice(0, 6)), pick(STRINGS)]];
    for (let i = Math.floor(rnd() * 4); i > 0; i--) {
      const k = pick(commandKeys);
      elements.push([k, value(k === 'find' || k === 'aggregate' ? '' : k, depth + 1)]);
    }
    return new Raw(0x03, chance(0.1) ? elements.reverse() : elements);
  };
  return (): Buffer => bsonOf(doc(KEYS, value, 0).elements);
}

