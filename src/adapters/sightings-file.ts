/**
 * Sightings in a JSON file, for the CLI (`session-reaper run --state FILE`): one file holds every cluster's
 * state, `{"version": 1, "clusters": {"<cluster>": SightingsState}}`.
 *
 * Concurrent runs (two terminals, a cron job and an operator) must not corrupt it nor lose each other's pass:
 *  - every write is atomic: the new content goes to a temporary file in the same directory, which is then
 *    renamed over the old one (write-file-atomic), so a reader sees the old file or the new one, never half;
 *  - every update holds the file's lock (proper-lockfile: a `<file>.lock` directory, created atomically by
 *    mkdir, refreshed while held and taken over once stale), re-reads the file under it and writes the merge,
 *    so the second of two passes applies its sightings on top of the first's instead of overwriting them.
 * Reads take no lock: the rename makes them consistent.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import lockfile from 'proper-lockfile';
import writeFileAtomic from 'write-file-atomic';
import type { SightingsState, SightingsStore } from '../pass/ports.ts';
import { checkSightingsState } from '../pass/sightings.ts';
import { ConfigError, ReaperError } from '../util/errors.ts';

interface StateFile {
  version: 1;
  clusters: Record<string, SightingsState>;
}

/** The state file's name under the state directory. */
const STATE_FILE = join('mongodb-session-reaper', 'sightings.json');

/**
 * How long a lock may go without being refreshed before another run takes it over (proper-lockfile's own
 * default, 10 s; the holder refreshes it every 5 s): a run killed while holding it blocks the others that long.
 */
const LOCK_STALE_MS = 10_000;
/** Retries to take the lock: a pass holds it only for the read-merge-write, well under a second. */
const LOCK_RETRIES = { retries: 60, factor: 1.3, minTimeout: 20, maxTimeout: 500 } as const;

/**
 * The default state file, per the XDG Base Directory Specification: $XDG_STATE_HOME (an absolute path), else
 * ~/.local/state, then mongodb-session-reaper/sightings.json.
 */
export function defaultStatePath(env: Record<string, string | undefined>): string {
  const xdg = env.XDG_STATE_HOME;
  if (xdg && isAbsolute(xdg)) return join(xdg, STATE_FILE);
  if (env.HOME && isAbsolute(env.HOME)) return join(env.HOME, '.local', 'state', STATE_FILE);
  throw new ConfigError('no place for the sightings state: neither XDG_STATE_HOME nor HOME is an absolute path; pass --state FILE (or set REAPER_STATE_FILE)');
}

export class FileSightings implements SightingsStore {
  readonly where: string;

  constructor(readonly path: string) {
    this.where = `state file ${path}`;
  }

  async load(cluster: string): Promise<SightingsState | null> {
    const file = await this.read();
    return file?.clusters[cluster] ?? null;
  }

  async update(cluster: string, apply: (current: SightingsState | null) => SightingsState): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
    let compromised: Error | null = null;
    let release: () => Promise<void>;
    try {
      release = await lockfile.lock(this.path, {
        realpath: false, stale: LOCK_STALE_MS, retries: LOCK_RETRIES,
        onCompromised: (e) => void (compromised = e),
      });
    } catch (e) {
      throw new ReaperError(`cannot lock ${this.where} (${(e as Error).message}): another run holds it; if none does, remove ${this.path}.lock`, { cause: e });
    }
    try {
      const file = (await this.read()) ?? { version: 1, clusters: {} };
      file.clusters[cluster] = apply(file.clusters[cluster] ?? null);
      if (compromised) throw compromised;
      await writeFileAtomic(this.path, JSON.stringify(file), { mode: 0o600 });
    } catch (e) {
      if (e instanceof ReaperError) throw e;
      throw new ReaperError(`cannot write ${this.where}: ${(e as Error).message}`, { cause: e });
    } finally {
      await release().catch(() => {});
    }
  }

  private async read(): Promise<StateFile | null> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new ReaperError(`cannot read ${this.where}: ${(e as Error).message}`, { cause: e });
    }
    const fix = `move it away (the next run starts afresh: every candidate at its first sighting) or pass --state with another file`;
    let parsed: StateFile;
    try {
      parsed = JSON.parse(text) as StateFile;
    } catch (e) {
      throw new ReaperError(`${this.where} is not valid JSON (${(e as Error).message}); ${fix}`, { cause: e });
    }
    if (!parsed || parsed.version !== 1 || !parsed.clusters || typeof parsed.clusters !== 'object') {
      throw new ReaperError(`${this.where} is not a sightings file of this version (expected {"version": 1, "clusters": {...}}); ${fix}`);
    }
    for (const [cluster, state] of Object.entries(parsed.clusters)) {
      const problem = checkSightingsState(state);
      if (problem) throw new ReaperError(`${this.where}: the state of cluster "${cluster}" is invalid (${problem}); ${fix}`);
    }
    return parsed;
  }
}
