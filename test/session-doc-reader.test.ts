/** The byte readers of src/adapters/mongodb/session-doc-reader.ts: uuid() and RecentStrings. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { UUID } from 'mongodb';
import { RecentStrings, uuid } from '../src/adapters/mongodb/session-doc-reader.ts';

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
