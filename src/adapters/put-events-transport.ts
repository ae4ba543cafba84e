/**
 * One PutEvents request, two ways. The audit sink (eventbridge.ts) calls a PutEventsTransport and owns
 * everything above one request: batching, partial failures, re-sending, the deadline.
 *
 * - sdkPutEvents: `client.send(new PutEventsCommand(...))`, the SDK's whole middleware stack.
 * - signedPutEvents (the default): the same HTTP request, built here and sent through the client's own parts
 *   and the SDK's own code for what is not the request itself: the endpoint its rules resolve
 *   (getEndpointFromInstructions with PutEventsCommand's endpoint parameters: region, FIPS, dual-stack,
 *   AWS_ENDPOINT_URL_EVENTBRIDGE, an explicit `endpoint`), its retries (the SDK's retryMiddleware with the
 *   client's retryStrategy and maxAttempts: AWS_MAX_ATTEMPTS, AWS_RETRY_MODE, throttling and clock-skew
 *   retries), its SigV4 signing with clock-skew correction (AwsSdkSigV4Signer over `config.signer`: the
 *   memoised credential chain; the offset sampled from every response's Date header), and its HTTP handler
 *   (the timeouts createEventBridgeClient sets, the abort signal).
 *
 * Why: a pass publishes one event per decision, ten per request (the API's limit), and the SDK's stack
 * costs the main thread most of a request's CPU: 0.95 ms a request against 0.57 ms here, 20.0 against 12.0 ms
 * for a 2,000-session pass's 210 events (`npm run bench:put-events`, 2026-12-01 20:07).
 * A fleet of passes in one container is CPU-bound, and the audit was its largest single cost (#12). What
 * is written here instead of the stack is small and fixed by AWS's protocol, not by us: the AWS JSON 1.1 body
 * (timestamps as epoch seconds) and X-Amz-Target, the response read as JSON, and the error built as the SDK
 * builds it (its code read by the SDK's own loadJsonRpcErrorCode). The differential test
 * (test/put-events-transport.test.ts) holds signedPutEvents to sdkPutEvents's answers request by request:
 * the same body, headers and path, the same output, the same errors (name, fault, message, status), the same
 * retries. sdkPutEvents stays for the tests that mock client.send with aws-sdk-client-mock.
 */
import { PutEventsCommand, EventBridgeServiceException, type EventBridgeClient, type PutEventsRequestEntry, type PutEventsResultEntry } from '@aws-sdk/client-eventbridge';
import { AwsSdkSigV4Signer } from '@aws-sdk/core/httpAuthSchemes';
import { loadJsonRpcErrorCode } from '@aws-sdk/core/protocols';
import { getEndpointFromInstructions } from '@smithy/core/endpoints';
import { HttpRequest, type HttpResponse } from '@smithy/core/protocols';
import { retryMiddleware } from '@smithy/core/retry';
import { SMITHY_CONTEXT_KEY, type EndpointV2 } from '@smithy/types';
import { ConfigError } from '../util/errors.ts';

/** What a PutEvents response carries that the sink reads. */
export interface PutEventsOutput {
  FailedEntryCount?: number;
  Entries?: PutEventsResultEntry[];
}

/** One PutEvents request; rejects with the service's error (an EventBridgeServiceException) or the HTTP handler's. */
export type PutEventsTransport = (entries: PutEventsRequestEntry[], abortSignal?: AbortSignal) => Promise<PutEventsOutput>;

export function sdkPutEvents(client: EventBridgeClient): PutEventsTransport {
  return (entries, abortSignal) => client.send(new PutEventsCommand({ Entries: entries }), abortSignal ? { abortSignal } : {});
}

/** The AWS JSON 1.1 protocol: "application/x-amz-json-1.1" and "X-Amz-Target: {service}.{operation}" (Smithy, aws.protocols#awsJson1_1). */
const CONTENT_TYPE = 'application/x-amz-json-1.1';
const TARGET = 'AWSEvents.PutEvents';

/** The SDK's signer for SigV4 auth schemes; it keeps no state of its own (AwsSdkSigV4Signer, @aws-sdk/core). */
const SIGV4 = new AwsSdkSigV4Signer();

/** Who sends the audit (our choice; the SDK sends its own user agent). */
const USER_AGENT = 'mongodb-session-reaper';

interface AuthScheme { name?: string; signingRegion?: string; signingName?: string }

/** The client's resolved configuration, as far as it is read here (EventBridgeClientResolvedConfig has it all). */
interface ClientParts {
  requestHandler: { handle(request: HttpRequest, options?: { abortSignal?: AbortSignal }): Promise<{ response: HttpResponse }> };
  streamCollector(body: unknown): Promise<Uint8Array>;
  retryStrategy(): Promise<unknown>;
  maxAttempts(): Promise<number>;
  logger?: unknown;
}

interface Output { response: HttpResponse; output: PutEventsOutput & { $metadata: Record<string, unknown> } }

export function signedPutEvents(client: EventBridgeClient): PutEventsTransport {
  const parts = client.config as unknown as ClientParts;
  // Resolved once: the endpoint does not change in a process. A failure is not kept, so a later call tries
  // again (and fails the same way, with the same message, if nothing changed).
  let route: Promise<EndpointV2> | undefined;
  const resolve = (): Promise<EndpointV2> => (route ??= resolveEndpoint(client).catch((e: unknown) => {
    route = undefined;
    throw e;
  }));
  const retrying = retryMiddleware({ retryStrategy: parts.retryStrategy, maxAttempts: parts.maxAttempts, logger: parts.logger } as never);
  // The configuration the signer reads: the client's, except that its SignatureV4 is made once (the SDK makes
  // one per request, and with it the signing key's HMAC chain; the key cache inside is keyed by credentials,
  // day, region and service, so rotated credentials still sign right). The clock offset the signer samples
  // is kept here, on top of the client's.
  let signer: Promise<unknown> | undefined;
  const base = client.config as unknown as { signer(authScheme?: unknown): Promise<unknown> };
  const signingConfig = Object.create(client.config, { signer: { value: (authScheme?: unknown) => (signer ??= base.signer(authScheme).catch((e: unknown) => {
    signer = undefined;
    throw e;
  })) } }) as object;

  return async (entries, abortSignal) => {
    const endpoint = await resolve();
    const authScheme = (endpoint.properties?.authSchemes as AuthScheme[] | undefined)?.[0];
    // What the SDK's middleware would have in its context: the endpoint (the signer picks its auth scheme
    // there) and the abort signal (the retry step stops waiting when it fires).
    const context = { endpointV2: endpoint, authSchemes: endpoint.properties?.authSchemes, [SMITHY_CONTEXT_KEY]: { abortSignal } };
    const signingProperties = { config: signingConfig, context, signingRegion: authScheme?.signingRegion, signingName: authScheme?.signingName };
    // One attempt, as the SDK's signing step and the steps below it make it: signed anew (the retry step has
    // set its attempt headers), sent, read, and the server's clock sampled for the next signature.
    const attempt = async ({ request }: { request: unknown }): Promise<Output> => {
      try {
        const signed = await SIGV4.sign(request as HttpRequest, undefined as never, signingProperties as never);
        const { response } = await parts.requestHandler.handle(signed as HttpRequest, abortSignal ? { abortSignal } : {});
        const text = Buffer.from(await parts.streamCollector(response.body)).toString('utf8');
        if (response.statusCode < 200 || response.statusCode >= 300) throw serviceError(response, text);
        SIGV4.successHandler(response, signingProperties as never);
        return { response, output: { ...(jsonMembers(text) as PutEventsOutput), $metadata: metadata(response) } };
      } catch (error) {
        // Throws the error, having corrected the clock from it and marked it for the retry step if it was a skew.
        return SIGV4.errorHandler(signingProperties as never)(error as Error) as never;
      }
    };
    const send = retrying(attempt as never, context as never) as unknown as (args: { request: HttpRequest; input: object }) => Promise<Output>;
    const { output } = await send({ request: newRequest(endpoint, requestBody(entries)), input: {} });
    const { $metadata: _metadata, ...rest } = output;
    return rest;
  };
}

async function resolveEndpoint(client: EventBridgeClient): Promise<EndpointV2> {
  // A copy, as the SDK's endpoint middleware passes one: resolution writes the configured endpoint into it.
  const endpoint = await getEndpointFromInstructions({}, PutEventsCommand, { ...client.config } as never);
  const authScheme = (endpoint.properties?.authSchemes as AuthScheme[] | undefined)?.[0];
  // PutEvents resolves to SigV4, except with an EndpointId (global endpoints, SigV4a), which the reaper never sets.
  if (authScheme?.name !== undefined && authScheme.name !== 'sigv4') {
    throw new ConfigError(`the EventBridge endpoint ${endpoint.url.origin} asks for ${authScheme.name} signing; only SigV4 is supported (do not configure a global endpoint for the audit bus)`);
  }
  return endpoint;
}

function newRequest(endpoint: EndpointV2, body: string): HttpRequest {
  const url = endpoint.url;
  // The SDK's request path: the endpoint's path with a trailing slash, the operation's URI being "/".
  const path = url.pathname.endsWith('/') ? url.pathname : `${url.pathname}/`;
  const headers: Record<string, string> = {
    ...flatHeaders(endpoint.headers),
    'content-type': CONTENT_TYPE,
    'x-amz-target': TARGET,
    'content-length': String(Buffer.byteLength(body)),
    host: url.host,
    'user-agent': USER_AGENT,
  };
  // Inside Lambda, the SDK passes the invocation's X-Ray trace on (recursionDetectionMiddleware).
  const trace = process.env._X_AMZN_TRACE_ID;
  if (process.env.AWS_LAMBDA_FUNCTION_NAME && trace) headers['x-amzn-trace-id'] = trace;
  return new HttpRequest({
    method: 'POST', protocol: url.protocol, hostname: url.hostname, port: url.port === '' ? undefined : Number(url.port), path, query: {}, headers, body,
  });
}

/** The members of a request entry after its Time, in the order the SDK writes them. */
const ENTRY_MEMBERS = ['Source', 'Resources', 'DetailType', 'Detail', 'EventBusName', 'TraceHeader'] as const;

/**
 * The request's JSON, written straight from the entries: each entry's Time as epoch seconds (awsJson1_1's
 * timestamp format), then its other members as the SDK writes them, absent ones (undefined or null) left out as
 * the SDK leaves them out. No object per entry: at 10 entries a request this halves the body's cost.
 */
function requestBody(entries: readonly PutEventsRequestEntry[]): string {
  let body = '{"Entries":[';
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!;
    body += i === 0 ? '{' : ',{';
    let separator = '';
    if (entry.Time !== undefined) {
      body += `"Time":${entry.Time.getTime() / 1000}`;
      separator = ',';
    }
    for (const member of ENTRY_MEMBERS) {
      const value = entry[member];
      if (value !== undefined && value !== null) {
        body += `${separator}"${member}":${JSON.stringify(value)}`;
        separator = ',';
      }
    }
    body += '}';
  }
  return `${body}]}`;
}

function flatHeaders(headers: Record<string, string[]> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, values] of Object.entries(headers ?? {})) out[name] = values.join(', ');
  return out;
}

/**
 * A response body as the SDK reads it: empty is {}, JSON that is not an object reads as no members, text that
 * is not JSON throws JSON.parse's SyntaxError.
 */
function jsonMembers(text: string): Record<string, unknown> {
  const out = (text.trim() === '' ? {} : JSON.parse(text)) as unknown;
  return typeof out === 'object' && out !== null && !Array.isArray(out) ? (out as Record<string, unknown>) : {};
}

function header(response: HttpResponse, name: string): string | undefined {
  for (const [k, v] of Object.entries(response.headers)) if (k.toLowerCase() === name) return v;
  return undefined;
}

/**
 * The error as the SDK builds it for PutEvents (@aws-sdk/core protocols, AwsJsonRpcProtocol.handleError): the
 * code by the SDK's own loadJsonRpcErrorCode (the body's `__type`, else `code`, else X-Amzn-ErrorType, cut at
 * "," and ":" and after "#"), "Unknown" without one; the message from `message` or `Message`; the fault from
 * the status, except InternalException, the one error PutEvents models, which is a server fault.
 */
function serviceError(response: HttpResponse, text: string): Error {
  let body: Record<string, unknown>;
  try {
    body = jsonMembers(text);
  } catch {
    // Not JSON (a proxy's page): the SDK fails to deserialise it and throws JSON's SyntaxError, which has no
    // fault, so the sink re-sends; the same here, with a message that says what came back.
    const error = new SyntaxError(`PutEvents answered HTTP ${response.statusCode} with a body that is not JSON (${header(response, 'content-type') ?? 'no content-type'}): ${JSON.stringify(text.slice(0, 200))}`);
    return withResponse(Object.assign(error, { $metadata: metadata(response) }), response);
  }
  const code = loadJsonRpcErrorCode(response, body) ?? 'Unknown';
  const name = code.includes('#') ? code.split('#')[1]! : code;
  const message = String(body.message ?? body.Message ?? 'UnknownError');
  return withResponse(new EventBridgeServiceException({
    name,
    $fault: name === 'InternalException' || response.statusCode >= 500 ? 'server' : 'client',
    message,
    $metadata: metadata(response),
  }), response);
}

/** The response on the error, hidden as the SDK hides it: the signer reads its Date, the retry step its Retry-After. */
function withResponse<E extends Error>(error: E, response: HttpResponse): E {
  return Object.defineProperty(error, '$response', { value: response, enumerable: false, writable: false, configurable: false });
}

function metadata(response: HttpResponse): { httpStatusCode: number; requestId: string | undefined; attempts: number; totalRetryDelay: number } {
  return { httpStatusCode: response.statusCode, requestId: header(response, 'x-amzn-requestid') ?? header(response, 'x-amzn-request-id') ?? header(response, 'x-amz-request-id'), attempts: 1, totalRetryDelay: 0 };
}
