/** The byte readers of src/adapters/mongodb/session-doc-reader.ts: uuid(), RecentStrings and readListedSession. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { Binary, BSON, Decimal128, Int32, Long, ObjectId, Timestamp, UUID } from 'mongodb';
import { toListedSession } from '../src/adapters/mongodb/activity.ts';
import { readListedSession, RecentStrings, uuid } from '../src/adapters/mongodb/session-doc-reader.ts';
import { prng } from '../standin/src/prng.ts';

test('every read gives the string of its bytes, whatever was read before (more distinct values than kept, prefixes, offsets)', () => {
  let decoded = 0;
  const recent = new RecentStrings(4, (buf, start, end) => (decoded++, buf.toString('hex', start, end)));
  const values = [...Array.from({ length: 9 }, () => randomBytes(32)), Buffer.alloc(0), Buffer.from([1, 2]), Buffer.from([1, 2, 3]), Buffer.from([1])];
  for (let round = 0; round < 50; round++) {
    const v = values[(round * 7) % values.length]!;
    const pad = round % 3;
    const buf = Buffer.concat([randomBytes(pad), v, randomBytes(2)]);
    assert.equal(recent.get(buf, pad, pad + v.length), v.toString('hex'));
  }
  // The same value read again is not decoded again while it is kept.
  const before = decoded;
  const v = Buffer.from('abc');
  recent.get(v, 0, 3);
  recent.get(Buffer.concat([Buffer.from('x'), v]), 1, 4);
  assert.equal(decoded, before + 1);
});

test('uuid() gives the text bson\'s UUID gives, at any offset', () => {
  const samples = [Buffer.alloc(16), Buffer.alloc(16, 0xff), ...Array.from({ length: 2000 }, () => randomBytes(16))];
  for (const [i, bytes] of samples.entries()) {
    const at = i % 5;
    const buf = Buffer.concat([randomBytes(at), bytes, randomBytes(3)]);
    assert.equal(uuid(buf, at), new UUID(bytes).toHexString(true));
  }
});

/**
 * readListedSession against what it replaces, on seeded random listing documents: the fields it reads (_id.id,
 * _id.uid, lastUse, user as a string or {name}) usually of the server's types and sometimes of others, among
 * fields it skips. It must give toListedSession(BSON.deserialize(bytes)), or throw where that throws.
 */
test('randomised listing documents (seed 1201): what the general decoding gives, or an error where it throws', () => {
  const rnd = prng(1201);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const chance = (p: number) => rnd() < p;
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(rnd() * 256)));
  const other = (): unknown => pick<() => unknown>([
    () => 'text', () => '', () => new Int32(7), () => Long.fromNumber(5), () => 1.5, () => true, () => null, () => new Date(0),
    () => new Binary(bytes(pick([0, 8, 16, 32])), pick([0, 2, 3, 4, 0x80])), () => new ObjectId(bytes(12)), () => new Timestamp({ t: 1, i: 1 }),
    () => ({ name: 'nested' }), () => ['a'], () => Decimal128.fromString('1'),
  ])();
  /** A document of some of `fields`, each at most once, in random order. */
  const doc = (fields: Record<string, () => unknown>): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(fields).sort(() => rnd() - 0.5)) if (chance(0.85)) out[key] = fields[key]!();
    return out;
  };
  const listing = () => doc({
    _id: () => (chance(0.9) ? doc({ id: () => (chance(0.85) ? new UUID(bytes(16)) : other()), uid: () => (chance(0.85) ? new Binary(bytes(32), 0) : other()), x: other }) : other()),
    lastUse: () => (chance(0.85) ? new Date(1_796_000_000_000 + Math.floor(rnd() * 1e9)) : other()),
    user: () => (chance(0.4) ? 'alice@admin' : chance(0.6) ? doc({ name: () => (chance(0.85) ? 'bob@admin' : other()), db: () => 'admin' }) : other()),
    timeoutMinutes: () => 30,
  });
  const outcome = (f: () => unknown): unknown => {
    try {
      return f();
    } catch {
      return 'throws';
    }
  };
  let read = 0;
  for (let i = 0; i < 20_000; i++) {
    const b = Buffer.from(BSON.serialize(listing()));
    const want = outcome(() => toListedSession(BSON.deserialize(b)));
    const got = outcome(() => readListedSession(b));
    if (want !== 'throws') read++;
    if (!isDeepStrictEqual(got, want)) assert.deepEqual(got, want, `document ${i}: ${JSON.stringify(BSON.EJSON.serialize(BSON.deserialize(b)))}`);
  }
  // Most documents must be read, or the comparison would mostly be of two errors.
  assert.ok(read > 6_000, `${read} of 20,000 documents read`);
});
