/**
 * Cold start of the packaged Lambda handlers: bundle size (as packaged, @aws-sdk/* external, and with the
 * SDK bundled too) and module initialisation time, measured by importing the bundle in a fresh `node`.
 *
 *   npm run bench:cold            (runs `npm run package` first; --no-package to reuse .serverless/)
 *
 * Targets (issue "Benchmarks and performance targets"): at most 1 MB minified with @aws-sdk/* external,
 * at most 1.5 MB with it bundled, module initialisation at most 150 ms.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { formatTable } from '../src/util/table.ts';

const root = new URL('..', import.meta.url).pathname;
const out = join(root, '.serverless');
const work = join(out, 'cold-start');
const RUNS = 7;

if (!process.argv.includes('--no-package')) execFileSync('npm', ['run', 'package', '--silent'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
rmSync(work, { recursive: true, force: true });

/** The environment a deployed function starts with (no connection is made at initialisation). */
const ENV = {
  ...process.env,
  MONGODB_URI: 'mongodb://127.0.0.1:9/?directConnection=true', REAPER_CLUSTER: 'orders', REAPER_AUDIT: 'stdout', DRY_RUN: 'true',
  ATLAS_WEBHOOK_SECRET: 'cold-start', REAPER_FUNCTION_NAME: 'reaper', AWS_REGION: 'us-east-1', NODE_NO_WARNINGS: '1',
};

function initMs(file: string): number {
  const script = `const t = performance.now(); await import(${JSON.stringify(`file://${file}`)}); process.stdout.write(String(performance.now() - t));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env: ENV, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`importing ${file} failed: ${r.stderr}`);
  return Number(r.stdout);
}

const median = (file: string): number => Array.from({ length: RUNS }, () => initMs(file)).sort((a, b) => a - b)[RUNS >> 1]!;
const rows: { fn: string; bytes: number; withSdk: number; initMedian: number; initMax: number; initWithSdk: number }[] = [];
for (const zip of readdirSync(out).filter((f) => f.endsWith('.zip'))) {
  const fn = zip.replace(/\.zip$/, '');
  const dir = join(work, fn);
  mkdirSync(dir, { recursive: true });
  execFileSync('unzip', ['-q', join(out, zip), '-d', dir]);
  const bundle = join(dir, 'functions', readdirSync(join(dir, 'functions')).find((f) => f.endsWith('.mjs'))!);
  // The same bundle with @aws-sdk/* bundled in as well (resolved from this repository's node_modules).
  const withSdk = join(dir, 'functions', 'with-sdk.mjs');
  await build({
    entryPoints: [bundle], bundle: true, minify: true, keepNames: true, format: 'esm', platform: 'node', target: 'node20', outfile: withSdk, logLevel: 'error',
    // As in serverless.yml: ESM output that require()s CommonJS modules needs a require.
    banner: { js: "import { createRequire as __createRequire2 } from 'node:module'; const require = __createRequire2(import.meta.url);" },
    external: ['kerberos', '@mongodb-js/zstd', 'snappy', 'mongodb-client-encryption', 'gcp-metadata', 'socks', 'aws4'],
  });
  const times = Array.from({ length: RUNS }, () => initMs(bundle)).sort((a, b) => a - b);
  rows.push({ fn, bytes: statSync(bundle).size, withSdk: statSync(withSdk).size, initMedian: times[RUNS >> 1]!, initMax: times[RUNS - 1]!, initWithSdk: median(withSdk) });
}

console.log(formatTable(rows, [
  { header: 'FUNCTION', value: (r) => r.fn },
  { header: 'BUNDLE bytes', value: (r) => r.bytes },
  { header: 'WITH SDK bytes', value: (r) => r.withSdk },
  { header: `INIT ms (median of ${RUNS})`, value: (r) => Math.round(r.initMedian) },
  { header: 'INIT ms (max)', value: (r) => Math.round(r.initMax) },
  { header: 'INIT ms, SDK bundled', value: (r) => Math.round(r.initWithSdk) },
]));
writeFileSync(join(root, 'bench', 'cold-start.json'), `${JSON.stringify({ node: process.version, runs: RUNS, functions: rows }, null, 2)}\n`);
