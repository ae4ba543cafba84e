/**
 * A local PutEvents endpoint that stalls: it accepts every connection and reads every request, answers
 * the first `answer` PutEvents requests (an EventId per entry, as EventBridge does) and never answers the
 * rest. `answer: 0` is an endpoint that never answers at all. Records which entries it received and which
 * it acknowledged, so a test can check that every event was either delivered or logged.
 */
import { createServer } from 'node:http';
import { randomUUID } from 'node:crypto';

export interface StallingEndpoint {
  readonly endpoint: string;
  /** Entries of the requests that got an answer (delivered), as JSON-parsed Details. */
  readonly delivered: Record<string, unknown>[];
  /** PutEvents requests received, answered or not. */
  requests(): number;
  /** How many more requests to answer from now on (Infinity: all of them). */
  answer(n: number): void;
  stop(): Promise<void>;
}

export async function startStallingEndpoint(answer: number): Promise<StallingEndpoint> {
  let toAnswer = answer;
  let requests = 0;
  const delivered: Record<string, unknown>[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests++;
      if (toAnswer <= 0) return; // accepted, read, never answered
      toAnswer--;
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { Entries: { Detail: string }[] };
      for (const e of body.Entries) delivered.push(JSON.parse(e.Detail) as Record<string, unknown>);
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
      res.end(JSON.stringify({ FailedEntryCount: 0, Entries: body.Entries.map(() => ({ EventId: randomUUID() })) }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    delivered,
    requests: () => requests,
    answer: (n) => {
      toAnswer = n;
    },
    stop: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
