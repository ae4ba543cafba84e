/**
 * Headless Chromium (Debian's `chromium`, which .ci/run installs) for tests of pages: --dump-dom
 * prints the DOM after the page's scripts ran, --screenshot writes a PNG. Each run gets a fresh
 * profile directory and no background networking, so nothing but the page is loaded.
 *
 * Where chromium is missing, the tests that need it report themselves skipped with the install hint;
 * with CI=true they fail instead, so CI never passes without having run them.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

export const CHROMIUM_INSTALL_HINT = 'chromium is not installed: install it with `apt-get update && apt-get install -y chromium` (.ci/run does this in CI)';

const CANDIDATES = ['chromium', 'chromium-browser', 'google-chrome'];

export function chromiumPath(): string | null {
  for (const name of CANDIDATES) {
    if (spawnSync(name, ['--version'], { stdio: 'ignore' }).status === 0) return name;
  }
  return null;
}

/** Skips the test (or fails it under CI=true) when chromium is missing. Returns true when skipped. */
export function requireChromium(t: TestContext): boolean {
  if (chromiumPath()) return false;
  if (process.env.CI === 'true') throw new Error(`${CHROMIUM_INSTALL_HINT}; CI=true, so this test fails instead of skipping`);
  t.skip(CHROMIUM_INSTALL_HINT);
  return true;
}

const FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--hide-scrollbars',
];

/** A limit on a hung browser, so a broken environment fails the test instead of hanging the suite. */
const RUN_LIMIT_MS = 90_000;

async function run(args: string[]): Promise<{ stdout: string; stderr: string }> {
  const binary = chromiumPath();
  if (!binary) throw new Error(CHROMIUM_INSTALL_HINT);
  const profile = mkdtempSync(join(tmpdir(), 'chromium-profile-'));
  try {
    return await new Promise((resolve, reject) => {
      const child = spawn(binary, [...FLAGS, `--user-data-dir=${profile}`, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      const limit = setTimeout(() => child.kill('SIGKILL'), RUN_LIMIT_MS);
      child.on('error', reject);
      child.on('close', (code, signal) => {
        clearTimeout(limit);
        if (code === 0) resolve({ stdout, stderr });
        else reject(new Error(`chromium ${args.join(' ')} exited with ${code ?? signal}: ${stderr.slice(-2000)}`));
      });
    });
  } finally {
    rmSync(profile, { recursive: true, force: true });
  }
}

/** The serialized DOM of the page once it has loaded and its scripts have run. */
export async function dumpDom(url: string): Promise<string> {
  return (await run(['--dump-dom', url])).stdout;
}

export async function screenshot(url: string, png: string, size = '1280,2200'): Promise<void> {
  await run([`--screenshot=${png}`, `--window-size=${size}`, url]);
}

/** Every element carrying data-figure, as { figure, key, value } read from its attributes. */
export interface Figure {
  figure: string;
  key: string | undefined;
  value: number;
}

const unescapeAttr = (s: string): string =>
  s.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');

function attr(tag: string, name: string): string | undefined {
  const m = new RegExp(`\\s${name}="([^"]*)"`).exec(tag);
  return m ? unescapeAttr(m[1]!) : undefined;
}

export function figuresIn(dom: string): Figure[] {
  const figures: Figure[] = [];
  for (const m of dom.matchAll(/<[a-z]+\s[^>]*data-figure="[^"]*"[^>]*>/g)) {
    const tag = m[0];
    figures.push({ figure: attr(tag, 'data-figure')!, key: attr(tag, 'data-key'), value: Number(attr(tag, 'data-value')) });
  }
  return figures;
}

/** The value of one figure; throws when the page does not show it (so a missing figure fails). */
export function figure(figures: Figure[], name: string, key?: string): number {
  const found = figures.filter((f) => f.figure === name && f.key === key);
  if (found.length !== 1) throw new Error(`expected one figure "${name}"${key !== undefined ? ` for "${key}"` : ''}, found ${found.length}`);
  return found[0]!.value;
}

/** The SVG bars: rule, bucket start and count of each. */
export function barsIn(dom: string): { rule: string; bucket: string; count: number }[] {
  return [...dom.matchAll(/<rect\s[^>]*class="bar"[^>]*>/g)].map((m) => ({
    rule: attr(m[0], 'data-rule')!,
    bucket: attr(m[0], 'data-bucket')!,
    count: Number(attr(m[0], 'data-count')),
  }));
}

/** Rows of the events table the page's script left visible (not hidden by the filter). */
export function visibleEventRows(dom: string): string[] {
  const body = /<tbody id="events-body">([\s\S]*?)<\/tbody>/.exec(dom)?.[1] ?? '';
  return [...body.matchAll(/<tr\b([^>]*)>([\s\S]*?)<\/tr>/g)].filter((m) => !/\shidden(=|\s|$)/.test(m[1]!)).map((m) => m[2]!);
}
