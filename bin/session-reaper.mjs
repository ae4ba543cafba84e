#!/usr/bin/env node
// The `session-reaper` command. The sources are TypeScript; tsx (a pinned runtime dependency) loads them,
// so the command works right after `npm ci` with no build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
