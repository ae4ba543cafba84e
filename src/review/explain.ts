/**
 * `audit explain SESSION_ID`: the story of one session, for the application owner who asks why it
 * died. Every decision event about the session is one pass that saw it (rule, matched facts,
 * outcome); the pass's run summary adds the context (trigger, dry run, report-only and why).
 *
 * Only decisions that act leave events: a pass that found nothing to do about the session, or that
 * protected it with no kill rule matching, has nothing to tell, and the story says so.
 */
import { identityLabel, UNKNOWN_LABEL } from '../util/identity-label.ts';
import type { DecisionDetail, TriggerInfo } from '../pass/audit/events.ts';
import { isDecision, isRun, type AuditRecord, type DecisionRecord } from './record.ts';
import { errorText, runTally, triggerText } from './row.ts';
import { printable } from '../util/terminal.ts';

/** What the story needs of a run summary; kept for every run read, so it stays small. */
export interface PassContext {
  runId: string;
  trigger: TriggerInfo;
  dryRun: boolean;
  reportOnly: boolean;
  reportOnlyReason: string | null;
  tally: string;
}

export interface StoryStep {
  time: string;
  runId: string;
  cluster: string;
  dryRun: boolean;
  trigger: TriggerInfo;
  rule: string;
  action: DecisionDetail['action'];
  reason: string;
  facts: Record<string, unknown>;
  outcome: DecisionDetail['outcome'];
  why?: string;
  error?: DecisionDetail['error'];
  killBatch?: DecisionDetail['killBatch'];
  eventId: string;
  /** The pass's run summary, when it was among the events read. */
  pass: PassContext | null;
}

export interface SessionStory {
  sessionId: string;
  uid: string;
  user: string;
  app: string;
  clients: string[];
  clusters: string[];
  steps: StoryStep[];
  verdict: string;
}

/** Collects, in one read, the decisions about sessions matching an id (or its leading characters). */
export class StoryCollector {
  readonly #prefix: string;
  readonly #decisions = new Map<string, DecisionRecord[]>();
  readonly #passes = new Map<string, PassContext>();

  constructor(sessionIdOrPrefix: string) {
    this.#prefix = sessionIdOrPrefix.toLowerCase();
  }

  add(record: AuditRecord): void {
    if (isRun(record)) {
      const d = record.detail;
      this.#passes.set(d.runId, {
        runId: d.runId, trigger: d.trigger, dryRun: d.dryRun, reportOnly: d.reportOnly,
        reportOnlyReason: d.reportOnlyReason, tally: runTally(d.counts),
      });
    } else if (isDecision(record) && record.detail.session?.id.toLowerCase().startsWith(this.#prefix)) {
      const id = record.detail.session.id;
      const list = this.#decisions.get(id) ?? [];
      list.push(record);
      this.#decisions.set(id, list);
    }
  }

  /** Full ids of the sessions that matched: one normally, several when a short prefix is ambiguous. */
  matchedIds(): string[] {
    return [...this.#decisions.keys()].sort();
  }

  story(sessionId: string): SessionStory {
    const records = [...(this.#decisions.get(sessionId) ?? [])].sort((a, b) => a.timeMs - b.timeMs);
    const steps = records.map((r): StoryStep => {
      const d = r.detail;
      return {
        time: d.time, runId: d.runId, cluster: d.cluster, dryRun: d.dryRun, trigger: d.trigger, rule: d.rule,
        action: d.action, reason: d.reason, facts: d.facts, outcome: d.outcome,
        ...(d.why !== undefined ? { why: d.why } : {}),
        ...(d.error !== undefined ? { error: d.error } : {}),
        ...(d.killBatch !== undefined ? { killBatch: d.killBatch } : {}),
        eventId: r.eventId,
        pass: this.#passes.get(d.runId) ?? null,
      };
    });
    const last = records.at(-1)?.detail.session;
    return {
      sessionId,
      uid: last?.uid ?? '',
      user: last?.user ?? '',
      app: last ? identityLabel(last.appName) : '',
      clients: [...new Set(records.map((r) => identityLabel(r.detail.session?.client)))],
      clusters: [...new Set(records.map((r) => r.detail.cluster))],
      steps,
      verdict: verdict(steps),
    };
  }
}

function verdict(steps: readonly StoryStep[]): string {
  const killed = steps.find((s) => s.outcome === 'killed');
  if (killed) return `killed at ${killed.time} by rule "${killed.rule}" in pass ${killed.runId}`;
  const last = steps.at(-1);
  if (!last) return 'no pass decided anything about this session in the events read';
  if (last.outcome === 'failed') return `not killed: the last kill attempt (rule "${last.rule}") failed`;
  if (last.outcome === 'planned') return `not killed: only dry runs planned to kill it (last by rule "${last.rule}")`;
  return `not killed: the last pass skipped it (${last.why ?? last.rule})`;
}

function factsText(facts: Record<string, unknown>): string {
  const entries = Object.entries(facts);
  return entries.length ? entries.map(([k, v]) => `${k}=${typeof v === 'string' ? v : v === null ? UNKNOWN_LABEL : JSON.stringify(v)}`).join(', ') : '(none recorded)';
}

function outcomeText(step: StoryStep): string {
  const batch = step.killBatch ? ` (killSessions batch ${step.killBatch.index + 1}, ${step.killBatch.size} session(s) in it)` : '';
  switch (step.outcome) {
    case 'killed': return `killed${batch}`;
    case 'failed': return `failed${batch}: ${step.error ? errorText(step.error) : 'no error recorded'}`;
    case 'skipped': return `skipped: ${step.why ?? ''}`;
    case 'planned': return 'planned: a dry run, nothing was killed';
  }
}

function passText(step: StoryStep): string {
  const parts = [`pass ${step.runId}`, `cluster ${step.cluster}`, `trigger ${triggerText(step.trigger)}`];
  if (step.dryRun) parts.push('dry run');
  if (step.pass?.reportOnly) parts.push(`report-only: ${step.pass.reportOnlyReason ?? ''}`);
  return parts.join(', ');
}

/** The story as text for a terminal (client-supplied names made printable). */
export function renderStory(story: SessionStory): string {
  const who = [`user ${story.user || '-'}`, `application ${story.app || '-'}`];
  if (story.clients.length) who.push(`client ${story.clients.join(', ')}`);
  const lines = [
    `session ${story.sessionId}`,
    `  ${who.join(', ')}`,
    `  uid ${story.uid}`,
    `  seen by ${story.steps.length} pass(es) that decided something about it; ${story.verdict}`,
  ];
  story.steps.forEach((step, i) => {
    lines.push(
      '',
      `${i + 1}. ${step.time}  ${passText(step)}`,
      `   rule     ${step.rule} (${step.action}): ${step.reason}`,
      `   facts    ${factsText(step.facts)}`,
      `   outcome  ${outcomeText(step)}`,
      step.pass ? `   the pass ${step.pass.tally}` : '   the pass (its run summary was not among the events read)',
    );
  });
  return lines.map(printable).join('\n');
}
