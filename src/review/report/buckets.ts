/**
 * Counts per time bucket and series (kills per rule), in bounded memory for any time span: buckets
 * start at one minute and, whenever more than MAX_BUCKETS are in use, every bucket is merged into
 * the next coarser size. Each size divides the next and buckets are aligned to the Unix epoch, so
 * merging is exact: a coarse bucket is precisely the sum of the fine ones it covers.
 */
export const BUCKET_SIZES_MS: readonly number[] = [
  60_000, 5 * 60_000, 15 * 60_000, 3_600_000, 6 * 3_600_000, 86_400_000, 7 * 86_400_000, 28 * 86_400_000,
];

/** Buckets kept before coarsening: far more than a chart shows, far fewer than memory would notice. */
export const MAX_BUCKETS = 2_000;

export interface BucketSeries {
  sizeMs: number;
  /** Bucket starts, ascending, every bucket from the first to the last (empty ones included). */
  starts: number[];
  /** Series names, ordered by total, largest first. */
  series: string[];
  /** counts[series][bucket] */
  counts: Record<string, number[]>;
  totals: Record<string, number>;
}

export class TimeBuckets {
  #sizeIndex = 0;
  #buckets = new Map<number, Map<string, number>>();

  get sizeMs(): number {
    return BUCKET_SIZES_MS[this.#sizeIndex]!;
  }

  add(timeMs: number, series: string, n = 1): void {
    const start = Math.floor(timeMs / this.sizeMs) * this.sizeMs;
    let bucket = this.#buckets.get(start);
    if (!bucket) {
      bucket = new Map();
      this.#buckets.set(start, bucket);
    }
    bucket.set(series, (bucket.get(series) ?? 0) + n);
    while (this.#buckets.size > MAX_BUCKETS && this.#sizeIndex < BUCKET_SIZES_MS.length - 1) this.#coarsen(this.#sizeIndex + 1);
  }

  #coarsen(sizeIndex: number): void {
    const size = BUCKET_SIZES_MS[sizeIndex]!;
    const merged = new Map<number, Map<string, number>>();
    for (const [start, bucket] of this.#buckets) {
      const to = Math.floor(start / size) * size;
      const target = merged.get(to) ?? new Map<string, number>();
      for (const [name, n] of bucket) target.set(name, (target.get(name) ?? 0) + n);
      merged.set(to, target);
    }
    this.#buckets = merged;
    this.#sizeIndex = sizeIndex;
  }

  /**
   * The counts at the finest kept size that gives at most `maxBars` buckets between the first and
   * the last one holding anything. Coarsens a copy: the collector can go on counting.
   */
  series(maxBars: number): BucketSeries {
    const copy = new TimeBuckets();
    copy.#sizeIndex = this.#sizeIndex;
    copy.#buckets = this.#buckets;
    const span = (): number => {
      const starts = [...copy.#buckets.keys()];
      return starts.length ? (Math.max(...starts) - Math.min(...starts)) / copy.sizeMs + 1 : 0;
    };
    while (span() > maxBars && copy.#sizeIndex < BUCKET_SIZES_MS.length - 1) copy.#coarsen(copy.#sizeIndex + 1);
    const keys = [...copy.#buckets.keys()];
    const starts: number[] = [];
    if (keys.length) {
      for (let t = Math.min(...keys); t <= Math.max(...keys); t += copy.sizeMs) starts.push(t);
    }
    const totals: Record<string, number> = {};
    for (const bucket of copy.#buckets.values()) for (const [name, n] of bucket) totals[name] = (totals[name] ?? 0) + n;
    const series = Object.keys(totals).sort((a, b) => totals[b]! - totals[a]! || a.localeCompare(b));
    const counts: Record<string, number[]> = {};
    for (const name of series) counts[name] = starts.map((t) => copy.#buckets.get(t)?.get(name) ?? 0);
    return { sizeMs: copy.sizeMs, starts, series, counts, totals };
  }
}
