/**
 * In-memory databases and collections, enough for demo workloads: documents keyed by _id, insertion order kept.
 * Duplicate _id: E11000 (DuplicateKey 11000), text as mongod prints it
 * ("E11000 duplicate key error collection: db.coll index: _id_ dup key: { _id: ... }").
 */
import { BSON, EJSON, ObjectId, type Document } from 'bson';
import { CommandError } from './errors.ts';

export class Collection {
  readonly docs = new Map<string, Document>();

  constructor(readonly db: string, readonly name: string) {}

  get ns(): string {
    return `${this.db}.${this.name}`;
  }

  static idKey(id: unknown): string {
    return EJSON.stringify({ v: id } as Document, { relaxed: false });
  }

  insert(doc: Document): Document {
    const stored = doc._id === undefined ? { _id: new ObjectId(), ...doc } : doc;
    const key = Collection.idKey(stored._id);
    if (this.docs.has(key)) {
      throw new CommandError(11000, 'DuplicateKey', `E11000 duplicate key error collection: ${this.ns} index: _id_ dup key: { _id: ${EJSON.stringify(stored._id as Document, { relaxed: true })} }`);
    }
    this.docs.set(key, stored);
    return stored;
  }

  replace(oldDoc: Document, newDoc: Document): void {
    this.docs.set(Collection.idKey(oldDoc._id), newDoc);
  }

  remove(doc: Document): void {
    this.docs.delete(Collection.idKey(doc._id));
  }

  clone(): Collection {
    const c = new Collection(this.db, this.name);
    // A BSON round trip keeps the BSON classes (ObjectId, Binary, Long) that structuredClone would strip.
    for (const [k, v] of this.docs) c.docs.set(k, BSON.deserialize(BSON.serialize(v), { promoteLongs: false }));
    return c;
  }
}

export class Storage {
  private readonly dbs = new Map<string, Map<string, Collection>>();

  get(db: string, name: string): Collection | undefined {
    return this.dbs.get(db)?.get(name);
  }

  getOrCreate(db: string, name: string): Collection {
    let colls = this.dbs.get(db);
    if (!colls) this.dbs.set(db, (colls = new Map()));
    let c = colls.get(name);
    if (!c) colls.set(name, (c = new Collection(db, name)));
    return c;
  }

  drop(db: string, name: string): boolean {
    return this.dbs.get(db)?.delete(name) ?? false;
  }

  dropDatabase(db: string): void {
    this.dbs.delete(db);
  }

  collections(db: string): Collection[] {
    return [...(this.dbs.get(db)?.values() ?? [])];
  }

  databases(): string[] {
    return [...this.dbs.keys()].filter((d) => (this.dbs.get(d)?.size ?? 0) > 0);
  }
}
