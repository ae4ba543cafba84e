/**
 * Manual requests: "kill these sessions", "kill these users' sessions", or "run this policy set",
 * sent by an operator as a direct invocation of the reaper function.
 *
 * A manual kill goes through the same pipeline as any pass, not around it: the request becomes a
 * one-off policy set whose kill rule matches the named sessions or users, next to every protect
 * rule of the cluster's own policy set and a protection of the reaper's own user. runPass then
 * inventories, evaluates, plans (never the reaper's own session, {id, uid} always, the caps),
 * kills and audits one event per decision, exactly as for a scheduled pass. A session the cluster's
 * policy protects (a backup agent, a prepared transaction, __system) is therefore NOT killed by a
 * manual request either: it is audited as a skipped kill naming the protection, and the operator
 * who really means it changes the policy, which leaves a trace.
 *
 * Manual requests are dry runs unless the payload says "dryRun": false.
 */
import { InvalidTriggerError } from '../util/errors.ts';
import { parsePolicySet } from '../pass/policy/load.ts';
import type { PolicySet } from '../pass/policy/types.ts';

/**
 * At most this many session ids or users per request (our choice): a manual request is a human's
 * list; beyond that, a policy says it better. Also keeps the one-off rule's `in` list small.
 */
export const MANUAL_MAX_TARGETS = 500;

/** Longest reason kept (our choice): it goes into every audit event of the request. */
export const MANUAL_MAX_REASON_CHARS = 500;

export const MANUAL_ACTIONS = ['kill-sessions', 'kill-user-sessions', 'run-policy-set'] as const;
export type ManualAction = (typeof MANUAL_ACTIONS)[number];

export interface ManualRequest {
  action: ManualAction;
  cluster?: string;
  /** Lowercase canonical UUIDs (kill-sessions). */
  sessionIds: string[];
  /** "name@db" (kill-user-sessions). */
  users: string[];
  /** run-policy-set. */
  policySet?: string;
  reason: string;
  /** Who asked, for the audit trail's trigger name. */
  requestedBy?: string;
  dryRun: boolean;
}

export const MANUAL_EXAMPLES = {
  'kill-sessions': '{"action":"kill-sessions","cluster":"orders","sessionIds":["6f1c2d9e-3b4a-4c5d-8e7f-0a1b2c3d4e5f"],"reason":"INC-1234 stuck checkout","dryRun":false}',
  'kill-user-sessions': '{"action":"kill-user-sessions","cluster":"orders","users":["reporting@admin"],"reason":"runaway report job","dryRun":false}',
  'run-policy-set': '{"action":"run-policy-set","cluster":"orders","policySet":"strict","dryRun":true}',
} as const;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** A MongoDB user as the inventory reports it: "name@db". */
const USER = /^[^@\s]+@[^@\s]+$/;

const FIELDS: Record<ManualAction, readonly string[]> = {
  'kill-sessions': ['sessionIds', 'reason'],
  'kill-user-sessions': ['users', 'reason'],
  'run-policy-set': ['policySet'],
};
const COMMON = ['kind', 'action', 'cluster', 'requestedBy', 'dryRun', 'reason'];

function fail(message: string, action?: ManualAction): never {
  const example = action ? MANUAL_EXAMPLES[action] : MANUAL_EXAMPLES['kill-sessions'];
  throw new InvalidTriggerError(`invalid manual request: ${message}; nothing was killed. Example: ${example}`);
}

function stringList(value: unknown, field: string, action: ManualAction, check: (s: string) => boolean, what: string): string[] {
  if (!Array.isArray(value) || value.length === 0) fail(`"${field}" must be a non-empty array of ${what}`, action);
  if (value.length > MANUAL_MAX_TARGETS) fail(`"${field}" has ${value.length} entries; at most ${MANUAL_MAX_TARGETS} per request (write a policy for more)`, action);
  return value.map((v, i) => {
    if (typeof v !== 'string' || !check(v.trim())) fail(`"${field}"[${i}] must be ${what.replace(/s$/, '')}, got ${JSON.stringify(v)}`, action);
    return v.trim();
  });
}

/** Validates a manual payload. Throws InvalidTriggerError naming the field and showing an example. */
export function parseManualRequest(payload: unknown): ManualRequest {
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) fail('the payload must be a JSON object');
  const p = payload as Record<string, unknown>;
  if (p.kind !== undefined && p.kind !== 'manual') fail(`"kind" must be "manual" when given, got ${JSON.stringify(p.kind)}`);
  const action = p.action as ManualAction;
  if (!MANUAL_ACTIONS.includes(action)) fail(`"action" must be one of ${MANUAL_ACTIONS.join(', ')}, got ${JSON.stringify(p.action)}`);
  const allowed = [...COMMON, ...FIELDS[action]];
  const unknown = Object.keys(p).filter((k) => !allowed.includes(k));
  if (unknown.length) fail(`unexpected field(s) for "${action}": ${unknown.join(', ')} (allowed: ${allowed.join(', ')})`, action);
  if (p.dryRun !== undefined && typeof p.dryRun !== 'boolean') fail(`"dryRun" must be true or false, got ${JSON.stringify(p.dryRun)}`, action);
  const optionalText = (field: string): string | undefined => {
    const v = p[field];
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || v.trim() === '') fail(`"${field}" must be a non-empty string, got ${JSON.stringify(v)}`, action);
    return v.trim();
  };
  const reason = optionalText('reason');
  if (action !== 'run-policy-set' && reason === undefined) fail('"reason" is required: say why these sessions are killed (it goes into every audit event)', action);
  if (reason !== undefined && reason.length > MANUAL_MAX_REASON_CHARS) fail(`"reason" has ${reason.length} characters; at most ${MANUAL_MAX_REASON_CHARS}`, action);
  const cluster = optionalText('cluster');
  const requestedBy = optionalText('requestedBy');
  const policySet = optionalText('policySet');
  if (action === 'run-policy-set' && policySet === undefined) fail('"policySet" is required for run-policy-set', action);
  const sessionIds = action === 'kill-sessions' ? [...new Set(stringList(p.sessionIds, 'sessionIds', action, (s) => UUID.test(s), 'session id UUIDs').map((s) => s.toLowerCase()))] : [];
  const users = action === 'kill-user-sessions' ? [...new Set(stringList(p.users, 'users', action, (s) => USER.test(s), 'users as "name@db"s'))] : [];
  return {
    action, sessionIds, users, reason: reason ?? `manual run of policy set "${policySet}"`,
    dryRun: p.dryRun === undefined ? true : (p.dryRun as boolean),
    ...(cluster !== undefined ? { cluster } : {}),
    ...(requestedBy !== undefined ? { requestedBy } : {}),
    ...(policySet !== undefined ? { policySet } : {}),
  };
}

export const MANUAL_KILL_RULE = 'manual-request';
export const MANUAL_SELF_RULE = 'manual-request-never-the-reaper';

/**
 * The one-off policy set of a kill request: the base set's protect rules, a protection of the
 * reaper's own session and user (whatever the base set says), and one kill rule matching the named
 * sessions or users. The manual rules go through the policy loader like any policy file, so a
 * malformed one cannot slip past the validation the pipeline relies on.
 */
export function manualPolicySet(request: ManualRequest, base: PolicySet): PolicySet {
  if (request.action === 'run-policy-set') throw new InvalidTriggerError('run-policy-set runs a named policy set; it has no one-off set');
  const match = request.action === 'kill-sessions'
    ? { all: [{ fact: 'target', operator: 'equal', value: 'session' }, { fact: 'sessionId', operator: 'in', value: request.sessionIds }] }
    : { all: [{ fact: 'target', operator: 'equal', value: 'session' }, { fact: 'user', operator: 'in', value: request.users }] };
  const doc = {
    version: 1,
    description: 'One-off policy of a manual request',
    rules: [
      {
        name: MANUAL_SELF_RULE, priority: 100,
        conditions: { any: [{ fact: 'isReaperSession', operator: 'equal', value: true }, { fact: 'isReaperUser', operator: 'equal', value: true }] },
        event: { type: 'protect', params: { reason: 'a manual request never kills the reaper\'s own session or user' } },
      },
      { name: MANUAL_KILL_RULE, priority: 50, conditions: match, event: { type: 'kill', params: { reason: `manual request: ${request.reason}` } } },
    ],
  };
  const manual = parsePolicySet([{ path: 'manual-request.json', text: JSON.stringify(doc) }], { env: {} });
  const protections = base.rules.filter((r) => r.action === 'protect' && r.name !== MANUAL_SELF_RULE && r.name !== MANUAL_KILL_RULE);
  return {
    dir: `${base.dir} (protect rules) + manual request`,
    files: [...base.files, ...manual.files],
    parameters: base.parameters,
    parameterInfo: base.parameterInfo,
    rules: [...protections, ...manual.rules],
  };
}

/** The named sessions or users the pass found nothing of. */
export function notFound(request: ManualRequest, decisions: readonly { sessionId: string; user: string; rule: string }[]): string[] {
  if (request.action === 'kill-sessions') {
    const seen = new Set(decisions.map((d) => d.sessionId.toLowerCase()));
    return request.sessionIds.filter((id) => !seen.has(id));
  }
  if (request.action === 'kill-user-sessions') {
    const seen = new Set(decisions.map((d) => d.user));
    return request.users.filter((u) => !seen.has(u));
  }
  return [];
}
