/**
 * Credentials never printed, whatever shape the connection string has: the redaction itself, the
 * `session-reaper` command (a separate process) on malformed strings and on a failed connection with
 * a password holding a space, and the Lambda start-up with a bad MONGODB_URI (createReaper, the
 * reaper function's module, the webhook function's module, the Lambda logger).
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createReaper } from '../src/service/app.ts';
import { logger } from '../src/service/lambda/log.ts';
import { ConfigError, MongoStageError } from '../src/util/errors.ts';
import { MongoAdapter } from '../src/adapters/mongodb/adapter.ts';
import { redactConnectionString, redactError, redactUri } from '../src/util/redact.ts';
import { runCli as cli } from './support/cli.ts';

const SECRET = 'S3CRET-pw';
/** Connection strings a hurried operator types, each carrying SECRET. */
const MALFORMED = [`reaper:${SECRET}@127.0.0.1:27017`, `mongodb:/reaper:${SECRET}@127.0.0.1:27017`, `mongodb//reaper:${SECRET}@127.0.0.1:27017`];
const UNREACHABLE_SPACED = 'mongodb://reaper:S3CRET pw@127.0.0.1:1/?serverSelectionTimeoutMS=300';

const leaks = (text: string) => /S3CRET/.test(text);

describe('redactUri (free text)', () => {
  it('masks every user:password@ shape, with or without a proper scheme, and password-like options', () => {
    const cases: [string, string][] = [
      ['failed: mongodb+srv://app:p%40ss@c0.example.net/db?password=x&w=1', 'failed: mongodb+srv://***:***@c0.example.net/db?password=***&w=1'],
      [`got "reaper:${SECRET}@127.0.0.1:27017"`, 'got "***:***@127.0.0.1:27017"'],
      [`got "mongodb:/reaper:${SECRET}@h:1"`, 'got "mongodb:/***:***@h:1"'],
      [`got "mongodb//reaper:${SECRET}@h:1"`, 'got "mongodb//***:***@h:1"'],
      [`mongodb:reaper:${SECRET}@h`, '***:***@h'],
      ['cannot connect to mongodb://reaper:S3CRET pw@127.0.0.1:1/?x=1: refused', 'cannot connect to mongodb://***:***@127.0.0.1:1/?x=1: refused'],
      ['mongodb://u:S3CRET@pw@h1:1,h2:2/db', 'mongodb://***:***@h1:1,h2:2/db'],
      ['mongodb://:S3CRET@h', 'mongodb://***:***@h'],
      ['mongodb://u:S3CRET%20pw@h', 'mongodb://***:***@h'],
    ];
    assert.deepEqual(cases.map(([text]) => redactUri(text)), cases.map(([, want]) => want));
  });

  it('leaves what carries no password alone: hosts, user@db names, JSON lines, an already masked string', () => {
    const untouched = [
      'mongodb://h1,h2/?replicaSet=rs',
      'kill of app@admin failed: mongodb://h1:27017/ timed out',
      '{"level":"info","message":"x","user":"app@admin","uri":"mongodb://h/"}',
      'mongodb://***:***@h',
    ];
    assert.deepEqual(untouched.map(redactUri), untouched);
  });
});

describe('redactConnectionString (a value known to be a connection string)', () => {
  it('keeps the scheme however mistyped and masks everything up to the last "@", slashes in the password included', () => {
    const cases: [string, string][] = [
      [`reaper:${SECRET}@127.0.0.1:27017`, '***:***@127.0.0.1:27017'],
      ['mongodb//reaper:S3/CRET@h', 'mongodb//***:***@h'],
      ['mongodb://u:S3CRET@pw@h/?password=x', 'mongodb://***:***@h/?password=***'],
      ['mongodb://h/', 'mongodb://h/'],
    ];
    assert.deepEqual(cases.map(([v]) => redactConnectionString(v)), cases.map(([, want]) => want));
  });
});

describe('session-reaper run never prints the password', () => {
  for (const uri of MALFORMED) {
    it(`a connection string without mongodb:// is a usage error that masks it: ${redactConnectionString(uri)}`, async () => {
      const { code, stderr } = await cli(['run', '--uri', uri, '--dry-run']);
      assert.equal(code, 2, stderr);
      assert.match(stderr, /--uri must be a mongodb:\/\/ or mongodb\+srv:\/\/ connection string, got "(mongodb:?\/\/?)?\*\*\*:\*\*\*@127\.0\.0\.1:27017"/);
      assert.ok(!leaks(stderr), stderr);
    });
  }

  it('a password with a space: the "cannot connect" message masks all of it', async () => {
    const { code, stdout, stderr } = await cli(['run', '--uri', UNREACHABLE_SPACED, '--dry-run']);
    assert.equal(code, 1, stderr);
    assert.match(stderr, /cannot connect to mongodb:\/\/\*\*\*:\*\*\*@127\.0\.0\.1:1\//);
    assert.ok(!leaks(stderr + stdout), stderr);
  });
});

describe('the adapter and the Lambda start-up never carry the password', () => {
  const saved = { ...process.env };
  after(() => {
    process.env = saved;
  });

  it('MongoAdapter.connect: a failed connection is a MongoStageError without the password', async () => {
    const error = await MongoAdapter.connect(UNREACHABLE_SPACED).then(() => null, (e: unknown) => e);
    assert.ok(error instanceof MongoStageError, String(error));
    assert.ok(!leaks(error.message), error.message);
  });

  it('createReaper with a bad MONGODB_URI: a ConfigError without the password', async () => {
    for (const uri of MALFORMED) {
      const error = await createReaper({ MONGODB_URI: uri, REAPER_AUDIT: 'stdout' }, { error() {}, warn() {} }).then(() => null, (e: unknown) => e);
      assert.ok(error instanceof ConfigError, String(error));
      assert.match(error.message, /^MONGODB_URI must be a mongodb:\/\/ or mongodb\+srv:\/\/ connection string/);
      assert.ok(!leaks(`${error.message}\n${error.stack}`), error.message);
    }
  });

  it('the reaper and webhook function modules fail their init phase without the password', async () => {
    // What the Lambda runtime prints of an init error: the error's message and stack.
    Object.assign(process.env, { MONGODB_URI: MALFORMED[0], REAPER_AUDIT: 'stdout', REAPER_FUNCTION_NAME: 'reaper', ATLAS_WEBHOOK_SECRET: 'x' });
    const errors = await Promise.all(['../functions/reaper.ts', '../functions/atlas-webhook.ts'].map((m) => import(m).then(() => null, (e: unknown) => e)));
    for (const error of errors) {
      assert.ok(error instanceof ConfigError, String(error));
      assert.ok(!leaks(`${error.message}\n${error.stack}`), error.message);
    }
  });

  it('the Lambda logger masks connection strings in messages and in fields', async (t) => {
    // The Powertools Logger writes error lines to process.stderr through its own Console.
    const lines: string[] = [];
    const write = t.mock.method(process.stderr, 'write', (chunk: string | Uint8Array) => { lines.push(...String(chunk).split('\n').filter(Boolean)); return true; });
    logger.error('cannot connect to mongodb://reaper:S3CRET pw@h:1/', { uri: `mongodb//reaper:${SECRET}@h` });
    logger.error(`{"detail":"reaper:${SECRET}@h"}`);
    write.mock.restore();
    assert.equal(lines.length, 2);
    for (const line of lines) assert.ok(!leaks(line), line);
    assert.match(lines[0]!, /"message":"cannot connect to mongodb:\/\/\*\*\*:\*\*\*@h:1\/"/);
  });

  it('redactError masks the message, the stack and the causes in place', () => {
    const error = new Error(`wrapper: reaper:${SECRET}@h`, { cause: new Error(`inner mongodb://u:${SECRET}@h`) });
    assert.equal(redactError(error), error);
    assert.ok(!leaks(`${error.message}${error.stack}${(error.cause as Error).message}${(error.cause as Error).stack}`));
  });
});
