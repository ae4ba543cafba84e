/**
 * Validation of audit Details against schemas/audit-event.v1.json. The schema file, not the
 * TypeScript types, is the published contract, so tests validate every event they produce with it,
 * and the review tools every line they read: a type change that forgets the schema (or the other way
 * round) fails a test instead of a consumer.
 */
// Compiled ahead of time by scripts/generate-validators.ts (`npm run generate`), like every schema.
import { validateAuditDetail as validateDetail } from './generated/validate-audit-detail.js';
import { validateDecisionDetail } from './generated/validate-decision-detail.js';
import { validateRunDetail } from './generated/validate-run-detail.js';
import { isObject, validationProblems, type CompiledValidator } from '../../util/validate.ts';
import auditEventSchema from '../../../schemas/audit-event.v1.json' with { type: 'json' };
import type { AuditDetail } from './events.ts';

/** The schema's `$id`, for consumers that register it (e.g. an EventBridge schema registry). */
export const AUDIT_SCHEMA_ID: string = auditEventSchema.$id;

/**
 * The `oneOf` branches on their own: when a detail fails, the errors of the branch its `kind`
 * selects are what a reader needs; the oneOf's errors list every branch's complaints.
 */
const BRANCHES: Record<string, CompiledValidator | undefined> = { decision: validateDecisionDetail, run: validateRunDetail };

/** Problems with the detail, each naming the field ("session.uid") and what it must be; empty when valid. */
export function validateAuditDetail(detail: unknown): string[] {
  if (validateDetail(detail)) return [];
  const kind = isObject(detail) ? detail.kind : undefined;
  const branch = typeof kind === 'string' ? BRANCHES[kind] : undefined;
  return validationProblems(branch ?? validateDetail, detail, { name: 'the detail', fields: 'quoted' });
}

/** Narrowing form for callers that want the type back. */
export function isValidAuditDetail(detail: unknown): detail is AuditDetail {
  return validateDetail(detail);
}
