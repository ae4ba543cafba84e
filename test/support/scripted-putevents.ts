/**
 * A local PutEvents endpoint whose answers a test scripts: each request gets the next scripted reply
 * (status, headers, body as sent on the wire), and once the script is used up, an EventId per entry as
 * EventBridge answers. Records every request as it arrived (method, path, headers, raw body), so a test can
 * compare what two clients sent.
 */
import { createServer } from 'node:http';

export interface ScriptedReply {
  status: number;
  headers?: Record<string, string>;
  /** The body as sent: JSON text, or anything else (a proxy's HTML page). */
  body: string;
}

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface ScriptedEndpoint {
  readonly endpoint: string;
  readonly received: ReceivedRequest[];
  /** Replies for the next requests, in order. */
  script(...replies: ScriptedReply[]): void;
  stop(): Promise<void>;
}

export async function startScriptedEndpoint(): Promise<ScriptedEndpoint> {
  const received: ReceivedRequest[] = [];
  const replies: ScriptedReply[] = [];
  let next = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      received.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body });
      const reply = replies[next++] ?? accepted(body);
      res.writeHead(reply.status, { 'content-type': 'application/x-amz-json-1.1', ...reply.headers });
      res.end(reply.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    received,
    script: (...r) => {
      replies.splice(0, replies.length, ...r);
      next = 0;
    },
    stop: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function accepted(body: string): ScriptedReply {
  const entries = (JSON.parse(body) as { Entries?: unknown[] }).Entries ?? [];
  return { status: 200, body: JSON.stringify({ FailedEntryCount: 0, Entries: entries.map((_, i) => ({ EventId: `event-${i}` })) }) };
}
