/**
 * A minimal local EventBridge endpoint for benchmarks: answers PutEvents (AWS JSON 1.1,
 * X-Amz-Target: AWSEvents.PutEvents) with an EventId per entry, so the real SDK (signing, HTTP,
 * JSON) is exercised and its cost counted. Counts requests and entries.
 */
import http from 'node:http';
import { randomUUID } from 'node:crypto';

export interface Responder {
  readonly endpoint: string;
  readonly stats: { calls: number; entries: number };
  reset(): void;
  stop(): Promise<void>;
}

export async function startPutEventsResponder(): Promise<Responder> {
  const stats = { calls: 0, entries: 0 };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const target = String(req.headers['x-amz-target'] ?? '');
      if (target !== 'AWSEvents.PutEvents') {
        res.writeHead(400, { 'content-type': 'application/x-amz-json-1.1' });
        res.end(JSON.stringify({ __type: 'UnknownOperationException', message: `not supported here: ${target}` }));
        return;
      }
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { Entries: unknown[] };
      stats.calls++;
      stats.entries += body.Entries.length;
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
      res.end(JSON.stringify({ FailedEntryCount: 0, Entries: body.Entries.map(() => ({ EventId: randomUUID() })) }));
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as { port: number };
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stats,
    reset: () => {
      stats.calls = 0;
      stats.entries = 0;
    },
    stop: () => new Promise((r) => server.close(() => r())),
  };
}
