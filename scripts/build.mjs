#!/usr/bin/env node
/**
 * Compiles the command line (src/cli/main.ts) and the demo (src/demo/main.ts) to JavaScript in dist/, which
 * bin/session-reaper.mjs and `npm start` run: no TypeScript loader at run time. npm runs this on `npm ci`
 * and `npm install` ("prepare"), and `npm test` / `npm start` run it again first, so dist/ is never stale.
 *
 * Our code is bundled, one chunk per subcommand (splitting: main.ts imports each subcommand when it runs);
 * npm packages stay external and load from node_modules as usual. The Lambda functions are bundled
 * separately, by serverless-esbuild (serverless.yml).
 */
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
let build;
try {
  ({ build } = await import('esbuild'));
} catch (e) {
  console.error(`build: esbuild is not installed (${e.code ?? e.message}); the command line is compiled with it: install the dev dependencies (npm ci, without --omit=dev) and run npm run build`);
  process.exit(1);
}
rmSync(`${root}dist`, { recursive: true, force: true });
const started = performance.now();
await build({
  absWorkingDir: root,
  // The backtest's worker thread is an entry of its own: a Worker starts a file (src/cli/backtest-pool.ts).
  entryPoints: ['src/cli/main.ts', 'src/cli/backtest-worker.ts', 'src/demo/main.ts'],
  outbase: 'src',
  outdir: 'dist',
  outExtension: { '.js': '.mjs' },
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  // Node 20 here and in CI; the same output runs on Node 22.
  target: 'node20',
  packages: 'external',
  sourcemap: 'linked',
  logLevel: 'warning',
});
if (!process.argv.includes('--quiet')) console.log(`build: dist/ in ${Math.round(performance.now() - started)} ms`);
