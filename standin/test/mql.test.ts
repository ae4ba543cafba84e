/**
 * Queries, stages and updates through the driver: what the stand-in adds around mingo (mql.ts) holds.
 * BSON values compare as the server compares them (Long with numbers, UUIDs bytewise, Timestamps by (t, i)),
 * values the stages do not touch come back with their BSON type, regexes take the server's options, and
 * the stages and update forms the stand-in does not run are refused by name.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
// The driver's own BSON classes (it loads bson as CommonJS: instanceof needs the same copy).
import { Binary, Long, Timestamp, UUID, type Collection, type Document, type MongoClient } from 'mongodb';
import { standinOnly, startTarget, targetKinds, type Target } from './target.ts';

for (const kind of targetKinds()) {
  describe(`query language (${kind})`, () => {
    let target: Target;
    let client: MongoClient;
    let coll: Collection<Document>;
    // Two UUIDs that differ only in a byte that is not valid UTF-8 (0xee / 0xef).
    const u1 = new UUID('01234567-89ab-cdef-0123-456789abcdef').toBinary();
    const u2 = new UUID('01234567-89ab-cdef-0123-456789abcdee').toBinary();

    before(async () => {
      target = await startTarget(kind, { auth: false });
      client = await target.client();
      coll = client.db('mql').collection(`values_${Date.now()}`);
      await coll.insertMany([
        { _id: 1 as never, u: u1, v: Long.fromNumber(5), ts: new Timestamp({ t: 5, i: 1 }), s: 'Apple\npie', tags: ['x', 'y'] },
        { _id: 2 as never, u: u2, v: Long.fromNumber(50), ts: new Timestamp({ t: 6, i: 1 }), s: 'banana', tags: ['y'] },
        { _id: 3 as never, u: u1, v: 7, ts: new Timestamp({ t: 4, i: 9 }), s: 'cherry', tags: [] },
      ]);
    });
    after(async () => {
      await target?.stop();
    });

    const ids = async (filter: Document): Promise<unknown[]> => (await coll.find(filter, { sort: { _id: 1 } }).toArray()).map((d) => d._id);

    test('UUIDs match bytewise, Longs compare with numbers, Timestamps by (t, i)', async () => {
      assert.deepEqual(await ids({ u: u1 }), [1, 3]);
      assert.deepEqual(await ids({ u: { $in: [u2] } }), [2]);
      assert.deepEqual(await ids({ v: 5 }), [1]);
      assert.deepEqual(await ids({ v: { $gt: 6 } }), [2, 3]);
      assert.deepEqual(await ids({ v: Long.fromNumber(7) }), [3]);
      assert.deepEqual(await ids({ ts: { $gt: new Timestamp({ t: 4, i: 10 }) } }), [1, 2]);
    });

    test('$sort and $group use numeric values of Longs', async () => {
      const sorted = await coll.aggregate([{ $sort: { v: -1 } }, { $project: { _id: 1 } }]).toArray();
      const [sum] = await coll.aggregate([{ $group: { _id: null, total: { $sum: '$v' }, n: { $sum: 1 } } }]).toArray();
      const byUuid = await coll.aggregate([{ $group: { _id: '$u', n: { $sum: 1 } } }, { $sort: { n: -1 } }]).toArray();
      assert.deepEqual(sorted.map((d) => d._id), [2, 3, 1]);
      assert.equal(sum!.total, 62);
      assert.equal(sum!.n, 3);
      assert.deepEqual(byUuid.map((d) => d.n), [2, 1]);
      assert.equal(await coll.countDocuments({ v: { $gte: 6 } }), 2);
    });

    test('values a projection or an update does not change keep their BSON type', async () => {
      const projected = await coll.aggregate([{ $match: { _id: 1 } }, { $project: { v: 1, u: 1, ts: 1 } }], { promoteLongs: false }).toArray();
      await coll.updateOne({ _id: 1 as never }, { $set: { note: 'touched' } });
      const updated = await coll.findOne({ _id: 1 as never }, { promoteLongs: false });
      assert.ok(projected[0]!.v instanceof Long, 'an untouched int64 stays int64');
      assert.ok(projected[0]!.u instanceof Binary && projected[0]!.u.sub_type === 4);
      assert.ok(projected[0]!.ts instanceof Timestamp);
      assert.deepEqual(Object.keys(projected[0]!), ['_id', 'u', 'v', 'ts'], 'fields keep the document order');
      assert.ok(updated!.v instanceof Long);
      assert.equal(updated!.note, 'touched');
    });

    test('$regex options i, m, s and x, regexes in $in and $not', async () => {
      assert.deepEqual(await ids({ s: { $regex: '^apple', $options: 'i' } }), [1]);
      assert.deepEqual(await ids({ s: { $regex: '^pie$', $options: 'm' } }), [1]);
      assert.deepEqual(await ids({ s: { $regex: 'apple.pie', $options: 'is' } }), [1]);
      assert.deepEqual(await ids({ s: { $regex: ' b a n # letters\n a ', $options: 'x' } }), [2]);
      assert.deepEqual(await ids({ s: { $in: [/^ch/, 'banana'] } }), [2, 3]);
      assert.deepEqual(await ids({ s: { $nin: [/^ch/, 'banana'] } }), [1]);
      assert.deepEqual(await ids({ s: { $not: /an/ } }), [1, 3]);
      assert.deepEqual(await ids({ tags: { $all: [/^y$/] } }), [1, 2]);
    });

    test('updates: operators, upsert seeded from the filter with $setOnInsert, replacement keeps _id, _id is immutable', async () => {
      const c = client.db('mql').collection(`updates_${Date.now()}`);
      await c.insertOne({ _id: 1 as never, n: 1, list: [1] });
      await c.updateOne({ _id: 1 as never }, { $inc: { n: 2 }, $push: { list: 2 } as never, $unset: { missing: '' } });
      assert.deepEqual(await c.findOne({ _id: 1 as never }), { _id: 1, n: 3, list: [1, 2] });
      await c.updateOne({ k: 'new' }, { $set: { a: 1 }, $setOnInsert: { created: true } }, { upsert: true });
      await c.updateOne({ k: 'new' }, { $set: { a: 2 }, $setOnInsert: { created: false } }, { upsert: true });
      await c.replaceOne({ _id: 1 as never }, { replaced: true });
      assert.deepEqual(await c.findOne({ _id: 1 as never }), { _id: 1, replaced: true });
      const upserted = await c.findOne({ k: 'new' }, { projection: { _id: 0 } });
      assert.deepEqual(upserted, { k: 'new', a: 2, created: true });
      await assert.rejects(c.replaceOne({ _id: 1 as never }, { _id: 2 as never }), { code: 66 });
      await assert.rejects(c.updateOne({ _id: 1 as never }, { $frobnicate: { a: 1 } } as never), { code: 9 });
    });

    test('stages the stand-in does not run are refused by name; unknown stages as the server does', async (t) => {
      await assert.rejects(coll.aggregate([{ $bogus: {} }]).toArray(), { code: 40324, message: "Unrecognized pipeline stage name: '$bogus'" });
      if (standinOnly(t, target, 'the stand-in has no $lookup')) return;
      await assert.rejects(coll.aggregate([{ $lookup: { from: 'x', localField: 'a', foreignField: 'b', as: 'c' } }]).toArray(), { code: 238 });
    });
  });
}
