/**
 * BSON values in and out of the query engine (mingo, see mql.ts).
 *
 * mingo compares plain JavaScript values. Given the js-bson wrapper classes it goes wrong: it compares two
 * Longs by their decimal strings ("50" < "7"), never finds a Long equal to a number, leaves Longs out of
 * $sum, and finds any two UUIDs with the same non-UTF-8 bytes replaced equal (Binary's toString is lossy).
 * So values are converted on the way in:
 *  - Long, Int32, Double, Decimal128 become numbers (one numeric type, as BSON compares numbers across types;
 *    beyond 2^53, and for Decimal128, comparisons are as exact as a double);
 *  - Binary becomes BinDataBytes, a Uint8Array that mingo orders and hashes bytewise;
 *  - Timestamp becomes TimestampKey, whose string form orders as (t, i).
 * and back on the way out, where a value equal to the one at the same place in the input document is
 * that input value, wrapper and field order included: a projection or an update returns untouched Longs
 * as Longs. Values the stages compute are plain numbers (int32 or double on the wire).
 *
 * Known divergence: values of different BSON types sort in mingo's order (numbers, strings, objects,
 * arrays, binary, booleans, dates, then ObjectId and Timestamp), not the server's canonical type order
 * (ObjectId before booleans, Timestamp after dates).
 */
import { Binary, Timestamp, type Document, type Long } from 'bson';

/** BinData for the engine: bytes mingo can compare, with the subtype and the original kept for the way out. */
export class BinDataBytes extends Uint8Array {
  declare readonly subType: number;
  declare readonly original: Binary | undefined;

  // mingo's cloneDeep copies a typed array as `new value.constructor(value)`: the subtype goes along.
  constructor(bytes: ArrayLike<number> | number, subType?: number, original?: Binary) {
    super(bytes as ArrayLike<number>);
    const inherited = bytes instanceof BinDataBytes ? bytes : undefined;
    Object.defineProperty(this, 'subType', { value: subType ?? inherited?.subType ?? 0 });
    Object.defineProperty(this, 'original', { value: original ?? inherited?.original });
  }
}

/** A Timestamp for the engine: compared as (t, i) through a fixed-width string, as mingo compares class values. */
export class TimestampKey {
  constructor(readonly t: number, readonly i: number) {}
  toString(): string {
    return `${String(this.t).padStart(10, '0')}:${String(this.i).padStart(10, '0')}`;
  }
}

const bsonType = (v: object): string | undefined => (v as { _bsontype?: string })._bsontype;

/** A plain document (not an array, a Date or a BSON wrapper). */
export function isPlainDocument(v: unknown): v is Document {
  if (v === null || typeof v !== 'object') return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** Sets an own property, so that a field named "__proto__" stays a field and never becomes a prototype. */
export function setField(doc: Document, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(doc, key, { value, enumerable: true, writable: true, configurable: true });
  else doc[key] = value;
}

export function toEngine(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(toEngine);
  if (v instanceof Date) return v;
  if (isPlainDocument(v)) {
    const out: Document = {};
    for (const k of Object.keys(v)) setField(out, k, toEngine(v[k]));
    return out;
  }
  const n = numericValue(v);
  if (n !== null) return n;
  switch (bsonType(v)) {
    case 'Binary': {
      const b = v as Binary;
      return new BinDataBytes(b.buffer.subarray(0, b.position), b.sub_type, b);
    }
    case 'Timestamp':
      return new TimestampKey((v as Timestamp).t, (v as Timestamp).i);
    default:
      // ObjectId (mingo compares its hex string), regex, MinKey/MaxKey, code, symbol, and the stand-in's
      // own operator arguments (compiled regexes): as they are.
      return v;
  }
}

function numericValue(v: unknown): number | null {
  if (typeof v === 'number') return v;
  if (v === null || typeof v !== 'object') return null;
  switch (bsonType(v)) {
    case 'Long':
      return (v as Long).toNumber();
    case 'Int32':
    case 'Double':
      return (v as { valueOf(): number }).valueOf();
    case 'Decimal128':
      return Number(v.toString());
    default:
      return null;
  }
}

/**
 * An engine value back to BSON values. `hint` is the input value at the same place, if any: an equal
 * number comes back as the input's wrapper, and a document's fields come back in the input's order
 * (new fields after), as the server keeps a document's field order through projections and updates.
 */
export function fromEngine(v: unknown, hint?: unknown): unknown {
  if (typeof v === 'number') {
    const h = numericValue(hint);
    return h !== null && typeof hint === 'object' && (h === v || (Number.isNaN(h) && Number.isNaN(v))) ? hint : v;
  }
  if (v === null || typeof v !== 'object') return v;
  if (v instanceof BinDataBytes) return v.original ?? new Binary(Buffer.from(v), v.subType);
  if (v instanceof TimestampKey) return hint instanceof Timestamp && hint.t === v.t && hint.i === v.i ? hint : new Timestamp({ t: v.t, i: v.i });
  if (Array.isArray(v)) return v.map((x, i) => fromEngine(x, Array.isArray(hint) ? hint[i] : undefined));
  if (!isPlainDocument(v)) return v;
  const out: Document = {};
  const from = isPlainDocument(hint) ? hint : undefined;
  if (from) for (const k of Object.keys(from)) if (Object.prototype.hasOwnProperty.call(v, k)) setField(out, k, fromEngine(v[k], from[k]));
  for (const k of Object.keys(v)) if (!from || !Object.prototype.hasOwnProperty.call(from, k)) setField(out, k, fromEngine(v[k]));
  return out;
}
