/**
 * In-memory databases and collections, enough for demo workloads: documents keyed by _id, insertion order kept.
 * Writes go through the commands (crud.ts writeDoc), which also stage them in transactions.
 */
import { EJSON, type Document } from 'bson';

export class Collection {
  readonly docs = new Map<string, Document>();

  constructor(readonly db: string, readonly name: string) {}

  get ns(): string {
    return `${this.db}.${this.name}`;
  }

  static idKey(id: unknown): string {
    return EJSON.stringify({ v: id } as Document, { relaxed: false });
  }
}

/** mongod's duplicate _id write error text. */
export function duplicateKeyMessage(ns: string, id: unknown): string {
  return `E11000 duplicate key error collection: ${ns} index: _id_ dup key: { _id: ${EJSON.stringify({ v: id } as Document, { relaxed: true }).slice(5, -1)} }`;
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
