/**
 * `session-reaper audit report --html` rendered in headless Chromium: the figures the page shows
 * (read back from its DOM after its script ran) match counts taken straight from the events, for a
 * real audit trail (three passes on the stand-in: dry run, failed kills, kills) and for a two-day
 * history with a hostile application name and a corrupt line. Screenshots are left in the temp
 * directory (named in the test output) for a person to look at.
 */
import { identityLabel } from '../src/util/identity-label.ts';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { FileAuditSink } from '../src/adapters/audit-file-sink.ts';
import { InMemoryAuditSink, TeeSink } from '../src/adapters/audit-sinks.ts';
import { validateAuditDetail } from '../src/pass/audit/schema.ts';
import { type AuditEvent, type DecisionDetail } from '../src/pass/audit/events.ts';
import { auditCommand } from '../src/cli/audit.ts';
import { historyEvents, historyJsonLines, passEvents, S } from './support/audit-history.ts';
import { capture } from './support/capture.ts';
import { barsIn, chromiumPath, dumpDom, figure, figuresIn, requireChromium, screenshot, visibleEventRows, type Figure } from './support/chromium.ts';
import { recordRealPasses } from './support/reaper-history.ts';

const SCREENSHOTS = join(tmpdir(), 'session-reaper-report-screenshots');

const decisions = (events: AuditEvent[]): DecisionDetail[] => events.flatMap((e) => (e.detail.kind === 'decision' ? [e.detail] : []));
const countBy = <T>(items: T[], key: (item: T) => string): Map<string, number> => {
  const m = new Map<string, number>();
  for (const item of items) m.set(key(item), (m.get(key(item)) ?? 0) + 1);
  return m;
};

describe('the report of a real audit trail, in the browser', () => {
  let dir: string;
  let events: AuditEvent[];
  let dom = '';
  let filteredDom = '';
  let figures: Figure[] = [];
  let made: { code: number; stderr: string };

  before(async () => {
    if (!chromiumPath() && process.env.CI !== 'true') return;
    // Prepare: three real passes, their events kept in memory and written by the file sink.
    dir = mkdtempSync(join(tmpdir(), 'audit-report-real-'));
    const file = join(dir, 'audit.jsonl');
    const memory = new InMemoryAuditSink();
    const fileSink = new FileAuditSink({ path: file });
    await recordRealPasses(new TeeSink([memory, fileSink]));
    await fileSink.close();
    events = memory.events;
    // Act: the report from the file, rendered by the browser.
    const html = join(dir, 'report.html');
    made = await capture((io) => auditCommand(['report', '--html', html, '--file', file], io));
    if (!chromiumPath()) return;
    dom = await dumpDom(pathToFileURL(html).href);
    filteredDom = await dumpDom(`${pathToFileURL(html).href}#filter=alice@admin`);
    figures = figuresIn(dom);
    mkdirSync(SCREENSHOTS, { recursive: true });
    await screenshot(pathToFileURL(html).href, join(SCREENSHOTS, 'real-trail.png'));
  });

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('every event the passes emitted is valid under the published schema', (t) => {
    if (requireChromium(t)) return;
    assert.ok(events.length >= 15, `${events.length} events`);
    for (const e of events) assert.deepEqual(validateAuditDetail(e.detail), [], e.detailType);
    assert.equal(made.code, 0, made.stderr);
  });

  it('the headline figures are the counts of the events', (t) => {
    if (requireChromium(t)) return;
    t.diagnostic(`screenshot: ${join(SCREENSHOTS, 'real-trail.png')}`);
    const byType = countBy(events, (e) => e.detailType);
    assert.equal(figure(figures, 'events'), events.length);
    assert.equal(figure(figures, 'killed'), byType.get('Session Killed'));
    assert.equal(figure(figures, 'planned'), byType.get('Session Kill Planned'));
    assert.equal(figure(figures, 'failed'), byType.get('Session Kill Failed'));
    assert.equal(figure(figures, 'skipped'), byType.get('Session Kill Skipped'));
    assert.equal(figure(figures, 'runs'), byType.get('Reaper Run Completed'));
    assert.equal(figure(figures, 'problems'), 0);
    // What the workload is known to produce, so the comparison above cannot pass on two zeros (the
    // prepared transaction is skipped by every pass, the backup tool by those that still see it).
    assert.deepEqual([figure(figures, 'killed'), figure(figures, 'planned'), figure(figures, 'failed')], [3, 3, 3]);
    assert.ok(figure(figures, 'skipped') >= 3);
  });

  it('kills over time by rule: the bars and the legend add up to the kills of each rule', (t) => {
    if (requireChromium(t)) return;
    const expected = countBy(decisions(events).filter((d) => d.outcome === 'killed'), (d) => d.rule);
    const bars = barsIn(dom);
    const drawn = new Map<string, number>();
    for (const b of bars) drawn.set(b.rule, (drawn.get(b.rule) ?? 0) + b.count);
    assert.deepEqual(drawn, expected);
    for (const [rule, n] of expected) assert.equal(figure(figures, 'rule-kills', rule), n);
    assert.equal(expected.size, 3);
  });

  it('top users and applications: kills, plans, failures and skips of each', (t) => {
    if (requireChromium(t)) return;
    const ds = decisions(events);
    for (const outcome of ['killed', 'planned', 'failed', 'skipped'] as const) {
      for (const [user, n] of countBy(ds.filter((d) => d.outcome === outcome), (d) => d.session?.user ?? '')) {
        assert.equal(figure(figures, `user-${outcome}`, user), n, `${outcome} of ${user}`);
      }
      // The cursor-only session's application is unknown (null): shown as "(unknown)"; "" would be "(none)".
      for (const [app, n] of countBy(ds.filter((d) => d.outcome === outcome), (d) => identityLabel(d.session?.appName))) {
        assert.equal(figure(figures, `app-${outcome}`, app), n, `${outcome} of ${app}`);
      }
    }
    assert.equal(figure(figures, 'user-killed', 'bob@admin'), 1);
  });

  it('failures and skips, grouped by rule', (t) => {
    if (requireChromium(t)) return;
    const ds = decisions(events);
    for (const outcome of ['failed', 'skipped'] as const) {
      for (const [rule, n] of countBy(ds.filter((d) => d.outcome === outcome), (d) => d.rule)) {
        assert.equal(figure(figures, `issue-${outcome}`, rule), n, `${outcome} by ${rule}`);
      }
    }
    assert.match(dom, /13 Unauthorized: Failing command via &#39;failCommand&#39; failpoint|13 Unauthorized: Failing command via 'failCommand' failpoint/);
  });

  it('dry run against real: per rule, what dry runs planned and what real runs did', (t) => {
    if (requireChromium(t)) return;
    const ds = decisions(events);
    const count = (pred: (d: DecisionDetail) => boolean) => countBy(ds.filter(pred), (d) => d.rule);
    const checks: [string, Map<string, number>][] = [
      ['rule-dry-planned', count((d) => d.dryRun && d.outcome === 'planned')],
      ['rule-dry-skipped', count((d) => d.dryRun && d.outcome === 'skipped')],
      ['rule-killed', count((d) => !d.dryRun && d.outcome === 'killed')],
      ['rule-failed', count((d) => !d.dryRun && d.outcome === 'failed')],
      ['rule-real-skipped', count((d) => !d.dryRun && d.outcome === 'skipped')],
    ];
    for (const [name, expected] of checks) for (const [rule, n] of expected) assert.equal(figure(figures, name, rule), n, `${name} ${rule}`);
    assert.equal(figure(figures, 'runs-dry'), 1);
    assert.equal(figure(figures, 'runs-real'), 2);
  });

  it('the table underneath lists every event, and its filter (from the address) leaves the matching rows', (t) => {
    if (requireChromium(t)) return;
    assert.equal(visibleEventRows(dom).length, events.length);
    const alice = decisions(events).filter((d) => d.session?.user === 'alice@admin').length;
    const visible = visibleEventRows(filteredDom);
    assert.equal(alice, 3);
    assert.equal(visible.length, alice);
    assert.ok(visible.every((row) => row.includes('alice@admin')));
    assert.equal(figure(figuresIn(filteredDom), 'rows-shown'), alice, 'the page script updated the count');
  });
});

describe('the report of a two-day history, in the browser', () => {
  let dir: string;
  let dom = '';
  let figures: Figure[] = [];

  before(async () => {
    if (!chromiumPath()) return;
    // Prepare: the hand-written history, one pass with a hostile application name, and a corrupt line.
    dir = mkdtempSync(join(tmpdir(), 'audit-report-history-'));
    const hostile = passEvents({
      runId: 'run-hostile', cluster: 'prod-eu', trigger: { type: 'cli' }, dryRun: false,
      startedAt: '2024-05-02T09:40:00Z', finishedAt: '2024-05-02T09:40:01Z',
      decisions: [{ at: '2024-05-02T09:40:00.5Z', session: { ...S.bobQuery, appName: '<img src=x onerror="document.title=1">' }, rule: 'runaway-operation', outcome: 'killed' }],
    });
    const file = join(dir, 'audit.jsonl');
    writeFileSync(file, `${historyJsonLines([...historyEvents(), ...hostile])}{"truncated": \n`);
    const html = join(dir, 'report.html');
    // Act
    const made = await capture((io) => auditCommand(['report', '--html', html, '--file', file], io));
    assert.equal(made.code, 3, 'the corrupt line is reported');
    dom = await dumpDom(pathToFileURL(html).href);
    figures = figuresIn(dom);
    mkdirSync(SCREENSHOTS, { recursive: true });
    await screenshot(pathToFileURL(html).href, join(SCREENSHOTS, 'two-day-history.png'));
    writeFileSync(join(SCREENSHOTS, 'two-day-history.html'), readFileSync(html));
  });

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('draws one bar per hour, each kill in the hour it happened', (t) => {
    if (requireChromium(t)) return;
    t.diagnostic(`screenshot: ${join(SCREENSHOTS, 'two-day-history.png')}`);
    assert.match(dom, /<svg id="kills-chart"[^>]*data-bucket-ms="3600000"/);
    assert.deepEqual(barsIn(dom).sort((a, b) => a.bucket.localeCompare(b.bucket) || a.rule.localeCompare(b.rule)), [
      { rule: 'idle-transaction', bucket: '2024-05-01T10:00:00.000Z', count: 1 },
      { rule: 'runaway-operation', bucket: '2024-05-01T10:00:00.000Z', count: 1 },
      { rule: 'runaway-operation', bucket: '2024-05-02T08:00:00.000Z', count: 2 },
      { rule: 'runaway-operation', bucket: '2024-05-02T09:00:00.000Z', count: 1 },
    ]);
    assert.equal(figure(figures, 'rule-kills', 'runaway-operation'), 4);
  });

  it('names chosen by clients are shown as text: no element was made from them', (t) => {
    if (requireChromium(t)) return;
    assert.doesNotMatch(dom, /<img/);
    assert.match(dom, /&lt;img src=x onerror="document.title=1"&gt;/);
    assert.match(dom, /<title>Session reaper audit report<\/title>/);
    assert.equal(figure(figures, 'app-killed', '<img src=x onerror="document.title=1">'), 1);
  });

  it('the corrupt line is counted and listed with its line number', (t) => {
    if (requireChromium(t)) return;
    assert.equal(figure(figures, 'problems'), 1);
    assert.match(dom, /<ul id="problems"><li><b>line 16<\/b> \(malformed\): not JSON/);
    assert.equal(figure(figures, 'events'), 15);
    assert.equal(figure(figures, 'runs-report-only'), 1);
    // Sessionless operations have no user: counted apart, not dropped.
    assert.equal(figure(figures, 'user-killed', '(no session)'), 1);
  });
});
