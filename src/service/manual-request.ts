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
import { isObject, validated } from '../util/validate.ts';
import { parsePolicySet } from '../pass/policy/load.ts';
import type { PolicySet } from '../pass/policy/types.ts';
// schemas/triggers.json#/$defs/manualRequest (the limits are there), compiled ahead of time by
// scripts/generate-validators.ts (`npm run generate`).
import { validateManualRequest } from './generated/validate-manual-request.js';

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

/** The payload as the schema accepts it. */
interface ManualPayload {
  action: ManualAction;
  cluster?: string;
  sessionIds?: string[];
  users?: string[];
  policySet?: string;
  reason?: string;
  requestedBy?: string;
  dryRun?: boolean;
}

/** Validates a manual payload. Throws InvalidTriggerError naming every problem and showing an example. */
export function parseManualRequest(payload: unknown): ManualRequest {
  const asked = isObject(payload) ? MANUAL_ACTIONS.find((a) => a === payload.action) : undefined;
  const p = validated<ManualPayload>(validateManualRequest, payload, { name: 'the manual request' },
    (problems) => new InvalidTriggerError(`${problems}; nothing was killed. Example: ${MANUAL_EXAMPLES[asked ?? 'kill-sessions']}`));
  const trimmed = (v: string | undefined): string | undefined => v?.trim();
  const policySet = trimmed(p.policySet);
  return {
    action: p.action,
    sessionIds: [...new Set((p.sessionIds ?? []).map((s) => s.toLowerCase()))],
    users: [...new Set(p.users ?? [])],
    reason: trimmed(p.reason) ?? `manual run of policy set "${policySet}"`,
    dryRun: p.dryRun ?? true,
    ...(p.cluster !== undefined ? { cluster: trimmed(p.cluster)! } : {}),
    ...(p.requestedBy !== undefined ? { requestedBy: trimmed(p.requestedBy)! } : {}),
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
