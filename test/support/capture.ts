/**
 * Runs a CLI command in-process with captured stdout and stderr.
 */
import { PassThrough } from 'node:stream';
import type { AuditIo } from '../../src/cli/audit.ts';

export interface Captured {
  code: number;
  stdout: string;
  stderr: string;
}

export async function capture(run: (io: AuditIo) => Promise<number>, extra: Partial<AuditIo> = {}): Promise<Captured> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d) => (out += d));
  stderr.on('data', (d) => (err += d));
  const code = await run({ stdout, stderr, env: {}, ...extra });
  return { code, stdout: out, stderr: err };
}
