/**
 * `audit report --html FILE`: one self-contained page. CSS, script and the SVG chart are inline, and
 * the Content-Security-Policy forbids loading anything else, so the page shows the same offline,
 * attached to a ticket or opened years later, and cannot call out when a reviewer opens it.
 *
 * Every number a reader sees is also in a `data-value` attribute next to a `data-figure` name (see
 * figureAttrs), so a test in a browser can check the rendered figures against the events.
 */
import type { ScanSummary } from '../scan.ts';
import type { ReviewRow } from '../row.ts';
import { top, type OutcomeCounts, type ReportCollector } from './aggregate.ts';
import { killsChart } from './chart.ts';
import { esc, figureAttrs, num } from './escape.ts';
import { PAGE_SCRIPT } from './page-script.ts';

/** Bars the chart draws at most: buckets coarsen until the span fits. */
export const CHART_BARS = 48;
/** Entries in the top users and top applications tables. */
export const TOP_N = 10;

export interface ReportMeta {
  /** Where the events came from: "file audit.jsonl", "log group /aws/events/...". */
  source: string;
  /** The filter in words (describeFilter). */
  filter: string;
  generatedAt: Date;
  summary: ScanSummary;
}

const CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'";

const STYLE = `
:root { --ink: #1d2330; --muted: #5b6472; --line: #d9dde3; --soft: #f4f6f8; --bad: #b3261e; --warn: #8a5a00; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); margin: 0; padding: 24px 32px 48px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 32px 0 10px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
.meta { color: var(--muted); margin: 0 0 16px; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(125px, 1fr)); gap: 10px; }
.card { background: var(--soft); border-radius: 6px; padding: 10px 12px; }
.card .value { display: block; font-size: 24px; font-weight: 600; }
.card .label { color: var(--muted); font-size: 12px; }
.card.bad .value { color: var(--bad); }
.card.warn .value { color: var(--warn); }
.grid { stroke: var(--line); stroke-width: 1; }
.tick, .axis { fill: var(--muted); font-size: 11px; }
.legend { list-style: none; padding: 0; margin: 6px 0 0; display: flex; flex-wrap: wrap; gap: 6px 18px; }
.swatch { display: inline-block; width: 11px; height: 11px; border-radius: 2px; margin-right: 6px; vertical-align: -1px; }
.columns { display: grid; grid-template-columns: 1fr 1fr; gap: 24px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--soft); font-weight: 600; white-space: nowrap; }
#events-table th { cursor: pointer; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.note { max-width: 520px; word-break: break-word; }
td.time { white-space: nowrap; font-variant-numeric: tabular-nums; }
tr.failed td.outcome { color: var(--bad); font-weight: 600; }
tr.skipped td.outcome { color: var(--warn); }
.empty { color: var(--muted); font-style: italic; }
input[type=search] { padding: 5px 8px; width: 320px; margin: 0 8px 8px 0; }
code { font-size: 12px; }
`;

function card(figure: string, value: number, label: string, tone = ''): string {
  return `<div class="card${tone ? ` ${tone}` : ''}"><span class="value" id="fig-${esc(figure)}" ${figureAttrs(figure, value)}>${num(value)}</span><span class="label">${esc(label)}</span></div>`;
}

function countCell(figure: string, key: string, value: number): string {
  return `<td class="num" ${figureAttrs(figure, value, key)}>${num(value)}</td>`;
}

function topTable(id: string, what: string, entries: [string, OutcomeCounts][]): string {
  if (entries.length === 0) return `<p class="empty">No decisions.</p>`;
  const rows = entries.map(([name, c]) =>
    `<tr><td>${esc(name)}</td>${countCell(`${id}-killed`, name, c.killed)}${countCell(`${id}-planned`, name, c.planned)}` +
      `${countCell(`${id}-failed`, name, c.failed)}${countCell(`${id}-skipped`, name, c.skipped)}</tr>`,
  );
  return `<table id="top-${id}"><thead><tr><th>${esc(what)}</th><th class="num">killed</th><th class="num">planned (dry run)</th>` +
    `<th class="num">failed</th><th class="num">skipped</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function issuesTable(report: ReportCollector): string {
  const groups = [...report.issues.values()].sort((a, b) => (a.outcome === b.outcome ? b.count - a.count : a.outcome === 'failed' ? -1 : 1));
  if (groups.length === 0) return '<p class="empty" id="issues-empty">No kill failed and none was skipped.</p>';
  const rows = groups.map((g) =>
    `<tr class="${g.outcome}"><td class="outcome">${g.outcome}</td><td>${esc(g.rule)}</td>` +
      `<td class="num" ${figureAttrs(`issue-${g.outcome}`, g.count, g.rule)}>${num(g.count)}</td>` +
      `<td class="time">${new Date(g.firstMs).toISOString()}</td><td class="time">${new Date(g.lastMs).toISOString()}</td><td class="note">${esc(g.note)}</td></tr>`,
  );
  return `<table id="issues"><thead><tr><th>outcome</th><th>rule</th><th class="num">events</th><th>first</th><th>last</th>` +
    `<th>why it was skipped / what the server said</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function comparisonTable(report: ReportCollector): string {
  const rules = [...report.rules.values()].sort((a, b) => a.rule.localeCompare(b.rule));
  const runs = card('runs-real', report.runs.real, 'real runs') + card('runs-dry', report.runs.dry, 'dry runs');
  if (rules.length === 0) return `<div class="cards">${runs}</div><p class="empty">No decisions.</p>`;
  const rows = rules.map((r) =>
    `<tr><td>${esc(r.rule)}</td>${countCell('rule-dry-planned', r.rule, r.dryPlanned)}${countCell('rule-dry-skipped', r.rule, r.drySkipped)}` +
      `${countCell('rule-killed', r.rule, r.killed)}${countCell('rule-failed', r.rule, r.failed)}${countCell('rule-real-skipped', r.rule, r.realSkipped)}</tr>`,
  );
  return `<div class="cards">${runs}</div>` +
    `<table id="dry-vs-real"><thead><tr><th>rule</th><th class="num">dry runs: planned</th><th class="num">dry runs: skipped</th>` +
    `<th class="num">real runs: killed</th><th class="num">real runs: failed</th><th class="num">real runs: skipped</th></tr></thead>` +
    `<tbody>${rows.join('')}</tbody></table>`;
}

function eventRow(r: ReviewRow): string {
  const session = r.opid ? `op ${r.opid}` : r.sessionId;
  return `<tr class="${esc(r.outcome)}"><td class="time">${esc(r.time)}</td><td class="outcome">${esc(r.outcome)}</td><td>${r.dryRun ? 'dry run' : 'real'}</td>` +
    `<td>${esc(r.cluster)}</td><td>${esc(r.runId.slice(0, 8))}</td><td>${esc(r.rule)}</td><td>${esc(r.user)}</td><td>${esc(r.app)}</td>` +
    `<td><code>${esc(session)}</code></td><td class="note">${esc(r.note || r.reason)}</td></tr>`;
}

function eventsTable(report: ReportCollector): string {
  const { rows, total } = report.tableRows();
  const note = rows.length < total
    ? `The ${num(rows.length)} most recent of ${num(total)} events; narrow the filters (--since, --cluster, ...) to list the others.`
    : `All ${num(total)} events.`;
  return `<p><input type="search" id="table-filter" placeholder="Filter rows (user, app, rule, session...)" aria-label="Filter rows">` +
    `<span id="rows-shown" ${figureAttrs('rows-shown', rows.length)}>${num(rows.length)}</span> rows shown. ` +
    `<span id="rows-listed" ${figureAttrs('rows-listed', rows.length)}>${esc(note)}</span></p>` +
    `<table id="events-table"><thead><tr><th>time</th><th>outcome</th><th>mode</th><th>cluster</th><th>run</th><th>rule</th><th>user</th>` +
    `<th>application</th><th>session</th><th>why / reason</th></tr></thead><tbody id="events-body">${rows.map(eventRow).join('')}</tbody></table>`;
}

function problemsSection(report: ReportCollector): string {
  if (report.problemCount === 0) return '';
  const items = report.problems.map((p) => `<li><b>${esc(p.where)}</b> (${p.kind}): ${esc(p.message)}</li>`);
  const more = report.problemCount > report.problems.length ? `<p>…and ${num(report.problemCount - report.problems.length)} more (all listed on stderr when the report was made).</p>` : '';
  return `<h2>Input that could not be read</h2><p>Lines or log events that were not valid audit events: ${num(report.problemCount)}. ` +
    `They are left out of every figure above.</p><ul id="problems">${items.join('')}</ul>${more}`;
}

export function renderReportHtml(report: ReportCollector, meta: ReportMeta): string {
  const span = report.events
    ? `${new Date(report.firstMs).toISOString()} to ${new Date(report.lastMs).toISOString()}`
    : 'no events';
  const o = report.outcomes;
  const s = meta.summary;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Session reaper audit report</title>
<style>${STYLE}</style>
</head>
<body>
<h1>Session reaper audit report</h1>
<p class="meta">Source: ${esc(meta.source)} · Filter: ${esc(meta.filter)} · Events from ${esc(span)} · Generated ${esc(meta.generatedAt.toISOString())}</p>
<div class="cards">
${card('events', report.events, 'audit events shown')}
${card('killed', o.killed, 'sessions killed')}
${card('planned', o.planned, 'kills planned by dry runs')}
${card('failed', o.failed, 'kills failed', o.failed ? 'bad' : '')}
${card('skipped', o.skipped, 'kills skipped', o.skipped ? 'warn' : '')}
${card('runs', report.runs.real + report.runs.dry, 'reaper runs')}
${card('runs-report-only', report.runs.reportOnly, 'runs turned report-only', report.runs.reportOnly ? 'warn' : '')}
${card('problems', report.problemCount, 'unreadable lines or log events', report.problemCount ? 'bad' : '')}
</div>
<p class="meta">Read ${num(s.read)} lines or log events: ${num(s.events)} audit events, ${num(s.matched)} matching the filter.</p>

<h2>Kills over time by rule</h2>
${killsChart(report.kills.series(CHART_BARS))}

<div class="columns">
<section><h2>Top users</h2>${topTable('user', 'user', top(report.users, TOP_N))}</section>
<section><h2>Top applications</h2>${topTable('app', 'application', top(report.apps, TOP_N))}</section>
</div>

${report.members.size ? `<h2>Kills per replica-set member</h2>\n${topTable('member', 'member', top(report.members, report.members.size))}\n` : ''}
<h2>Failures and skips</h2>
${issuesTable(report)}

<h2>Dry run against real</h2>
${comparisonTable(report)}
${problemsSection(report)}
<h2>Events</h2>
${eventsTable(report)}
<script>${PAGE_SCRIPT}</script>
</body>
</html>
`;
}
