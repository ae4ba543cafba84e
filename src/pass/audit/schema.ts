/**
 * Validation of audit Details against schemas/audit-event.v1.json. The schema file, not the
 * TypeScript types, is the published contract, so tests validate every event they produce with it:
 * a type change that forgets the schema (or the other way round) fails a test instead of a consumer.
 */
// The named export, not the default one: ajv is CommonJS (`module.exports = Ajv2020`, plus
// `exports.Ajv2020`), and under NodeNext resolution TypeScript types a default import of it as the
// module namespace ("not constructable"); the named export is the same class and types correctly.
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import auditEventSchema from '../../../schemas/audit-event.v1.json' with { type: 'json' };
import type { AuditDetail } from './events.ts';

// RFC 3339 date-time, the profile of ISO 8601 that Date.prototype.toISOString() produces. Added by
// hand because ajv-formats is not a dependency; the schema also carries the same `pattern`, so
// consumers whose validator ignores `format` (the 2020-12 default: annotation only) still check it.
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

// strict: unknown keywords or formats in the schema are a bug in the schema, so fail at load time.
// strictRequired is off because the conditional `then: { required: [...] }` branches name
// properties declared by the enclosing schema, which that check does not look through.
interface Compiled {
  validate: ValidateFunction;
  /**
   * The `oneOf` branches compiled on their own: when a detail fails, the errors of the branch its
   * `kind` selects are what a reader needs; the oneOf's errors list every branch's complaints.
   */
  branches: Record<string, ValidateFunction | undefined>;
}

let compiled: Compiled | null = null;

/**
 * Compiled once, on first use: compilation generates code and is far slower than validation, and the
 * Lambda functions, which import this module through the audit stage, never validate, so their cold
 * start does not pay for it (the review tools and the tests do).
 */
function compiledSchema(): Compiled {
  if (compiled) return compiled;
  const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false });
  ajv.addFormat('date-time', { type: 'string', validate: (s: string) => DATE_TIME.test(s) && !Number.isNaN(Date.parse(s)) });
  const validate = ajv.compile(auditEventSchema);
  compiled = {
    validate,
    branches: {
      decision: ajv.getSchema(`${auditEventSchema.$id}#/$defs/decision`),
      run: ajv.getSchema(`${auditEventSchema.$id}#/$defs/run`),
    },
  };
  return compiled;
}

/** The schema's `$id`, for consumers that register it (e.g. an EventBridge schema registry). */
export const AUDIT_SCHEMA_ID: string = auditEventSchema.$id;

/** Problems with the detail as "path: message" strings; empty when the detail is valid. */
export function validateAuditDetail(detail: unknown): string[] {
  const { validate, branches } = compiledSchema();
  if (validate(detail)) return [];
  const kind = typeof detail === 'object' && detail !== null ? (detail as { kind?: unknown }).kind : undefined;
  const branch = typeof kind === 'string' ? branches[kind] : undefined;
  if (branch && !branch(detail)) return (branch.errors ?? []).map(formatError);
  return (validate.errors ?? []).map(formatError);
}

/** Narrowing form for callers that want the type back. */
export function isValidAuditDetail(detail: unknown): detail is AuditDetail {
  return compiledSchema().validate(detail);
}

function formatError(error: ErrorObject): string {
  const where = error.instancePath === '' ? '(detail)' : error.instancePath;
  const params = error.keyword === 'additionalProperties'
    ? ` (${String((error.params as { additionalProperty?: unknown }).additionalProperty)})`
    : '';
  return `${where}: ${error.message ?? error.keyword}${params}`;
}
