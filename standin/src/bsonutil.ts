/**
 * BSON value helpers over the `bson` package's JavaScript types: MongoDB's canonical type order,
 * value comparison, path traversal for matching, type names, cloning and shell-style rendering for
 * error messages.
 *
 * Numbers may arrive as JS numbers (int32 and double, as `bson` promotes them) or as Int32, Double,
 * Long (the wire layer deserializes with promoteLongs: false) and Decimal128 objects; all compare by
 * value. Missing values are represented by `undefined`.
 */
import { Binary, type Decimal128, type Long, type ObjectId, type Timestamp, type Document } from 'bson';

export type { Document };

/** The `_bsontype` tag of a bson class instance (`Binary`, `Long`, ...), or undefined. */
function bsonTag(v: object): string | undefined {
  const t = (v as { _bsontype?: unknown })._bsontype;
  return typeof t === 'string' ? t : undefined;
}

/** A plain JavaScript object used as a BSON document (not an array, Date, RegExp, Buffer or bson class). */
export function isDocument(v: unknown): v is Document {
  if (v === null || typeof v !== 'object') return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

const hasOwn = Object.prototype.hasOwnProperty;

/** Own field of a document, or undefined when absent (never a prototype property). */
export function getField(doc: Document, key: string): unknown {
  return hasOwn.call(doc, key) ? doc[key] : undefined;
}

export function isNumeric(v: unknown): boolean {
  if (typeof v === 'number' || typeof v === 'bigint') return true;
  if (v === null || typeof v !== 'object') return false;
  const t = bsonTag(v);
  return t === 'Int32' || t === 'Double' || t === 'Long' || t === 'Decimal128';
}

/** A numeric value as a JS double (Long and Decimal128 may lose precision); NaN for non-numbers. */
export function toDouble(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (v !== null && typeof v === 'object') {
    switch (bsonTag(v)) {
      case 'Int32':
      case 'Double':
        return (v as { value: number }).value;
      case 'Long':
        return (v as Long).toNumber();
      case 'Decimal128':
        return decimalToNumber(v as Decimal128);
    }
  }
  return NaN;
}

function decimalToNumber(d: Decimal128): number {
  const s = d.toString();
  if (s === 'NaN' || s === '-NaN') return NaN;
  if (s === 'Infinity') return Infinity;
  if (s === '-Infinity') return -Infinity;
  return Number(s);
}

/**
 * MongoDB's canonical type order, with the server's own numbers (canonicalizeBSONType in
 * src/mongo/bson/bsontypes.h): MinKey -1, missing/undefined 0, null 5, numbers 10, string/symbol 15,
 * object 20, array 25, binData 30, objectId 35, bool 40, date 45, timestamp 47, regex 50, dbPointer 55,
 * javascript 60, javascriptWithScope 65, MaxKey 127. The order follows the manual's
 * "Comparison/Sort Order" (https://www.mongodb.com/docs/manual/reference/bson-type-comparison-order/).
 */
export function canonicalTypeOrder(v: unknown): number {
  switch (typeof v) {
    case 'undefined':
      return 0;
    case 'number':
    case 'bigint':
      return 10;
    case 'string':
      return 15;
    case 'boolean':
      return 40;
    case 'object':
      break;
    default:
      return 20;
  }
  if (v === null) return 5;
  if (Array.isArray(v)) return 25;
  const t = bsonTag(v);
  if (t !== undefined) {
    switch (t) {
      case 'Int32':
      case 'Double':
      case 'Long':
      case 'Decimal128':
        return 10;
      case 'BSONSymbol':
        return 15;
      case 'DBRef':
        return 20;
      case 'Binary':
        return 30;
      case 'ObjectId':
      case 'ObjectID':
        return 35;
      case 'Timestamp':
        return 47;
      case 'BSONRegExp':
        return 50;
      case 'Code':
        return (v as { scope?: unknown }).scope ? 65 : 60;
      case 'MinKey':
        return -1;
      case 'MaxKey':
        return 127;
      default:
        return 20;
    }
  }
  if (v instanceof Date) return 45;
  if (v instanceof RegExp) return 50;
  if (ArrayBuffer.isView(v)) return 30;
  return 20;
}

/** Compare strings by code point (the UTF-8 byte order the server's simple collation uses). */
export function compareStrings(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) {
      // Surrogates (0xD800-0xDFFF) encode code points above 0xFFFF and must sort after 0xE000-0xFFFF.
      const sx = x >= 0xd800 && x <= 0xdfff;
      const sy = y >= 0xd800 && y <= 0xdfff;
      if (sx !== sy) return sx ? 1 : -1;
      return x < y ? -1 : 1;
    }
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

function numberKind(v: unknown): 'n' | 'l' | 'd' | 'b' {
  if (typeof v === 'number') return 'n';
  if (typeof v === 'bigint') return 'b';
  const t = bsonTag(v as object);
  return t === 'Long' ? 'l' : t === 'Decimal128' ? 'd' : 'n';
}

function compareDoubles(x: number, y: number): number {
  if (x < y) return -1;
  if (x > y) return 1;
  if (x === y) return 0;
  // NaN sorts below every other number and equals itself (src/mongo/bson/bsonelement.cpp compareElements).
  const nx = Number.isNaN(x);
  const ny = Number.isNaN(y);
  return nx && ny ? 0 : nx ? -1 : 1;
}

function compareBigIntWithDouble(a: bigint, d: number): number {
  if (Number.isNaN(d)) return 1;
  if (d === Infinity) return -1;
  if (d === -Infinity) return 1;
  const fl = Math.floor(d);
  const bf = BigInt(fl);
  if (a < bf) return -1;
  if (a > bf) return 1;
  return d > fl ? -1 : 0;
}

/** Compare two numeric values by value across int, long, double, decimal. */
export function compareNumbers(a: unknown, b: unknown): number {
  const ka = numberKind(a);
  const kb = numberKind(b);
  if (ka === 'n' && kb === 'n') return compareDoubles(toDouble(a), toDouble(b));
  const big = (v: unknown, k: string): bigint | undefined =>
    k === 'l' ? (v as Long).toBigInt() : k === 'b' ? (v as bigint) : undefined;
  const ba = big(a, ka);
  const bb = big(b, kb);
  if (ba !== undefined && bb !== undefined) return ba < bb ? -1 : ba > bb ? 1 : 0;
  if (ba !== undefined && kb === 'n') return compareBigIntWithDouble(ba, toDouble(b));
  if (bb !== undefined && ka === 'n') {
    const c = compareBigIntWithDouble(bb, toDouble(a));
    return c === 0 ? 0 : -c;
  }
  // Decimal128 involved: compared as doubles (precision beyond 2^53 is not modelled).
  return compareDoubles(toDouble(a), toDouble(b));
}

function binaryParts(v: unknown): { bytes: Uint8Array; subtype: number } {
  if (ArrayBuffer.isView(v)) return { bytes: new Uint8Array(v.buffer, v.byteOffset, v.byteLength), subtype: 0 };
  const b = v as Binary;
  return { bytes: b.buffer.subarray(0, b.position), subtype: b.sub_type };
}

function compareBytes(x: Uint8Array, y: Uint8Array): number {
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) if (x[i] !== y[i]) return x[i] < y[i] ? -1 : 1;
  return x.length === y.length ? 0 : x.length < y.length ? -1 : 1;
}

function regexParts(v: unknown): [string, string] {
  if (v instanceof RegExp) return [v.source, v.flags];
  const r = v as { pattern: string; options: string };
  return [r.pattern, r.options];
}

/** Document keys whose values are present (undefined-valued keys count as absent). */
function presentKeys(d: Document): string[] {
  const keys = Object.keys(d);
  for (let i = 0; i < keys.length; i++) {
    if (d[keys[i]] === undefined) return keys.filter((k) => d[k] !== undefined);
  }
  return keys;
}

function compareDocuments(a: Document, b: Document): number {
  const ka = presentKeys(a);
  const kb = presentKeys(b);
  const n = Math.min(ka.length, kb.length);
  for (let i = 0; i < n; i++) {
    // Per pair: the value's type, then the field name, then the value (the manual's "Objects" section
    // of Comparison/Sort Order, with the type step added by DOCS-14025).
    const va = a[ka[i]];
    const vb = b[kb[i]];
    const ta = canonicalTypeOrder(va);
    const tb = canonicalTypeOrder(vb);
    if (ta !== tb) return ta < tb ? -1 : 1;
    const kc = compareStrings(ka[i], kb[i]);
    if (kc !== 0) return kc;
    const c = compareValues(va, vb);
    if (c !== 0) return c;
  }
  return ka.length === kb.length ? 0 : ka.length < kb.length ? -1 : 1;
}

function asDocument(v: unknown): Document {
  if (isDocument(v)) return v;
  // DBRef compares as its document form {$ref, $id, $db?}.
  const r = v as { collection?: string; oid?: unknown; db?: string; toJSON?: () => Document };
  if (typeof r.toJSON === 'function') return r.toJSON();
  return v as Document;
}

/**
 * Total order over BSON values (the server's woCompare): first the canonical type, then the value.
 * Numbers compare by value across int/long/double/decimal; strings by code point; documents pairwise
 * (type, name, value); arrays element by element; BinData by length, then subtype, then bytes.
 */
export function compareValues(a: unknown, b: unknown): number {
  if (a === b) return 0;
  const ta = canonicalTypeOrder(a);
  const tb = canonicalTypeOrder(b);
  if (ta !== tb) return ta < tb ? -1 : 1;
  switch (ta) {
    case 10:
      return compareNumbers(a, b);
    case 15: {
      const sa = typeof a === 'string' ? a : String((a as { value: unknown }).value);
      const sb = typeof b === 'string' ? b : String((b as { value: unknown }).value);
      return compareStrings(sa, sb);
    }
    case 20:
      return compareDocuments(asDocument(a), asDocument(b));
    case 25: {
      const xa = a as unknown[];
      const xb = b as unknown[];
      const n = Math.min(xa.length, xb.length);
      for (let i = 0; i < n; i++) {
        const c = compareValues(xa[i], xb[i]);
        if (c !== 0) return c;
      }
      return xa.length === xb.length ? 0 : xa.length < xb.length ? -1 : 1;
    }
    case 30: {
      const pa = binaryParts(a);
      const pb = binaryParts(b);
      if (pa.bytes.length !== pb.bytes.length) return pa.bytes.length < pb.bytes.length ? -1 : 1;
      if (pa.subtype !== pb.subtype) return pa.subtype < pb.subtype ? -1 : 1;
      return compareBytes(pa.bytes, pb.bytes);
    }
    case 35:
      return compareBytes((a as ObjectId).id, (b as ObjectId).id);
    case 40:
      return a === b ? 0 : a ? 1 : -1;
    case 45:
      return compareDoubles((a as Date).getTime(), (b as Date).getTime());
    case 47: {
      const x = a as Timestamp;
      const y = b as Timestamp;
      if (x.t !== y.t) return x.t < y.t ? -1 : 1;
      return x.i === y.i ? 0 : x.i < y.i ? -1 : 1;
    }
    case 50: {
      const [pa, fa] = regexParts(a);
      const [pb, fb] = regexParts(b);
      return compareStrings(pa, pb) || compareStrings(fa, fb);
    }
    case 60:
    case 65:
      return compareStrings(String((a as { code: unknown }).code), String((b as { code: unknown }).code));
    default:
      return 0; // MinKey, MaxKey, null, missing: one value per type.
  }
}

export function valuesEqual(a: unknown, b: unknown): boolean {
  return compareValues(a, b) === 0;
}

/** MongoDB's name for a value's type, as `$type` reports it; 'missing' for undefined. */
export function typeName(v: unknown): string {
  switch (typeof v) {
    case 'undefined':
      return 'missing';
    case 'number':
      return Number.isInteger(v) && v >= -2147483648 && v <= 2147483647 && !Object.is(v, -0) ? 'int' : 'double';
    case 'bigint':
      return 'long';
    case 'string':
      return 'string';
    case 'boolean':
      return 'bool';
    case 'function':
      return 'javascript';
  }
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  const t = bsonTag(v as object);
  switch (t) {
    case undefined:
      break;
    case 'Int32':
      return 'int';
    case 'Double':
      return 'double';
    case 'Long':
      return 'long';
    case 'Decimal128':
      return 'decimal';
    case 'Binary':
      return 'binData';
    case 'ObjectId':
    case 'ObjectID':
      return 'objectId';
    case 'Timestamp':
      return 'timestamp';
    case 'BSONRegExp':
      return 'regex';
    case 'BSONSymbol':
      return 'symbol';
    case 'Code':
      return (v as { scope?: unknown }).scope ? 'javascriptWithScope' : 'javascript';
    case 'MinKey':
      return 'minKey';
    case 'MaxKey':
      return 'maxKey';
    default:
      return 'object'; // DBRef and anything else document-like
  }
  if (v instanceof Date) return 'date';
  if (v instanceof RegExp) return 'regex';
  if (ArrayBuffer.isView(v)) return 'binData';
  return 'object';
}

export function splitPath(path: string): string[] {
  return path.split('.');
}

function isArrayIndex(part: string): boolean {
  if (part.length === 0) return false;
  for (let i = 0; i < part.length; i++) {
    const c = part.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/**
 * Calls `pred` on every value the dotted path reaches, the way the matcher's BSONElementIterator
 * does (src/mongo/db/matcher/path.cpp): arrays met before the end of the path are traversed (their
 * document elements are searched for the rest of the path; a numeric path part also selects the
 * element at that index); a missing field, or a scalar met before the end, yields one `undefined`;
 * an array at the end of the path yields its elements and then itself when `leafArrays` is true
 * (kTraverse), only itself otherwise (kNoTraversal, used by $size and $elemMatch).
 * Returns true as soon as `pred` does.
 */
export function someValueAtPath(
  doc: unknown,
  parts: readonly string[],
  leafArrays: boolean,
  pred: (v: unknown) => boolean,
): boolean {
  if (parts.length === 1 && isDocument(doc)) {
    const v = hasOwn.call(doc, parts[0]) ? doc[parts[0]] : undefined;
    if (leafArrays && Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) if (pred(v[i])) return true;
    }
    return pred(v);
  }
  return walkPath(doc, parts, 0, leafArrays, pred);
}

function walkPath(
  cur: unknown,
  parts: readonly string[],
  i: number,
  leafArrays: boolean,
  pred: (v: unknown) => boolean,
): boolean {
  if (i === parts.length) {
    if (leafArrays && Array.isArray(cur)) {
      for (let k = 0; k < cur.length; k++) if (pred(cur[k])) return true;
    }
    return pred(cur);
  }
  if (Array.isArray(cur)) {
    const part = parts[i];
    const index = isArrayIndex(part) ? Number(part) : -1;
    for (let k = 0; k < cur.length; k++) {
      const el = cur[k];
      if (isDocument(el) && walkPath(el, parts, i, leafArrays, pred)) return true;
      if (k === index) {
        if (i + 1 === parts.length) {
          if (pred(el)) return true;
        } else if ((isDocument(el) || Array.isArray(el)) && walkPath(el, parts, i + 1, leafArrays, pred)) {
          return true;
        }
      }
    }
    return false;
  }
  if (isDocument(cur)) {
    const key = parts[i];
    return walkPath(hasOwn.call(cur, key) ? cur[key] : undefined, parts, i + 1, leafArrays, pred);
  }
  return pred(undefined);
}

/**
 * All values a dotted path reaches, for matching (see `someValueAtPath`): `undefined` entries stand
 * for a missing field. `getPath({a: [{b: 1}, {b: 2}]}, 'a.b')` is `[1, 2]`;
 * `getPath({a: [1, 2]}, 'a')` is `[1, 2, [1, 2]]`.
 */
export function getPath(doc: unknown, path: string, options: { leafArrays?: boolean } = {}): unknown[] {
  const out: unknown[] = [];
  someValueAtPath(doc, splitPath(path), options.leafArrays ?? true, (v) => {
    out.push(v);
    return false;
  });
  return out;
}

/** The value at a dotted path following documents only (no array traversal), or undefined. */
export function getNested(doc: unknown, parts: readonly string[]): unknown {
  let cur: unknown = doc;
  for (let i = 0; i < parts.length; i++) {
    if (!isDocument(cur)) return undefined;
    cur = hasOwn.call(cur, parts[i]) ? cur[parts[i]] : undefined;
  }
  return cur;
}

/** Deep copy of a document or value: documents and arrays are copied; Date and Binary are copied; other bson values are shared. */
export function deepClone<T>(v: T): T {
  return cloneValue(v) as T;
}

function cloneValue(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) {
    const out = new Array(v.length);
    for (let i = 0; i < v.length; i++) out[i] = cloneValue(v[i]);
    return out;
  }
  if (isDocument(v)) {
    const out: Document = {};
    for (const k of Object.keys(v)) out[k] = cloneValue(v[k]);
    return out;
  }
  if (v instanceof Date) return new Date(v.getTime());
  if (bsonTag(v) === 'Binary') {
    const b = v as Binary;
    return new Binary(Buffer.from(b.buffer.subarray(0, b.position)), b.sub_type);
  }
  return v;
}

/**
 * Shell-style rendering of a value, as the server prints values in error messages: strings in double
 * quotes, `ObjectId('…')`, `new Date(…)`. The 'bson' style is BSONObj::toString (`{ a: 1 }`,
 * `[ 1, 2 ]`, used by the matcher and update code); the 'document' style is the pipeline's
 * Document/Value::toString (`{a: 1}`, `[1, 2]`).
 */
export function formatValue(v: unknown, style: 'bson' | 'document' = 'bson'): string {
  switch (typeof v) {
    case 'undefined':
      return 'MISSING';
    case 'string':
      return JSON.stringify(v);
    case 'number':
      return Number.isNaN(v) ? 'nan.0' : Object.is(v, -0) ? '-0.0' : String(v);
    case 'bigint':
    case 'boolean':
      return String(v);
  }
  if (v === null) return 'null';
  const sp = style === 'bson' ? ' ' : '';
  if (Array.isArray(v)) return v.length === 0 ? '[]' : `[${sp}${v.map((x) => formatValue(x, style)).join(', ')}${sp}]`;
  if (isDocument(v)) {
    const keys = Object.keys(v).filter((k) => v[k] !== undefined);
    return keys.length === 0 ? '{}' : `{${sp}${keys.map((k) => `${k}: ${formatValue(v[k], style)}`).join(', ')}${sp}}`;
  }
  if (v instanceof Date) return `new Date(${v.getTime()})`;
  if (v instanceof RegExp) return `/${v.source}/${v.flags}`;
  switch (bsonTag(v as object)) {
    case 'ObjectId':
      return `ObjectId('${(v as ObjectId).toHexString()}')`;
    case 'Int32':
    case 'Double':
      return formatValue((v as { value: number }).value);
    case 'Long':
    case 'Decimal128':
      return (v as Long).toString();
    case 'Timestamp':
      return `Timestamp(${(v as Timestamp).t}, ${(v as Timestamp).i})`;
    case 'BSONRegExp':
      return `/${(v as { pattern: string }).pattern}/${(v as { options: string }).options}`;
    case 'Binary': {
      const { bytes, subtype } = binaryParts(v);
      return `BinData(${subtype}, ${Buffer.from(bytes).toString('hex').toUpperCase()})`;
    }
    case 'MinKey':
      return 'MinKey';
    case 'MaxKey':
      return 'MaxKey';
  }
  return String(v);
}

/** `name: value` as the server prints one BSON element (`{_id: 1}` in messages is `{` + this + `}`). */
export function formatElement(name: string, v: unknown): string {
  return `${name}: ${formatValue(v)}`;
}

/** MongoDB truthiness for aggregation expressions: false, null, missing and numeric zero are false. */
export function isTruthy(v: unknown): boolean {
  if (v === false || v === null || v === undefined) return false;
  // Value::coerceToBool: a number is true unless it is zero (NaN is true).
  if (typeof v === 'number') return v !== 0;
  if (typeof v === 'bigint') return v !== 0n;
  if (isNumeric(v)) {
    if (bsonTag(v as object) === 'Long') return !(v as Long).isZero();
    return toDouble(v) !== 0;
  }
  return true;
}
