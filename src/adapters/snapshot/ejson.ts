/**
 * Raw BSON documents as one line of canonical Extended JSON (the MongoDB Extended JSON v2 specification,
 * "canonical" mode: every value keeps its BSON type, so an int64 stays {"$numberLong"} and a date
 * {"$date": {"$numberLong"}}), with the snapshot's redaction applied while the bytes are walked.
 *
 * Written from the bytes rather than with bson's EJSON.stringify(BSON.deserialize(...)): recording a
 * 100,000-session listing through JS objects cost seconds (a JS object per document, then a generic
 * serialiser), walking the bytes once costs a tenth of that. A test holds this encoder to bson's own
 * output for every BSON type (test/snapshot.ejson.test.ts). Layout reference: bsonspec.org "Specification
 * Version 1.1".
 */
import { Decimal128 } from '../mongodb/driver-bson.ts';
import { int32, skipCString, valueSize } from '../mongodb/session-doc-reader.ts';
import { redactUri } from '../../util/redact.ts';
import { CREDENTIAL_FIELDS, redactedMarker, type KeepNode } from './redaction.ts';

/** The $type aliases of the BSON types (the server's names, used in the redaction markers). */
const TYPE_ALIAS: Readonly<Record<number, string>> = {
  0x01: 'double', 0x02: 'string', 0x03: 'object', 0x04: 'array', 0x05: 'binData', 0x06: 'undefined', 0x07: 'objectId',
  0x08: 'bool', 0x09: 'date', 0x0a: 'null', 0x0b: 'regex', 0x0c: 'dbPointer', 0x0d: 'javascript', 0x0e: 'symbol',
  0x0f: 'javascriptWithScope', 0x10: 'int', 0x11: 'timestamp', 0x12: 'long', 0x13: 'decimal', 0xff: 'minKey', 0x7f: 'maxKey',
};

/** Nothing kept below this point: shapes and names only. */
const KEEP_NOTHING: KeepNode = { all: false, children: new Map() };

function text(buf: Buffer, at: number): string {
  return buf.toString('utf8', at + 4, at + 4 + int32(buf, at) - 1);
}

function cstring(buf: Buffer, at: number): string {
  return buf.toString('utf8', at, skipCString(buf, at) - 1);
}

function int64(buf: Buffer, at: number): string {
  return buf.readBigInt64LE(at).toString();
}

/** bson's Double.toExtendedJSON in canonical mode: integers keep a ".0", -0 is "-0.0". */
function canonicalDouble(v: number): string {
  if (Object.is(v, -0)) return '-0.0';
  return Number.isInteger(v) ? v.toFixed(1) : v.toString();
}

function keptString(s: string): string {
  return JSON.stringify(s.includes('://') ? redactUri(s) : s);
}

/** One value, kept: its canonical Extended JSON. */
function valueJson(buf: Buffer, type: number, at: number, keep: KeepNode): string {
  switch (type) {
    case 0x01: return `{"$numberDouble":"${canonicalDouble(buf.readDoubleLE(at))}"}`;
    case 0x02: return keptString(text(buf, at));
    case 0x03: return documentJson(buf, at, false, keep);
    case 0x04: return documentJson(buf, at, true, keep);
    case 0x05: {
      let length = int32(buf, at);
      const subType = buf[at + 4]!;
      let start = at + 5;
      // Subtype 2 (the old binary) wraps its bytes in a second length; bson strips it, and so does this.
      if (subType === 0x02 && length >= 4) {
        length = int32(buf, start);
        start += 4;
      }
      return `{"$binary":{"base64":"${buf.toString('base64', start, start + length)}","subType":"${subType.toString(16).padStart(2, '0')}"}}`;
    }
    case 0x06: return '{"$undefined":true}';
    case 0x07: return `{"$oid":"${buf.toString('hex', at, at + 12)}"}`;
    case 0x08: return buf[at] ? 'true' : 'false';
    case 0x09: return `{"$date":{"$numberLong":"${int64(buf, at)}"}}`;
    case 0x0a: return 'null';
    case 0x0b: {
      const pattern = cstring(buf, at);
      const options = cstring(buf, skipCString(buf, at));
      return `{"$regularExpression":{"pattern":${JSON.stringify(pattern)},"options":${JSON.stringify(options)}}}`;
    }
    case 0x0c: {
      const ns = text(buf, at);
      const oid = at + 4 + int32(buf, at);
      return `{"$dbPointer":{"$ref":${JSON.stringify(ns)},"$id":{"$oid":"${buf.toString('hex', oid, oid + 12)}"}}}`;
    }
    case 0x0d: return `{"$code":${JSON.stringify(text(buf, at))}}`;
    case 0x0e: return `{"$symbol":${JSON.stringify(text(buf, at))}}`;
    case 0x0f: {
      const code = at + 4;
      return `{"$code":${JSON.stringify(text(buf, code))},"$scope":${documentJson(buf, code + 4 + int32(buf, code), false, keep)}}`;
    }
    case 0x10: return `{"$numberInt":"${int32(buf, at)}"}`;
    case 0x11: return `{"$timestamp":{"t":${buf.readUInt32LE(at + 4)},"i":${buf.readUInt32LE(at)}}}`;
    case 0x12: return `{"$numberLong":"${int64(buf, at)}"}`;
    case 0x13: return `{"$numberDecimal":"${new Decimal128(buf.subarray(at, at + 16)).toString()}"}`;
    case 0xff: return '{"$minKey":1}';
    case 0x7f: return '{"$maxKey":1}';
    default: throw new Error(`unknown BSON type 0x${type.toString(16)} in a server document`);
  }
}

/**
 * A document or array. `keep` says what is kept at this level; array elements share their array's node
 * (paths name fields, not positions). Documents and arrays are always walked, so a redacted subtree still
 * shows its field names and shape; credential fields lose their whole value.
 */
function documentJson(buf: Buffer, at: number, isArray: boolean, keep: KeepNode): string {
  const end = at + int32(buf, at) - 1;
  let p = at + 4;
  let out = '';
  while (p < end) {
    const type = buf[p]!;
    const value = skipCString(buf, p + 1);
    const size = valueSize(buf, type, value);
    let json: string;
    let name = '';
    if (!isArray) name = buf.toString('utf8', p + 1, value - 1);
    const node = isArray ? keep : keep.all ? keep : keep.children.get(name) ?? KEEP_NOTHING;
    if (!isArray && CREDENTIAL_FIELDS.has(name.toLowerCase())) json = JSON.stringify(redactedMarker(TYPE_ALIAS[type] ?? 'unknown'));
    else if (node.part && type === 0x02) json = JSON.stringify(node.part(text(buf, value)));
    else if (node.all || type === 0x03 || type === 0x04) json = valueJson(buf, type, value, node);
    else json = JSON.stringify(redactedMarker(TYPE_ALIAS[type] ?? 'unknown'));
    if (out) out += ',';
    out += isArray ? json : `${JSON.stringify(name)}:${json}`;
    p = value + size;
  }
  return isArray ? `[${out}]` : `{${out}}`;
}

/** One raw document as canonical Extended JSON, keeping the values `keep` names (KEEP_ALL: every value). */
export function bsonToCanonicalJson(bytes: Uint8Array, keep: KeepNode): string {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return documentJson(buf, 0, false, keep);
}
