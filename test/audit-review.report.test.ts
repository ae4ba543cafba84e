/**
 * The report's pieces without a browser: the time buckets coarsen exactly, the collector keeps the
 * most recent rows, and the page is self-contained and escapes what clients chose. The rendered
 * page itself is checked in headless Chromium in audit-review.browser.test.ts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseAuditText } from '../src/review/parse.ts';
import { ReportCollector } from '../src/review/report/aggregate.ts';
import { BUCKET_SIZES_MS, MAX_BUCKETS, TimeBuckets } from '../src/review/report/buckets.ts';
import { killsChart, foldSeries, OTHER_RULES } from '../src/review/report/chart.ts';
import { renderReportHtml } from '../src/review/report/html.ts';
import { emptySummary } from '../src/review/scan.ts';
import { historyJsonLines, passEvents, S } from './support/audit-history.ts';

const records = (text: string) => text.trimEnd().split('\n').map((l, i) => parseAuditText(l, `line ${i + 1}`).record!);

function render(collector: ReportCollector): string {
  collector.finish();
  return renderReportHtml(collector, { source: 'file test.jsonl', filter: 'all events', generatedAt: new Date('2024-06-01T00:00:00Z'), summary: emptySummary() });
}

describe('TimeBuckets', () => {
  it('coarsens exactly: every count survives, in the bucket that contains its time', () => {
    // Prepare: 30 days of kills at irregular minutes, three rules, 6,000 events.
    const buckets = new TimeBuckets();
    const start = Date.parse('2024-03-01T00:00:00Z');
    const expected: Record<string, number> = {};
    const perDay = new Map<number, number>();
    for (let i = 0; i < 6000; i++) {
      const t = start + ((i * 7_777_777) % (30 * 86_400_000));
      const rule = ['a', 'b', 'c'][i % 3]!;
      // Act
      buckets.add(t, rule);
      expected[rule] = (expected[rule] ?? 0) + 1;
      const day = Math.floor(t / 86_400_000) * 86_400_000;
      perDay.set(day, (perDay.get(day) ?? 0) + 1);
    }
    // Assess: bounded while collecting, and exact whatever the display size.
    assert.ok(buckets.sizeMs > BUCKET_SIZES_MS[0]!, 'coarsened past one minute');
    const daily = buckets.series(48);
    assert.equal(daily.sizeMs, 86_400_000);
    assert.deepEqual(daily.totals, expected);
    daily.starts.forEach((t, i) => {
      assert.equal(t % daily.sizeMs, 0);
      const sum = daily.series.reduce((s, name) => s + daily.counts[name]![i]!, 0);
      assert.equal(sum, perDay.get(t) ?? 0, new Date(t).toISOString());
    });
  });

  it('keeps one-minute buckets while they fit, and includes empty buckets between', () => {
    // Prepare
    const buckets = new TimeBuckets();
    buckets.add(Date.parse('2024-05-01T10:00:30Z'), 'x');
    buckets.add(Date.parse('2024-05-01T10:03:10Z'), 'x', 2);
    // Act
    const s = buckets.series(48);
    // Assess
    assert.equal(s.sizeMs, 60_000);
    assert.deepEqual(s.counts.x, [1, 0, 0, 2]);
    assert.ok(MAX_BUCKETS >= 48);
  });

  it('folds rules beyond the palette into one series, keeping the total', () => {
    const buckets = new TimeBuckets();
    for (let r = 0; r < 10; r++) buckets.add(0, `rule-${r}`, 10 - r);
    const folded = foldSeries(buckets.series(48));
    assert.equal(folded.series.length, 8);
    assert.equal(folded.series.at(-1), OTHER_RULES);
    assert.equal(folded.totals[OTHER_RULES], 3 + 2 + 1);
  });

  it('with no kills the chart is a sentence, not an empty axis', () => {
    assert.match(killsChart(new TimeBuckets().series(48)), /No session was killed/);
  });
});

describe('ReportCollector', () => {
  it('keeps the most recent rows, in time order, whatever order they came in', () => {
    // Prepare: the history's 13 events, newest first.
    const collector = new ReportCollector(4);
    // Act
    for (const r of records(historyJsonLines()).reverse()) collector.add(r);
    collector.finish();
    // Assess
    const { rows, total } = collector.tableRows();
    assert.equal(total, 13);
    assert.deepEqual(rows.map((r) => r.eventId), ['evt-10', 'evt-11', 'evt-12', 'evt-13']);
  });

  it('counts outcomes, runs, users, applications and the dry-run / real comparison', () => {
    const collector = new ReportCollector();
    for (const r of records(historyJsonLines())) collector.add(r);
    assert.deepEqual(collector.outcomes, { planned: 2, killed: 4, skipped: 2, failed: 1 });
    assert.deepEqual(collector.runs, { dry: 1, real: 3, reportOnly: 1, failed: 0 });
    assert.deepEqual(collector.users.get('dave@admin'), { planned: 0, killed: 1, skipped: 0, failed: 1 });
    assert.deepEqual(collector.apps.get('(no session)'), { planned: 0, killed: 1, skipped: 0, failed: 0 });
    assert.deepEqual(collector.rules.get('stale-cursor-session'), { rule: 'stale-cursor-session', dryPlanned: 1, drySkipped: 0, killed: 0, failed: 0, realSkipped: 1 });
  });
});

describe('the page', () => {
  const hostile = passEvents({
    runId: 'run-x', cluster: '<b>c</b>', trigger: { type: 'cli' }, dryRun: false, startedAt: '2024-05-01T00:00:00Z', finishedAt: '2024-05-01T00:00:01Z',
    decisions: [{ at: '2024-05-01T00:00:00.5Z', session: { ...S.bobQuery, user: 'x"><script>alert(1)</script>', appName: '<img src=x onerror=alert(2)>' }, rule: 'runaway-operation', outcome: 'killed' }],
  });

  it('is self-contained: no URL to load, and a policy that forbids loading any', () => {
    // Act
    const collector = new ReportCollector();
    for (const r of records(historyJsonLines())) collector.add(r);
    const html = render(collector);
    // Assess
    assert.match(html, /<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:;/);
    assert.doesNotMatch(html, /\s(src|href|action|srcset|poster|data)=/i);
    assert.doesNotMatch(html, /url\(|@import|https?:\/\//i);
    assert.equal((html.match(/<script>/g) ?? []).length, 1);
  });

  it('escapes what clients chose: names show as text, never as markup', () => {
    // Act
    const collector = new ReportCollector();
    for (const r of records(historyJsonLines(hostile))) collector.add(r);
    const html = render(collector);
    // Assess
    assert.doesNotMatch(html, /<img|<script>alert|<b>c<\/b>/);
    assert.match(html, /&lt;img src=x onerror=alert\(2\)&gt;/);
    assert.match(html, /data-key="x&quot;&gt;&lt;script&gt;alert\(1\)&lt;\/script&gt;"/);
  });
});
