/**
 * The report's "kills over time by rule": an inline SVG stacked bar chart, one bar per time bucket,
 * one colour per rule. Drawn as markup on the server side, so it needs no script and no library.
 */
import type { BucketSeries } from './buckets.ts';
import { esc, figureAttrs, num } from './escape.ts';

/** Okabe–Ito colours: told apart with the common colour-vision deficiencies. */
const PALETTE = ['#0072B2', '#E69F00', '#009E73', '#D55E00', '#CC79A7', '#56B4E9', '#F0E442', '#000000'];
/** Rules beyond this many are drawn together as one series. */
const MAX_SERIES = PALETTE.length - 1;
export const OTHER_RULES = '(other rules)';

const WIDTH = 960;
const HEIGHT = 300;
const MARGIN = { top: 12, right: 12, bottom: 44, left: 48 };
/** Room one x label needs, in SVG units ("05-01 10:00" at 11px is about 70). */
const LABEL_GAP = 90;

/** Folds the smallest series into one when there are more than the palette tells apart. */
export function foldSeries(data: BucketSeries): BucketSeries {
  if (data.series.length <= MAX_SERIES + 1) return data;
  const kept = data.series.slice(0, MAX_SERIES);
  const folded = data.series.slice(MAX_SERIES);
  const counts: Record<string, number[]> = {};
  const totals: Record<string, number> = {};
  for (const name of kept) {
    counts[name] = data.counts[name]!;
    totals[name] = data.totals[name]!;
  }
  counts[OTHER_RULES] = data.starts.map((_, i) => folded.reduce((sum, name) => sum + data.counts[name]![i]!, 0));
  totals[OTHER_RULES] = folded.reduce((sum, name) => sum + data.totals[name]!, 0);
  return { ...data, series: [...kept, OTHER_RULES], counts, totals };
}

export function colourOf(index: number): string {
  return PALETTE[index % PALETTE.length]!;
}

function label(ms: number, sizeMs: number): string {
  const iso = new Date(ms).toISOString();
  return sizeMs >= 86_400_000 ? iso.slice(0, 10) : `${iso.slice(5, 10)} ${iso.slice(11, 16)}`;
}

export function bucketName(sizeMs: number): string {
  const minutes = sizeMs / 60_000;
  if (minutes < 60) return `${minutes} minute${minutes === 1 ? '' : 's'}`;
  const hours = minutes / 60;
  if (hours < 24) return `${hours} hour${hours === 1 ? '' : 's'}`;
  const days = hours / 24;
  return `${days} day${days === 1 ? '' : 's'}`;
}

/** The SVG, or a sentence when nothing was killed. Bars carry data-rule / data-bucket / data-count. */
export function killsChart(input: BucketSeries): string {
  if (input.starts.length === 0) return '<p class="empty" id="kills-chart-empty">No session was killed in the events shown.</p>';
  const data = foldSeries(input);
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const stackTotals = data.starts.map((_, i) => data.series.reduce((sum, name) => sum + data.counts[name]![i]!, 0));
  const max = Math.max(1, ...stackTotals);
  const step = plotW / data.starts.length;
  // A few buckets must not make slabs: bars stay at most 60 units wide, centred in their step.
  const barW = Math.max(1, Math.min(60, step * 0.8));
  const y = (v: number): number => MARGIN.top + plotH - (v / max) * plotH;
  const parts: string[] = [];

  // Y axis: 0, the middle and the top, as whole numbers.
  for (const tick of [...new Set([0, Math.round(max / 2), max])]) {
    parts.push(`<line class="grid" x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${y(tick).toFixed(1)}" y2="${y(tick).toFixed(1)}"/>`);
    parts.push(`<text class="tick" x="${MARGIN.left - 6}" y="${(y(tick) + 4).toFixed(1)}" text-anchor="end">${num(tick)}</text>`);
  }
  data.starts.forEach((start, i) => {
    const x = MARGIN.left + i * step + (step - barW) / 2;
    let base = 0;
    data.series.forEach((name, s) => {
      const n = data.counts[name]![i]!;
      if (n === 0) return;
      const top = y(base + n);
      const bucket = new Date(start).toISOString();
      parts.push(
        `<rect class="bar" data-rule="${esc(name)}" data-bucket="${bucket}" data-count="${n}" x="${x.toFixed(1)}" y="${top.toFixed(1)}" ` +
          `width="${barW.toFixed(1)}" height="${(y(base) - top).toFixed(1)}" fill="${colourOf(s)}"><title>${esc(name)}: ${num(n)} killed from ${bucket}</title></rect>`,
      );
      base += n;
    });
  });
  // X labels: evenly spaced from the first, at least LABEL_GAP apart so they never overlap; the last
  // bucket gets one too when there is room after the one before it.
  const every = Math.max(1, Math.ceil(LABEL_GAP / step));
  const last = data.starts.length - 1;
  data.starts.forEach((start, i) => {
    const spaced = i % every === 0;
    const lastWithRoom = i === last && (last % every) * step >= LABEL_GAP;
    if (!spaced && !lastWithRoom) return;
    const x = MARGIN.left + i * step + step / 2;
    parts.push(`<text class="tick" x="${x.toFixed(1)}" y="${HEIGHT - MARGIN.bottom + 16}" text-anchor="middle">${esc(label(start, data.sizeMs))}</text>`);
  });
  parts.push(`<text class="axis" x="${MARGIN.left + plotW / 2}" y="${HEIGHT - 6}" text-anchor="middle">UTC, one bar per ${bucketName(data.sizeMs)}</text>`);

  const legend = data.series.map((name, s) =>
    `<li ${figureAttrs('rule-kills', data.totals[name]!, name)}><span class="swatch" style="background:${colourOf(s)}"></span>${esc(name)} <b>${num(data.totals[name]!)}</b></li>`,
  );
  return [
    `<svg id="kills-chart" role="img" aria-label="Sessions killed over time, by rule" viewBox="0 0 ${WIDTH} ${HEIGHT}" width="100%" ` +
      `data-bucket-ms="${data.sizeMs}">${parts.join('')}</svg>`,
    `<ul class="legend">${legend.join('')}</ul>`,
  ].join('\n');
}
