/**
 * moto_server (moto 5, Python) as the AWS side of integration tests: started by the tests on a free
 * loopback port, reached by the real AWS SDK through the standard AWS_ENDPOINT_URL setting.
 *
 * Where moto_server is missing, the tests that need it report themselves skipped with a message saying how
 * to get it; with CI=true they fail instead, so CI never passes without having run them.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import type { TestContext } from 'node:test';

export const MOTO_INSTALL_HINT = "moto_server is not installed: install it with `pip install 'moto[server]>=5,<6'` (it is on the project's machine image)";

export function motoAvailable(): boolean {
  return spawnSync('moto_server', ['--help'], { stdio: 'ignore' }).status === 0;
}

/** Skips the test (or fails it under CI=true) when moto_server is missing. Returns true when skipped. */
export function requireMoto(t: TestContext): boolean {
  if (motoAvailable()) return false;
  if (process.env.CI === 'true') throw new Error(`${MOTO_INSTALL_HINT}; CI=true, so this test fails instead of skipping`);
  t.skip(MOTO_INSTALL_HINT);
  return true;
}

export interface Moto {
  readonly endpoint: string;
  /** Environment for the AWS SDK: endpoint, region, dummy credentials. */
  readonly env: Record<string, string>;
  /** Applies `env` to process.env (restored by stop). */
  apply(): void;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

async function waitUntilUp(endpoint: string, child: ChildProcess, output: () => string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`moto_server exited with ${child.exitCode}: ${output()}`);
    try {
      const r = await fetch(`${endpoint}/moto-api/`);
      if (r.status < 500) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`moto_server did not answer on ${endpoint} within 10 s: ${output()}`);
}

export async function startMoto(): Promise<Moto> {
  const port = await freePort();
  const child = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (out += d));
  const endpoint = `http://127.0.0.1:${port}`;
  await waitUntilUp(endpoint, child, () => out.slice(-2000));
  const env = {
    AWS_ENDPOINT_URL: endpoint,
    AWS_REGION: 'us-east-1',
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
  };
  const saved: Record<string, string | undefined> = {};
  return {
    endpoint,
    env,
    apply() {
      for (const [k, v] of Object.entries(env)) {
        if (!(k in saved)) saved[k] = process.env[k];
        process.env[k] = v;
      }
    },
    async stop() {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      }
    },
  };
}
