/**
 * IDL-style field checks with mongod's exact error texts.
 *
 * Source: mongodb/mongo `src/mongo/idl/idl_parser.cpp`:
 *  - wrong type:      TypeMismatch(14) "BSON field '<path>' is the wrong type '<t>', expected type '<t>'"
 *  - wrong bin type:  TypeMismatch(14) "BSON field '<path>' is the wrong binData type '<t>', expected type '<t>'"
 *  - missing:         40414 "BSON field '<path>' is missing but a required field"
 *  - unknown (strict): 40415 "BSON field '<path>' is an unknown field."
 * Paths carry array indexes only for elements that are not documents (docs/server-semantics.md#argument-errors).
 */
import { Binary, Long, Int32, Double, Decimal128, ObjectId, Timestamp, BSONRegExp, MinKey, MaxKey, type Document } from 'bson';
import { CommandError } from './errors.ts';

/** MongoDB's type name of a deserialised BSON value (as used in IDL messages and $type). */
export function bsonTypeName(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'missing';
  if (typeof v === 'string') return 'string';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return Number.isInteger(v) && Math.abs(v) <= 0x7fffffff ? 'int' : 'double';
  if (typeof v === 'bigint') return 'long';
  if (v instanceof Long) return 'long';
  if (v instanceof Int32) return 'int';
  if (v instanceof Double) return 'double';
  if (v instanceof Decimal128) return 'decimal';
  if (v instanceof Binary) return 'binData';
  if (v instanceof ObjectId) return 'objectId';
  if (v instanceof Date) return 'date';
  if (v instanceof Timestamp) return 'timestamp';
  if (v instanceof RegExp || v instanceof BSONRegExp) return 'regex';
  if (v instanceof MinKey) return 'minKey';
  if (v instanceof MaxKey) return 'maxKey';
  if (Array.isArray(v)) return 'array';
  return 'object';
}

/** Names of BinData subtypes as the IDL prints them (src/mongo/bson/bsontypes.cpp typeName(BinDataType)). */
const BIN_SUBTYPE_NAMES: Record<number, string> = {
  0: 'general', 1: 'function', 2: 'binary', 3: 'uuid_old', 4: 'UUID', 5: 'MD5', 6: 'encrypt', 7: 'Column', 8: 'Sensitive', 9: 'Vector', 128: 'bdtCustom',
};

export function wrongType(path: string, value: unknown, expected: string): CommandError {
  return new CommandError(14, 'TypeMismatch', `BSON field '${path}' is the wrong type '${bsonTypeName(value)}', expected type '${expected}'`);
}

export function missingField(path: string): CommandError {
  return new CommandError(40414, 'Location40414', `BSON field '${path}' is missing but a required field`);
}

export function unknownField(path: string): CommandError {
  return new CommandError(40415, 'Location40415', `BSON field '${path}' is an unknown field.`);
}

export function isNumber(v: unknown): boolean {
  return typeof v === 'number' || v instanceof Long || v instanceof Int32 || v instanceof Double || v instanceof Decimal128;
}

export function toNumber(v: unknown): number {
  if (typeof v === 'number') return v;
  if (v instanceof Long) return v.toNumber();
  if (v instanceof Int32 || v instanceof Double) return v.valueOf();
  if (v instanceof Decimal128) return Number(v.toString());
  if (typeof v === 'boolean') return v ? 1 : 0;
  return NaN;
}

/** Documents in arrays: `isDoc` is a plain object that is not an array and not a BSON value class. */
export function isDoc(v: unknown): v is Document {
  return bsonTypeName(v) === 'object';
}

export function expectArray(value: unknown, path: string): unknown[] {
  if (!Array.isArray(value)) throw wrongType(path, value, 'array');
  return value;
}

export function expectDoc(value: unknown, path: string): Document {
  if (!isDoc(value)) throw wrongType(path, value, 'object');
  return value;
}

export function expectString(value: unknown, path: string): string {
  if (value === undefined || value === null) throw missingField(path);
  if (typeof value !== 'string') throw wrongType(path, value, 'string');
  return value;
}

export function expectBool(value: unknown, path: string, dflt: boolean): boolean {
  if (value === undefined) return dflt;
  if (typeof value !== 'boolean') throw wrongType(path, value, 'bool');
  return value;
}

/** Rejects fields outside `allowed` for strict IDL structs. */
export function rejectUnknown(doc: Document, allowed: readonly string[], path: string): void {
  for (const key of Object.keys(doc)) {
    if (!allowed.includes(key)) throw unknownField(`${path}.${key}`);
  }
}

/**
 * A UUID field: binData subtype 4 of 16 bytes.
 * Subtype check: idl_parser.cpp checkAndAssertBinDataType; length check: UUID::parse, InvalidUUID(207)
 * "uuid must be a 16-byte binary field with UUID (4) subtype" (FerretDB tests against MongoDB;
 * docs/server-semantics.md#argument-errors).
 */
export function expectUuid(value: unknown, path: string): Binary {
  if (value === undefined || value === null) throw missingField(path);
  if (!(value instanceof Binary)) throw wrongType(path, value, 'binData');
  if (value.sub_type !== 4) {
    throw new CommandError(14, 'TypeMismatch', `BSON field '${path}' is the wrong binData type '${BIN_SUBTYPE_NAMES[value.sub_type] ?? value.sub_type}', expected type 'UUID'`);
  }
  if (value.length() !== 16) {
    throw new CommandError(207, 'InvalidUUID', 'uuid must be a 16-byte binary field with UUID (4) subtype');
  }
  return value;
}

/** A SHA256Block field: binData subtype 0 of 32 bytes (SHA256Block::fromBinData, UnsupportedFormat(12)). */
export function expectSha256(value: unknown, path: string): Buffer {
  if (value === undefined || value === null) throw missingField(path);
  if (!(value instanceof Binary)) throw wrongType(path, value, 'binData');
  if (value.sub_type !== 0) {
    throw new CommandError(14, 'TypeMismatch', `BSON field '${path}' is the wrong binData type '${BIN_SUBTYPE_NAMES[value.sub_type] ?? value.sub_type}', expected type 'general'`);
  }
  if (value.length() !== 32) {
    throw new CommandError(12, 'UnsupportedFormat', `Unsupported SHA256Block hash length: ${value.length()}`);
  }
  return Buffer.from(value.buffer.subarray(0, 32));
}
