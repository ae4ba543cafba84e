/**
 * A local stand-in for the Lambda Invoke API (POST /2015-03-31/functions/NAME/invocations), reached by
 * the real @aws-sdk/client-lambda through AWS_ENDPOINT_URL_LAMBDA. It runs the named function's handler
 * in-process, the way Lambda would: an "Event" invocation is answered 202 at once and runs afterwards
 * (settled() waits for it); a "RequestResponse" one is answered with the handler's result, or with
 * X-Amz-Function-Error when it throws ("Invoke", AWS Lambda API Reference).
 *
 * moto could host the function too, but runs Lambda code in Docker; this keeps the hand-off's wire
 * format real without that.
 */
import { createServer, type Server } from 'node:http';

type Target = (payload: unknown) => Promise<unknown>;

export interface Invocation {
  functionName: string;
  invocationType: string;
  payload: unknown;
  /** What the handler returned, or the error it threw. */
  outcome?: { result: unknown } | { error: Error };
}

export interface LambdaInvokeStandin {
  readonly endpoint: string;
  readonly invocations: Invocation[];
  /** Waits until every Event invocation received so far has finished. */
  settled(): Promise<void>;
  stop(): Promise<void>;
}

export async function startLambdaInvokeStandin(targets: Record<string, Target>): Promise<LambdaInvokeStandin> {
  const invocations: Invocation[] = [];
  const running: Promise<unknown>[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const m = /^\/2015-03-31\/functions\/([^/]+)\/invocations/.exec(req.url ?? '');
      const functionName = m ? decodeURIComponent(m[1]!) : '';
      const target = targets[functionName];
      if (req.method !== 'POST' || !target) {
        res.writeHead(404, { 'content-type': 'application/json', 'x-amzn-errortype': 'ResourceNotFoundException' });
        res.end(JSON.stringify({ Type: 'User', message: `Function not found: ${functionName}` }));
        return;
      }
      const invocationType = String(req.headers['x-amz-invocation-type'] ?? 'RequestResponse');
      const payload = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {};
      const invocation: Invocation = { functionName, invocationType, payload };
      invocations.push(invocation);
      const run = target(payload).then(
        (result) => (invocation.outcome = { result }),
        (error: Error) => (invocation.outcome = { error }),
      );
      if (invocationType === 'Event') {
        res.writeHead(202).end();
        running.push(run);
        return;
      }
      void run.then(() => {
        const o = invocation.outcome!;
        if ('error' in o) {
          res.writeHead(200, { 'content-type': 'application/json', 'x-amz-function-error': 'Unhandled' });
          res.end(JSON.stringify({ errorType: o.error.name, errorMessage: o.error.message }));
        } else {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify(o.result ?? null));
        }
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    endpoint: `http://127.0.0.1:${port}`,
    invocations,
    async settled() {
      while (running.length) await running.shift();
    },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
