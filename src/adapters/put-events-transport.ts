/**
 * One PutEvents request, two ways. The audit sink (eventbridge.ts) calls a PutEventsTransport and owns
 * everything above one request: batching, partial failures, re-sending, the deadline.
 *
 * - sdkPutEvents: `client.send(new PutEventsCommand(...))`, the SDK's whole middleware stack.
 * - signedPutEvents (the default): the same HTTP request, built here and sent with the client's own parts:
 *   the endpoint its rules resolve (getEndpointFromInstructions with PutEventsCommand's endpoint parameters:
 *   region, FIPS, dual-stack, AWS_ENDPOINT_URL_EVENTBRIDGE, an explicit `endpoint`), its SigV4 signer
 *   (`config.signer`: the SDK's memoised credential chain, with its clock-skew offset), and its HTTP handler
 *   (the timeouts createEventBridgeClient sets, the abort signal).
 *
 * Why: a pass publishes one event per decision, ten per request (the API's limit), and the SDK's stack
 * costs the main thread about as much again as the request itself: 1.14 ms a request against 0.48 ms here,
 * 24.0 against 10.0 ms for a 2,000-session pass's 210 events (`npm run bench:put-events`, 2026-12-01 19:59). A fleet of passes in one container is CPU-bound, and the audit was its largest single cost (#12).
 * sdkPutEvents stays for the tests that mock client.send with aws-sdk-client-mock. What is done here instead of the stack is small and fixed by AWS's
 * protocol, not by us: the AWS JSON 1.1 body (timestamps as epoch seconds) and X-Amz-Target, and the
 * error built as the SDK builds it (its code read by the SDK's own loadJsonRpcErrorCode). The
 * differential test (test/put-events-transport.test.ts) holds signedPutEvents to sdkPutEvents's answers
 * request by request: the same body, the same output, the same errors (name, fault, message, status).
 *
 * What the SDK stack does that this does not: its own retries (the sink re-sends retryable failures itself,
 * with backoff: DEFAULT_MAX_ATTEMPTS in eventbridge.ts), the user-agent and invocation-id headers.
 */
import { PutEventsCommand, EventBridgeServiceException, type EventBridgeClient, type PutEventsRequestEntry, type PutEventsResultEntry } from '@aws-sdk/client-eventbridge';
import { loadJsonRpcErrorCode } from '@aws-sdk/core/protocols';
import { getEndpointFromInstructions } from '@smithy/core/endpoints';
import type { EndpointV2, HttpRequest, HttpResponse, RequestSigner } from '@smithy/types';
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

/**
 * The SDK corrects its signing clock when the service answers that a request was signed too far from its own
 * time, by the response's Date header, and only when the two differ by 5 minutes or more
 * (@aws-sdk/core httpAuthSchemes, getUpdatedSystemClockOffset / isClockSkewed; SigV4's own window is 15 minutes).
 */
const CLOCK_SKEW_THRESHOLD_MS = 300_000;
/** Error codes after which the SDK re-reads the server's clock (@smithy/core retry, CLOCK_SKEW_ERROR_CODES). */
const CLOCK_SKEW_ERROR_CODES: ReadonlySet<string> = new Set([
  'AuthFailure', 'InvalidSignatureException', 'RequestExpired', 'RequestInTheFuture', 'RequestTimeTooSkewed', 'SignatureDoesNotMatch',
]);

interface Route {
  endpoint: EndpointV2;
  signer: RequestSigner & { sign(request: HttpRequest, options?: { signingDate?: Date; signingRegion?: string; signingService?: string }): Promise<HttpRequest> };
  signingRegion: string | undefined;
  signingService: string | undefined;
}

/** The client's resolved configuration, as far as it is read here (EventBridgeClientResolvedConfig has it all). */
interface ClientParts {
  signer(authScheme?: unknown): Promise<Route['signer']>;
  requestHandler: { handle(request: HttpRequest, options?: { abortSignal?: AbortSignal }): Promise<{ response: HttpResponse }> };
  streamCollector(body: unknown): Promise<Uint8Array>;
  systemClockOffset: number;
}

export function signedPutEvents(client: EventBridgeClient): PutEventsTransport {
  const parts = client.config as unknown as ClientParts;
  // Resolved once: the endpoint and the signer do not change in a process. A failure is not kept, so a
  // later call tries again (and fails the same way, with the same message, if nothing changed).
  let route: Promise<Route> | undefined;
  const resolve = (): Promise<Route> => (route ??= resolveRoute(client, parts).catch((e: unknown) => {
    route = undefined;
    throw e;
  }));

  return async (entries, abortSignal) => {
    const { endpoint, signer, signingRegion, signingService } = await resolve();
    const body = requestBody(entries);
    const url = endpoint.url;
    const request = {
      method: 'POST',
      protocol: url.protocol,
      hostname: url.hostname,
      port: url.port === '' ? undefined : Number(url.port),
      path: url.pathname === '' ? '/' : url.pathname,
      query: {},
      headers: {
        ...flatHeaders(endpoint.headers),
        'content-type': CONTENT_TYPE,
        'x-amz-target': TARGET,
        'content-length': String(Buffer.byteLength(body)),
        host: url.host,
      },
      body,
    } as HttpRequest;
    const signed = await signer.sign(request, {
      signingDate: new Date(Date.now() + (parts.systemClockOffset || 0)),
      ...(signingRegion ? { signingRegion } : {}),
      ...(signingService ? { signingService } : {}),
    });
    const { response } = await parts.requestHandler.handle(signed, abortSignal ? { abortSignal } : {});
    const text = Buffer.from(await parts.streamCollector(response.body)).toString('utf8');
    if (response.statusCode >= 200 && response.statusCode < 300) return parseOutput(text);
    const error = serviceError(response, text);
    if (CLOCK_SKEW_ERROR_CODES.has(error.name)) correctClock(parts, response);
    throw error;
  };
}

async function resolveRoute(client: EventBridgeClient, parts: ClientParts): Promise<Route> {
  // A copy, as the SDK's endpoint middleware passes one: resolution writes the configured endpoint into it.
  const endpoint = await getEndpointFromInstructions({}, PutEventsCommand, { ...client.config } as never);
  const authScheme = (endpoint.properties?.authSchemes as { name?: string; signingRegion?: string; signingName?: string }[] | undefined)?.[0];
  // PutEvents resolves to SigV4, except with an EndpointId (global endpoints, SigV4a), which the reaper never sets.
  if (authScheme?.name !== undefined && authScheme.name !== 'sigv4') {
    throw new ConfigError(`the EventBridge endpoint ${endpoint.url.href} asks for ${authScheme.name} signing; only SigV4 is supported (do not configure a global endpoint for the audit bus)`);
  }
  return { endpoint, signer: await parts.signer(authScheme), signingRegion: authScheme?.signingRegion, signingService: authScheme?.signingName };
}

/** The members of a request entry after its Time, in the order the SDK writes them. */
const ENTRY_MEMBERS = ['Source', 'Resources', 'DetailType', 'Detail', 'EventBusName', 'TraceHeader'] as const;

/**
 * The request's JSON, written straight from the entries: each entry's Time as epoch seconds (awsJson1_1's
 * timestamp format), then its other members as the SDK writes them, absent ones left out as JSON.stringify
 * leaves out undefined. No object per entry: at 10 entries a request this halves the body's cost.
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
      if (value !== undefined) {
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
  for (const [name, values] of Object.entries(headers ?? {})) out[name] = values.join(',');
  return out;
}

function parseOutput(text: string): PutEventsOutput {
  const out = (text.trim() === '' ? {} : JSON.parse(text)) as unknown;
  if (typeof out !== 'object' || out === null || Array.isArray(out)) throw new EventBridgeServiceException({ name: 'SerializationException', $fault: 'client', message: 'the PutEvents response is not a JSON object', $metadata: {} });
  return out as PutEventsOutput;
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
  let body: Record<string, unknown> = {};
  try {
    const parsed = text.trim() === '' ? {} : (JSON.parse(text) as unknown);
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) body = parsed as Record<string, unknown>;
  } catch {
    // Not JSON (a proxy's page): the SDK fails to deserialise it and throws JSON's SyntaxError, which has no
    // fault, so the sink re-sends; the same here, with a message that says what came back.
    const error = new SyntaxError(`PutEvents answered HTTP ${response.statusCode} with a body that is not JSON (${header(response, 'content-type') ?? 'no content-type'}): ${JSON.stringify(text.slice(0, 200))}`);
    return Object.assign(error, { $metadata: metadata(response) });
  }
  const code = loadJsonRpcErrorCode(response, body) ?? 'Unknown';
  const name = code.includes('#') ? code.split('#')[1]! : code;
  const message = typeof body.message === 'string' && body.message !== '' ? body.message : typeof body.Message === 'string' && body.Message !== '' ? body.Message : 'UnknownError';
  return new EventBridgeServiceException({
    name,
    $fault: name === 'InternalException' || response.statusCode >= 500 ? 'server' : 'client',
    message,
    $metadata: metadata(response),
  });
}

function metadata(response: HttpResponse): { httpStatusCode: number; requestId: string | undefined; attempts: number; totalRetryDelay: number } {
  return { httpStatusCode: response.statusCode, requestId: header(response, 'x-amzn-requestid') ?? header(response, 'x-amz-request-id'), attempts: 1, totalRetryDelay: 0 };
}

function correctClock(parts: ClientParts, response: HttpResponse): void {
  const serverTime = Date.parse(header(response, 'date') ?? '');
  if (Number.isNaN(serverTime)) return;
  if (Math.abs(serverTime - (Date.now() + (parts.systemClockOffset || 0))) >= CLOCK_SKEW_THRESHOLD_MS) parts.systemClockOffset = serverTime - Date.now();
}
