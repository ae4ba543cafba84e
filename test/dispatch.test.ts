/**
 * The webhook's hand-off: an asynchronous Lambda Invoke of the reaper function (SDK mocked here; the
 * webhook handler test sends it over the wire to a local Invoke endpoint).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { lambdaDispatcher } from '../src/adapters/lambda-invoke.ts';
import { DispatchError } from '../src/util/errors.ts';

test('the pass is queued with InvocationType Event and the hand-off as the payload', async () => {
  // Prepare
  const lambda = mockClient(LambdaClient);
  lambda.on(InvokeCommand).resolves({ StatusCode: 202 });
  const dispatch = lambdaDispatcher(new LambdaClient({ region: 'us-east-1' }), 'reaper-fn');
  const handoff = { kind: 'atlas-alert', cluster: 'orders', policySet: 'strict', trigger: { type: 'atlas-alert', name: 'K', id: 'A' } };
  // Act
  await dispatch(handoff);
  // Assess
  const [call] = lambda.commandCalls(InvokeCommand);
  assert.equal(call!.args[0].input.FunctionName, 'reaper-fn');
  assert.equal(call!.args[0].input.InvocationType, 'Event');
  assert.deepEqual(JSON.parse(new TextDecoder().decode(call!.args[0].input.Payload as Uint8Array)), handoff);
  lambda.restore();
});

test('an Invoke that fails or is not accepted is a DispatchError', async () => {
  const lambda = mockClient(LambdaClient);
  const dispatch = lambdaDispatcher(new LambdaClient({ region: 'us-east-1' }), 'reaper-fn');
  lambda.on(InvokeCommand).rejectsOnce(Object.assign(new Error('Rate exceeded'), { name: 'TooManyRequestsException' })).resolvesOnce({ StatusCode: 200 });
  await assert.rejects(dispatch({}), (e: Error) => e instanceof DispatchError && /TooManyRequestsException: Rate exceeded/.test(e.message));
  await assert.rejects(dispatch({}), (e: Error) => e instanceof DispatchError && /answered 200, expected 202/.test(e.message));
  lambda.restore();
});
