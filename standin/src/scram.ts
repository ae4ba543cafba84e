/**
 * Server side of SCRAM-SHA-1 and SCRAM-SHA-256 (RFC 5802, RFC 7677) in MongoDB's flavour, as
 * specified in mongodb/specifications source/auth/auth.md and implemented by mongod in
 * src/mongo/db/auth/sasl_scram_server_conversation.cpp:
 *   - SCRAM-SHA-1 derives its key from HEX(MD5(user + ":mongo:" + password)), not SASLprep'd;
 *   - SCRAM-SHA-256 derives it from SASLprep(password);
 *   - user names are never SASLprep'd; ',' and '=' travel as '=2C' and '=3D';
 *   - no channel binding (gs2 header "n,,");
 *   - with {options: {skipEmptyExchange: true}} (which the drivers send) the conversation ends after
 *     the second step with done: true.
 * Every failure of a conversation reaches the client as AuthenticationFailed "Authentication
 * failed." (sasl_commands.cpp doSaslStep: "All the client needs to know is that authentication has
 * failed."); the specific reason is kept in `failureReason` for the server log.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import saslprep from '@mongodb-js/saslprep';
import { CommandError } from './errors.ts';

export type ScramMechanism = 'SCRAM-SHA-1' | 'SCRAM-SHA-256';

export interface ScramCredentials {
  iterationCount: number;
  /** base64 */
  salt: string;
  /** base64 of H(ClientKey) */
  storedKey: string;
  /** base64 of HMAC(SaltedPassword, "Server Key") */
  serverKey: string;
}

/**
 * mongod's defaults, the server parameters scramIterationCount and scramSHA256IterationCount
 * (src/mongo/db/auth/sasl_options.idl: default 10000 and 15000).
 */
export const DEFAULT_ITERATION_COUNT: Readonly<Record<ScramMechanism, number>> = {
  'SCRAM-SHA-1': 10000,
  'SCRAM-SHA-256': 15000,
};

export const SUPPORTED_MECHANISMS: readonly ScramMechanism[] = ['SCRAM-SHA-1', 'SCRAM-SHA-256'];

const HASH: Record<ScramMechanism, { algo: 'sha1' | 'sha256'; length: number }> = {
  'SCRAM-SHA-1': { algo: 'sha1', length: 20 },
  'SCRAM-SHA-256': { algo: 'sha256', length: 32 },
};

/** AuthorizationManager::authenticationFailedStatus. */
export function authenticationFailed(): CommandError {
  return new CommandError(18, 'AuthenticationFailed', 'Authentication failed.');
}

/**
 * The error mongod answers a saslStart for a mechanism it does not offer
 * (AuthCounter::getMechanismCounter in src/mongo/db/stats/counters.cpp).
 */
export function assertSupportedMechanism(mechanism: string): asserts mechanism is ScramMechanism {
  if (!(SUPPORTED_MECHANISMS as readonly string[]).includes(mechanism)) {
    throw new CommandError(334, 'MechanismUnavailable', `Received authentication for mechanism ${mechanism} which is not enabled`);
  }
}

/** The password the key is derived from: the MD5 digest for SCRAM-SHA-1 (auth.md "SCRAM-SHA-1"), SASLprep for SCRAM-SHA-256. */
function preparePassword(user: string, password: string, mechanism: ScramMechanism): string {
  if (mechanism === 'SCRAM-SHA-1') return createHash('md5').update(`${user}:mongo:${password}`, 'utf8').digest('hex');
  try {
    return saslprep(password);
  } catch (e) {
    throw new CommandError(2, 'BadValue', `Error preparing SCRAM-SHA-256 password: ${(e as Error).message}`);
  }
}

const credentialCache = new Map<string, ScramCredentials>();
const CACHE_LIMIT = 256;

/**
 * The stored credentials of a user (what mongod keeps in admin.system.users `credentials`). PBKDF2
 * runs here, once per user and password: results are cached by user, password, mechanism, iteration
 * count and salt (an absent salt is drawn at random on the first call: the salt length is the hash
 * length minus 4, Presecrets::saltLength in src/mongo/crypto/mechanism_scram.h).
 */
export function makeScramCredentials(
  user: string,
  password: string,
  mechanism: ScramMechanism,
  iterations: number = DEFAULT_ITERATION_COUNT[mechanism],
  salt?: string | Buffer,
): ScramCredentials {
  assertSupportedMechanism(mechanism);
  const { algo, length } = HASH[mechanism];
  const saltBuf = salt === undefined ? undefined : typeof salt === 'string' ? Buffer.from(salt, 'base64') : salt;
  const cacheKey = JSON.stringify([mechanism, user, password, iterations, saltBuf?.toString('base64') ?? null]);
  const cached = credentialCache.get(cacheKey);
  if (cached) return { ...cached };
  const saltBytes = saltBuf ?? randomBytes(length - 4);
  const salted = pbkdf2Sync(preparePassword(user, password, mechanism), saltBytes, iterations, length, algo);
  const clientKey = createHmac(algo, salted).update('Client Key').digest();
  const creds: ScramCredentials = {
    iterationCount: iterations,
    salt: saltBytes.toString('base64'),
    storedKey: createHash(algo).update(clientKey).digest('base64'),
    serverKey: createHmac(algo, salted).update('Server Key').digest('base64'),
  };
  if (credentialCache.size >= CACHE_LIMIT) credentialCache.delete(credentialCache.keys().next().value as string);
  credentialCache.set(cacheKey, creds);
  return { ...creds };
}

/** RFC 5802 "saslname": '=2C' is ',' and '=3D' is '=' (decodeSCRAMUsername, in that order). */
export function decodeScramUsername(s: string): string {
  return s.replaceAll('=2C', ',').replaceAll('=3D', '=');
}

export function encodeScramUsername(s: string): string {
  return s.replaceAll('=', '=3D').replaceAll(',', '=2C');
}

export interface ScramConversationOptions {
  /**
   * The server's part of the nonce. Default: base64 of 24 random bytes (three 64-bit words, as
   * mongod draws them). Tests inject a fixed value to reproduce published vectors.
   */
  serverNonce?: () => string;
  /** saslStart's options.skipEmptyExchange (default true): false adds mongod's empty third step. */
  skipEmptyExchange?: boolean;
}

export interface ScramStepResult {
  payload: Buffer;
  done: boolean;
  /** The authenticated user, once the proof was verified. */
  user?: string;
}

/**
 * One SCRAM conversation, server side: `start` takes the client-first message (saslStart) and
 * returns the server-first message; `continue` takes the client-final message (saslContinue) and
 * returns the server-final message with done: true and the user. Any failure throws
 * AuthenticationFailed and ends the conversation.
 */
export class ScramServerConversation {
  readonly mechanism: ScramMechanism;
  /** The (decoded) user name from the client-first message. */
  user: string | undefined;
  /** Why the last step failed, for the log; never sent to the client. */
  failureReason: string | undefined;

  private readonly lookup: (user: string) => ScramCredentials | null | undefined;
  private readonly options: ScramConversationOptions;
  private step = 0;
  private failed = false;
  private authMessage = '';
  private nonce = '';
  private gs2Header = '';
  private credentials: ScramCredentials | undefined;

  constructor(
    mechanism: ScramMechanism | string,
    lookup: (user: string) => ScramCredentials | null | undefined,
    options: ScramConversationOptions = {},
  ) {
    assertSupportedMechanism(mechanism);
    this.mechanism = mechanism;
    this.lookup = lookup;
    this.options = options;
  }

  private fail(reason: string): never {
    this.failed = true;
    this.failureReason = reason;
    throw authenticationFailed();
  }

  /** Step 1: client-first-message "n,,n=<user>,r=<nonce>" → server-first-message "r=<nonce>,s=<salt>,i=<count>". */
  start(payload: Buffer): Buffer {
    if (this.step !== 0 || this.failed) this.fail(`Invalid SCRAM authentication step: ${this.step + 1}`);
    this.step = 1;
    const input = payload.toString('utf8');
    // _firstStep: gs2-header := gs2-cbind-flag ',' [ authzid ] ','
    const c1 = input.indexOf(',');
    if (c1 < 0) this.fail('Incorrect number of arguments for first SCRAM client message, got 1 expected at least 3');
    const cbindFlag = input.slice(0, c1);
    if (cbindFlag.startsWith('p=')) this.fail('Server does not support channel binding');
    if (cbindFlag !== 'n' && cbindFlag !== 'y') this.fail(`Incorrect SCRAM client message prefix: ${cbindFlag}`);
    const c2 = input.indexOf(',', c1 + 1);
    if (c2 < 0) this.fail('Incorrect number of arguments for first SCRAM client message, got 2 expected at least 3');
    let authzid = input.slice(c1 + 1, c2);
    if (authzid.length > 0) {
      if (!authzid.startsWith('a=')) this.fail(`Incorrect SCRAM authzid: ${authzid}`);
      authzid = authzid.slice(2);
    }
    this.gs2Header = input.slice(0, c2 + 1);
    const bare = input.slice(c2 + 1);
    if (bare.startsWith('m=')) this.fail('SCRAM mandatory extensions are not supported');
    // Consecutive commas are skipped, as mongod's absl::SkipEmpty split does.
    const fields = bare.split(',').filter((f) => f.length > 0);
    if (fields.length < 2) this.fail(`Incorrect number of arguments for first SCRAM client message, got ${fields.length + 2} expected at least 3`);
    if (!fields[0].startsWith('n=') || fields[0].length < 3) this.fail(`Invalid SCRAM user name: ${fields[0]}`);
    const user = decodeScramUsername(fields[0].slice(2));
    this.user = user;
    if (authzid.length > 0 && authzid !== user) this.fail(`SCRAM user name ${user} does not match authzid ${authzid}`);
    if (!fields[1].startsWith('r=') || fields[1].length < 6) this.fail(`Invalid SCRAM client nonce: ${fields[1]}`);
    const clientNonce = fields[1].slice(2);

    const creds = this.lookup(user);
    if (!creds) this.fail(`Could not find user "${user}"`);
    this.credentials = creds;

    this.nonce = clientNonce + this.makeServerNonce();
    const serverFirst = `r=${this.nonce},s=${creds.salt},i=${creds.iterationCount}`;
    this.authMessage = `${bare},${serverFirst}`;
    return Buffer.from(serverFirst, 'utf8');
  }

  private makeServerNonce(): string {
    if (this.options.serverNonce) return this.options.serverNonce();
    // Base64 of 24 bytes has no padding; redraw in the unlikely case it starts with "nonce"
    // (the Node driver rejects such a nonce).
    for (;;) {
      const n = randomBytes(24).toString('base64');
      if (!n.startsWith('nonce')) return n;
    }
  }

  /** Step 2: client-final-message "c=biws,r=<nonce>,p=<proof>" → server-final-message "v=<signature>". */
  continue(payload: Buffer): ScramStepResult {
    if (this.failed) this.fail('SCRAM conversation already failed');
    if (this.step === 2 && this.options.skipEmptyExchange === false) {
      // The legacy empty third exchange.
      this.step = 3;
      if (payload.length !== 0) this.fail('Unexpected payload in the final SCRAM step');
      return { payload: Buffer.alloc(0), done: true, user: this.user };
    }
    if (this.step !== 1 || !this.credentials) this.fail(`Invalid SCRAM authentication step: ${this.step + 1}`);
    this.step = 2;
    const input = payload.toString('utf8');
    // _secondStep: client-final-message-without-proof ',' proof
    const last = input.lastIndexOf(',');
    if (last < 0) this.fail('Incorrect number of arguments for second SCRAM client message, got 1 expected at least 3');
    const withoutProof = input.slice(0, last);
    const proofField = input.slice(last + 1);
    if (proofField.length < 3 || !proofField.startsWith('p=')) this.fail(`Incorrect SCRAM ClientProof: ${proofField}`);
    const fields = withoutProof.split(',').filter((f) => f.length > 0);
    if (fields.length < 2) this.fail(`Incorrect number of arguments for second SCRAM client message, got ${fields.length + 1} expected at least 3`);
    if (!fields[0].startsWith('c=') || fields[0].length < 3) this.fail(`Incorrect SCRAM channel binding: ${fields[0]}`);
    // Without channel binding the client echoes its gs2 header ("n,," is "biws").
    if (fields[0].slice(2) !== Buffer.from(this.gs2Header, 'utf8').toString('base64')) {
      this.fail(`Incorrect SCRAM channel binding: ${fields[0]}`);
    }
    if (!fields[1].startsWith('r=') || fields[1].length < 6) this.fail(`Incorrect SCRAM client|server nonce: ${fields[1]}`);
    const nonce = fields[1].slice(2);
    if (nonce !== this.nonce) {
      this.fail(`Unmatched SCRAM nonce received from client in second step, expected ${this.nonce} but received ${nonce}`);
    }

    // ClientSignature := HMAC(StoredKey, AuthMessage); ClientKey := ClientProof XOR ClientSignature;
    // the proof holds when H(ClientKey) = StoredKey. ServerSignature := HMAC(ServerKey, AuthMessage).
    const authMessage = `${this.authMessage},${withoutProof}`;
    const { algo, length } = HASH[this.mechanism];
    const storedKey = Buffer.from(this.credentials.storedKey, 'base64');
    const proof = Buffer.from(proofField.slice(2), 'base64');
    if (proof.length !== length) this.fail('SCRAM authentication failed, storedKey mismatch');
    const clientSignature = createHmac(algo, storedKey).update(authMessage).digest();
    const clientKey = Buffer.alloc(length);
    for (let i = 0; i < length; i++) clientKey[i] = proof[i] ^ clientSignature[i];
    const computed = createHash(algo).update(clientKey).digest();
    if (computed.length !== storedKey.length || !timingSafeEqual(computed, storedKey)) {
      this.fail('SCRAM authentication failed, storedKey mismatch');
    }
    const serverSignature = createHmac(algo, Buffer.from(this.credentials.serverKey, 'base64')).update(authMessage).digest('base64');
    const done = this.options.skipEmptyExchange !== false;
    return { payload: Buffer.from(`v=${serverSignature}`, 'utf8'), done, user: done ? this.user : undefined };
  }

  /** Whether the conversation completed successfully. */
  get done(): boolean {
    return !this.failed && (this.step === 3 || (this.step === 2 && this.options.skipEmptyExchange !== false));
  }
}
