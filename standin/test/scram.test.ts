import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { clientFinal } from './scram-client.ts';
import { CommandError } from '../src/errors.ts';
import {
  DEFAULT_ITERATION_COUNT,
  ScramServerConversation,
  encodeScramUsername,
  makeScramCredentials,
  type ScramCredentials,
  type ScramMechanism,
} from '../src/scram.ts';

function assertAuthFailed(fn: () => unknown): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof CommandError, `expected a CommandError, got ${String(e)}`);
    assert.equal(e.code, 18);
    assert.equal(e.codeName, 'AuthenticationFailed');
    assert.equal(e.message, 'Authentication failed.');
    return true;
  });
}

function lookupOf(users: Record<string, ScramCredentials>): (user: string) => ScramCredentials | null {
  return (user) => users[user] ?? null;
}

test('the auth.md SCRAM-SHA-256 test vector reproduces', () => {
  // Prepare
  const creds = makeScramCredentials('user', 'pencil', 'SCRAM-SHA-256', 4096, 'W22ZaJ0SNY7soEsUEjb6gQ==');
  const conversation = new ScramServerConversation('SCRAM-SHA-256', lookupOf({ user: creds }), {
    serverNonce: () => '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0',
  });
  // Act
  const serverFirst = conversation.start(Buffer.from('n,,n=user,r=rOprNGfwEbeRWgbNEkqO')).toString();
  const final = conversation.continue(
    Buffer.from('c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ='),
  );
  // Assess
  assert.equal(serverFirst, 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096');
  assert.equal(final.payload.toString(), 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=');
  assert.equal(final.done, true);
  assert.equal(final.user, 'user');
});

test('the auth.md SCRAM-SHA-1 test vector reproduces', () => {
  // Prepare
  const creds = makeScramCredentials('user', 'pencil', 'SCRAM-SHA-1', 10000, 'rQ9ZY3MntBeuP3E1TDVC4w==');
  const conversation = new ScramServerConversation('SCRAM-SHA-1', lookupOf({ user: creds }), {
    serverNonce: () => 'Ho+Vgk7qvUOKUwuWLIWg4l/9SraGMHEE',
  });
  // Act
  const serverFirst = conversation.start(Buffer.from('n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL')).toString();
  const final = conversation.continue(Buffer.from('c=biws,r=fyko+d2lbbFgONRv9qkxdawLHo+Vgk7qvUOKUwuWLIWg4l/9SraGMHEE,p=MC2T8BvbmWRckDw8oWl5IVghwCY='));
  // Assess
  assert.equal(serverFirst, 'r=fyko+d2lbbFgONRv9qkxdawLHo+Vgk7qvUOKUwuWLIWg4l/9SraGMHEE,s=rQ9ZY3MntBeuP3E1TDVC4w==,i=10000');
  assert.equal(final.payload.toString(), 'v=UMWeI25JD1yNYZRMpZ4VHvhZ9e0=');
  assert.deepEqual([final.done, final.user], [true, 'user']);
});

test('credentials default to mongod iteration counts and salt lengths', () => {
  // Prepare / Act
  const sha1 = makeScramCredentials('u1', 'p', 'SCRAM-SHA-1');
  const sha256 = makeScramCredentials('u1', 'p', 'SCRAM-SHA-256');
  // Assess
  assert.equal(sha1.iterationCount, 10000);
  assert.equal(sha256.iterationCount, 15000);
  assert.deepEqual(DEFAULT_ITERATION_COUNT, { 'SCRAM-SHA-1': 10000, 'SCRAM-SHA-256': 15000 });
  assert.equal(Buffer.from(sha1.salt, 'base64').length, 16);
  assert.equal(Buffer.from(sha256.salt, 'base64').length, 28);
  assert.equal(Buffer.from(sha1.storedKey, 'base64').length, 20);
  assert.equal(Buffer.from(sha256.serverKey, 'base64').length, 32);
});

test('credentials are cached per user and password', () => {
  // Prepare
  const first = makeScramCredentials('cached', 'secret', 'SCRAM-SHA-256');
  // Act
  const started = performance.now();
  const again = makeScramCredentials('cached', 'secret', 'SCRAM-SHA-256');
  const elapsed = performance.now() - started;
  const other = makeScramCredentials('cached', 'other', 'SCRAM-SHA-256');
  // Assess
  assert.deepEqual(again, first);
  assert.ok(elapsed < 5, `cached lookup took ${elapsed} ms`);
  assert.notEqual(other.storedKey, first.storedKey);
});

for (const mechanism of ['SCRAM-SHA-1', 'SCRAM-SHA-256'] as const) {
  test(`a full ${mechanism} conversation with a random nonce authenticates in two steps`, () => {
    // Prepare
    const creds = makeScramCredentials('alice', 'wonderland', mechanism);
    const conversation = new ScramServerConversation(mechanism, lookupOf({ alice: creds }));
    const clientFirstBare = `n=alice,r=${randomBytes(24).toString('base64')}`;
    // Act
    const serverFirst = conversation.start(Buffer.from(`n,,${clientFirstBare}`)).toString();
    const { message, serverSignature } = clientFinal(mechanism, 'alice', 'wonderland', clientFirstBare, serverFirst);
    const final = conversation.continue(Buffer.from(message));
    // Assess
    const serverNonce = /^r=([^,]+),/.exec(serverFirst)![1].slice(clientFirstBare.length - 'n=alice,r='.length);
    assert.equal(Buffer.from(serverNonce, 'base64').length, 24);
    assert.ok(!serverNonce.startsWith('nonce'));
    assert.equal(final.payload.toString(), `v=${serverSignature}`);
    assert.deepEqual([final.done, final.user, conversation.done], [true, 'alice', true]);
  });

  test(`a wrong ${mechanism} password is AuthenticationFailed`, () => {
    // Prepare
    const creds = makeScramCredentials('alice', 'wonderland', mechanism);
    const conversation = new ScramServerConversation(mechanism, lookupOf({ alice: creds }));
    const clientFirstBare = 'n=alice,r=clientnonce0123';
    const serverFirst = conversation.start(Buffer.from(`n,,${clientFirstBare}`)).toString();
    const { message } = clientFinal(mechanism, 'alice', 'looking-glass', clientFirstBare, serverFirst);
    // Act / Assess
    assertAuthFailed(() => conversation.continue(Buffer.from(message)));
    assert.match(conversation.failureReason ?? '', /storedKey mismatch/);
    assert.equal(conversation.done, false);
  });
}

test('a tampered nonce is AuthenticationFailed', () => {
  // Prepare
  const creds = makeScramCredentials('bob', 'pw', 'SCRAM-SHA-256');
  const conversation = new ScramServerConversation('SCRAM-SHA-256', lookupOf({ bob: creds }));
  const clientFirstBare = 'n=bob,r=abcdefghijkl';
  const serverFirst = conversation.start(Buffer.from(`n,,${clientFirstBare}`)).toString();
  const tampered = serverFirst.replace(/^r=([^,]+)/, (_m, r: string) => `r=${r.slice(0, -2)}xx`);
  const { message } = clientFinal('SCRAM-SHA-256', 'bob', 'pw', clientFirstBare, tampered);
  // Act / Assess
  assertAuthFailed(() => conversation.continue(Buffer.from(message)));
  assert.match(conversation.failureReason ?? '', /Unmatched SCRAM nonce/);
});

test('an unknown user is AuthenticationFailed at the first step', () => {
  // Prepare
  const conversation = new ScramServerConversation('SCRAM-SHA-256', () => null);
  // Act / Assess
  assertAuthFailed(() => conversation.start(Buffer.from('n,,n=nobody,r=abcdefgh')));
});

test('user names with "," and "=" travel escaped as =2C and =3D', () => {
  // Prepare
  const name = 'a,b=c,d';
  const creds = makeScramCredentials(name, 'pw', 'SCRAM-SHA-256');
  const seen: string[] = [];
  const conversation = new ScramServerConversation('SCRAM-SHA-256', (u) => {
    seen.push(u);
    return u === name ? creds : null;
  });
  const clientFirstBare = `n=${encodeScramUsername(name)},r=0123456789abcdef`;
  // Act
  const serverFirst = conversation.start(Buffer.from(`n,,${clientFirstBare}`)).toString();
  const { message } = clientFinal('SCRAM-SHA-256', name, 'pw', clientFirstBare, serverFirst);
  const final = conversation.continue(Buffer.from(message));
  // Assess
  assert.equal(encodeScramUsername(name), 'a=2Cb=3Dc=2Cd');
  assert.deepEqual(seen, [name]);
  assert.deepEqual([final.done, final.user], [true, name]);
});

test('SCRAM-SHA-1 with an escaped user name hashes the unescaped name', () => {
  // Prepare
  const name = 'x=y';
  const creds = makeScramCredentials(name, 'pw', 'SCRAM-SHA-1');
  const conversation = new ScramServerConversation('SCRAM-SHA-1', lookupOf({ [name]: creds }));
  const clientFirstBare = `n=${encodeScramUsername(name)},r=0123456789abcdef`;
  // Act
  const serverFirst = conversation.start(Buffer.from(`n,,${clientFirstBare}`)).toString();
  const final = conversation.continue(Buffer.from(clientFinal('SCRAM-SHA-1', name, 'pw', clientFirstBare, serverFirst).message));
  // Assess
  assert.equal(final.user, name);
});

test('SCRAM-SHA-256 passwords are SASLprep-ed', () => {
  // Prepare: RFC 4013 maps "I<SOFT HYPHEN>X" to "IX"
  const creds = makeScramCredentials('carol', 'I\u00ADX', 'SCRAM-SHA-256');
  const conversation = new ScramServerConversation('SCRAM-SHA-256', lookupOf({ carol: creds }));
  const clientFirstBare = 'n=carol,r=0123456789abcdef';
  // Act
  const serverFirst = conversation.start(Buffer.from(`n,,${clientFirstBare}`)).toString();
  const final = conversation.continue(Buffer.from(clientFinal('SCRAM-SHA-256', 'carol', 'IX', clientFirstBare, serverFirst).message));
  // Assess
  assert.equal(final.done, true);
});

test('an unsupported mechanism is MechanismUnavailable', () => {
  // Prepare / Act / Assess
  assert.throws(() => new ScramServerConversation('PLAIN', () => null), (e: unknown) => {
    assert.ok(e instanceof CommandError);
    assert.deepEqual([e.code, e.codeName, e.message], [334, 'MechanismUnavailable', 'Received authentication for mechanism PLAIN which is not enabled']);
    return true;
  });
});

test('malformed messages and channel binding are AuthenticationFailed', () => {
  // Prepare
  const creds = makeScramCredentials('dan', 'pw', 'SCRAM-SHA-256');
  const lookup = lookupOf({ dan: creds });
  // Act / Assess
  assertAuthFailed(() => new ScramServerConversation('SCRAM-SHA-256', lookup).start(Buffer.from('p=tls-unique,,n=dan,r=abcdefgh')));
  assertAuthFailed(() => new ScramServerConversation('SCRAM-SHA-256', lookup).start(Buffer.from('n,,n=dan')));
  assertAuthFailed(() => new ScramServerConversation('SCRAM-SHA-256', lookup).start(Buffer.from('n,,n=dan,r=ab')));
  const conversation = new ScramServerConversation('SCRAM-SHA-256', lookup);
  conversation.start(Buffer.from('n,,n=dan,r=abcdefgh'));
  assertAuthFailed(() => conversation.continue(Buffer.from('c=biws,r=abcdefgh')));
});

test('steps out of order are AuthenticationFailed', () => {
  // Prepare
  const creds = makeScramCredentials('eve', 'pw', 'SCRAM-SHA-256');
  const conversation = new ScramServerConversation('SCRAM-SHA-256', lookupOf({ eve: creds }));
  const clientFirstBare = 'n=eve,r=0123456789abcdef';
  // Act
  assertAuthFailed(() => new ScramServerConversation('SCRAM-SHA-256', lookupOf({ eve: creds })).continue(Buffer.from('c=biws')));
  const serverFirst = conversation.start(Buffer.from(`n,,${clientFirstBare}`)).toString();
  conversation.continue(Buffer.from(clientFinal('SCRAM-SHA-256', 'eve', 'pw', clientFirstBare, serverFirst).message));
  // Assess
  assertAuthFailed(() => conversation.continue(Buffer.alloc(0)));
});

test('without skipEmptyExchange the conversation ends with an empty third step', () => {
  // Prepare
  const creds = makeScramCredentials('fay', 'pw', 'SCRAM-SHA-1');
  const conversation = new ScramServerConversation('SCRAM-SHA-1', lookupOf({ fay: creds }), { skipEmptyExchange: false });
  const clientFirstBare = 'n=fay,r=0123456789abcdef';
  // Act
  const serverFirst = conversation.start(Buffer.from(`n,,${clientFirstBare}`)).toString();
  const second = conversation.continue(Buffer.from(clientFinal('SCRAM-SHA-1', 'fay', 'pw', clientFirstBare, serverFirst).message));
  const third = conversation.continue(Buffer.alloc(0));
  // Assess
  assert.deepEqual([second.done, second.user], [false, undefined]);
  assert.deepEqual([third.done, third.user, third.payload.length], [true, 'fay', 0]);
});
