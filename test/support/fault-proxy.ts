/**
 * A fault-injecting HTTP proxy in front of moto's EventBridge, for the "throttled PutEvents loses no
 * event" test. Every request is forwarded unchanged except the PutEvents calls the plan names:
 *
 *  - { throttle: true }: the whole request is answered 400 ThrottlingException (what EventBridge
 *    answers over its PutEvents quota) and nothing is forwarded;
 *  - { failEntries: [i, ...], errorCode }: the entries at those indices are NOT forwarded, and the
 *    response moto gave for the others is spliced with an ErrorCode entry for each of them and the
 *    matching FailedEntryCount, as EventBridge reports a partial failure (PutEvents, Amazon
 *    EventBridge API Reference). The failed entries are really not delivered, so a sink that does not
 *    re-send them loses them, and one that re-sends delivered ones creates duplicates: both show.
 *
 * PutEvents is the JSON protocol call with X-Amz-Target "AWSEvents.PutEvents".
 */
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';

export type Fault = { throttle: true } | { failEntries: number[]; errorCode: string };

export interface FaultProxy {
  readonly endpoint: string;
  /** PutEvents calls seen, faults injected, entries failed on purpose. */
  readonly stats: { putEvents: number; throttled: number; entriesFailed: number };
  stop(): Promise<void>;
}

function forward(target: URL, method: string, path: string, headers: IncomingHttpHeaders, body: Buffer): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: target.hostname, port: target.port, method, path, headers: { ...headers, host: target.host, 'content-length': String(body.length) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** `plan[n]` is the fault for the n-th PutEvents call (0-based); calls beyond the plan pass through. */
export async function startFaultProxy(upstream: string, plan: Fault[]): Promise<FaultProxy> {
  const target = new URL(upstream);
  const stats = { putEvents: 0, throttled: 0, entriesFailed: 0 };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      let body: Buffer = Buffer.concat(chunks);
      const isPutEvents = req.headers['x-amz-target'] === 'AWSEvents.PutEvents';
      const fault = isPutEvents ? plan[stats.putEvents++] : undefined;
      try {
        if (fault && 'throttle' in fault) {
          stats.throttled++;
          res.writeHead(400, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': `fault-${stats.putEvents}` });
          res.end(JSON.stringify({ __type: 'ThrottlingException', message: 'Rate exceeded' }));
          return;
        }
        let failed: Set<number> = new Set();
        let total = 0;
        if (fault) {
          const input = JSON.parse(body.toString('utf8')) as { Entries: unknown[] };
          total = input.Entries.length;
          failed = new Set(fault.failEntries.filter((i) => i < total));
          body = Buffer.from(JSON.stringify({ ...input, Entries: input.Entries.filter((_, i) => !failed.has(i)) }));
        }
        if (fault && failed.size === total) {
          // Nothing left to forward: every entry fails.
          stats.entriesFailed += total;
          res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
          res.end(JSON.stringify({ FailedEntryCount: total, Entries: Array.from({ length: total }, () => ({ ErrorCode: (fault as { errorCode: string }).errorCode, ErrorMessage: 'injected' })) }));
          return;
        }
        const out = await forward(target, req.method ?? 'POST', req.url ?? '/', req.headers, body);
        if (!fault || out.status !== 200) {
          res.writeHead(out.status, out.headers);
          res.end(out.body);
          return;
        }
        const upstreamResult = JSON.parse(out.body.toString('utf8')) as { FailedEntryCount?: number; Entries: object[] };
        const delivered = [...upstreamResult.Entries];
        const entries = Array.from({ length: total }, (_, i) => (failed.has(i) ? { ErrorCode: fault.errorCode, ErrorMessage: 'injected by the fault proxy' } : delivered.shift()!));
        stats.entriesFailed += failed.size;
        const spliced = Buffer.from(JSON.stringify({ FailedEntryCount: (upstreamResult.FailedEntryCount ?? 0) + failed.size, Entries: entries }));
        res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1', 'content-length': String(spliced.length) });
        res.end(spliced);
      } catch (e) {
        res.writeHead(502).end(String(e));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    stats,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
