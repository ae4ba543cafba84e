/**
 * The `session-reaper` command as an operator runs it: a separate process (bin/session-reaper.mjs),
 * its exit code and both output streams. MONGODB_URI is cleared so the caller's environment never
 * chooses the cluster, and XDG_STATE_HOME is a new directory per run (unless the caller gives one), so no
 * run sees another's sightings nor writes into the home directory.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/session-reaper.mjs', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the command; `killAfterMs` guards against a hang (the child is killed and the exit code is -1). */
export function runCli(args: string[], env: Record<string, string> = {}, killAfterMs?: number): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, MONGODB_URI: '', XDG_STATE_HOME: mkdtempSync(join(tmpdir(), 'reaper-state-')), ...env }, ...(killAfterMs ? { timeout: killAfterMs } : {}) });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}
