/**
 * Decision events of the fleet case's shape (~860 bytes of detail each), for the benchmarks that publish a
 * pass's audit without running a pass (bench:put-events, the fleet's I/O floor).
 */
import { decisionEvent } from '../src/pass/audit/builder.ts';
import type { AuditEvent } from '../src/pass/audit/events.ts';

export function fleetDecisionEvents(count: number): AuditEvent[] {
  const ctx = { source: 'mongodb.session-reaper', runId: 'bench', cluster: 'c0', trigger: { type: 'schedule' as const }, dryRun: true, now: () => new Date() };
  return Array.from({ length: count }, (_, i) => decisionEvent(ctx, {
    target: 'session', operation: null, rule: 'idle-transaction', action: 'kill', outcome: 'planned',
    reason: 'transaction idle for more than 60s holds locks and cache',
    facts: { txnInactiveSeconds: 100 + i, appName: 'orders-api', user: 'app@admin' },
    session: { id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, uid: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', user: 'app@admin', appName: 'orders-api', client: '192.0.2.9:40008' },
  }));
}
