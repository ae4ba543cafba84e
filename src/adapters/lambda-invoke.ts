/**
 * Hand-off of a pass from the Atlas webhook function to the reaper function: an asynchronous
 * Lambda Invoke (InvocationType "Event"). Lambda queues the event and answers 202 at once, so the
 * webhook can answer Atlas within milliseconds whatever the pass takes; the queued event then runs
 * in the reaper function, where the cluster's lease keeps its passes one at a time (passes of different
 * clusters run in parallel, up to the reservedConcurrency param, sized for the fleet). A throttled
 * asynchronous event is retried by Lambda for up to 6 hours ("Asynchronous invocation", AWS Lambda
 * Developer Guide), so a burst of alerts waits instead of failing.
 */
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { DispatchError } from '../util/errors.ts';

export type Dispatch = (payload: object) => Promise<void>;

/** Reads AWS_REGION, the credential chain and AWS_ENDPOINT_URL_LAMBDA / AWS_ENDPOINT_URL like every SDK v3 client. */
export function createLambdaClient(): LambdaClient {
  return new LambdaClient({});
}

/** Lambda answers an accepted asynchronous invocation with 202 ("Invoke", AWS Lambda API Reference). */
const ACCEPTED = 202;

export function lambdaDispatcher(client: LambdaClient, functionName: string): Dispatch {
  return async (payload) => {
    let status: number | undefined;
    try {
      const out = await client.send(new InvokeCommand({
        FunctionName: functionName,
        InvocationType: 'Event',
        Payload: new TextEncoder().encode(JSON.stringify(payload)),
      }));
      status = out.StatusCode;
    } catch (e) {
      const err = e as { name?: string; message?: string };
      throw new DispatchError(`cannot hand the pass to ${functionName}: ${err.name ?? 'Error'}: ${err.message ?? String(e)}`, { cause: e });
    }
    if (status !== ACCEPTED) throw new DispatchError(`cannot hand the pass to ${functionName}: Invoke answered ${status}, expected ${ACCEPTED}`);
  };
}
