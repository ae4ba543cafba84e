/** The client side of SCRAM, for tests that speak the wire protocol without the driver. */
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { Binary, type Document } from 'mongodb';
import type { ScramMechanism } from '../src/scram.ts';
import { kind0, opMsg, Raw } from './raw-wire.ts';

/**
 * A SCRAM client as auth.md describes it (and the Node driver's src/cmap/auth/scram.ts does it):
 * returns the client-final message for the server-first message.
 */
export function clientFinal(mechanism: ScramMechanism, user: string, password: string, clientFirstBare: string, serverFirst: string): { message: string; serverSignature: string } {
  const algo = mechanism === 'SCRAM-SHA-1' ? 'sha1' : 'sha256';
  const length = mechanism === 'SCRAM-SHA-1' ? 20 : 32;
  const fields = Object.fromEntries(serverFirst.split(',').map((f) => [f[0], f.slice(2)]));
  const processed = mechanism === 'SCRAM-SHA-1' ? createHash('md5').update(`${user}:mongo:${password}`).digest('hex') : password;
  const salted = pbkdf2Sync(processed, Buffer.from(fields.s, 'base64'), Number(fields.i), length, algo);
  const clientKey = createHmac(algo, salted).update('Client Key').digest();
  const serverKey = createHmac(algo, salted).update('Server Key').digest();
  const storedKey = createHash(algo).update(clientKey).digest();
  const withoutProof = `c=biws,r=${fields.r}`;
  const authMessage = `${clientFirstBare},${serverFirst},${withoutProof}`;
  const signature = createHmac(algo, storedKey).update(authMessage).digest();
  const proof = Buffer.from(clientKey.map((b, i) => b ^ signature[i])).toString('base64');
  return { message: `${withoutProof},p=${proof}`, serverSignature: createHmac(algo, serverKey).update(authMessage).digest('base64') };
}


/**
 * A connection authenticated with SCRAM-SHA-256 over the raw wire protocol: what a client that never sends
 * an lsid looks like (the official driver attaches one to every command once the server supports sessions).
 */
export async function rawAuthenticated(port: number, user: string, password: string): Promise<{ raw: Raw; command(doc: Document): Promise<Document | null> }> {
  const raw = await Raw.connect(port);
  let id = 1;
  const command = async (doc: Document) => (await raw.send(opMsg(id++, 0, [kind0({ ...doc, $db: doc.$db ?? 'admin' })])))?.doc ?? null;
  await command({ hello: 1, client: { application: { name: 'sessionless' }, driver: { name: 'raw', version: '0' }, os: { type: 'linux' } } });
  const bare = `n=${user},r=${randomBytes(18).toString('base64')}`;
  const first = await command({ saslStart: 1, mechanism: 'SCRAM-SHA-256', payload: new Binary(Buffer.from(`n,,${bare}`)), autoAuthorize: 1 });
  if (!first?.ok) throw new Error(`saslStart failed: ${JSON.stringify(first)}`);
  const serverFirst = Buffer.from(first.payload.buffer).toString();
  const { message } = clientFinal('SCRAM-SHA-256', user, password, bare, serverFirst);
  let reply = await command({ saslContinue: 1, conversationId: first.conversationId, payload: new Binary(Buffer.from(message)) });
  while (reply?.ok && !reply.done) reply = await command({ saslContinue: 1, conversationId: first.conversationId, payload: new Binary(Buffer.alloc(0)) });
  if (!reply?.ok) throw new Error(`saslContinue failed: ${JSON.stringify(reply)}`);
  return { raw, command };
}
