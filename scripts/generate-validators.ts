/**
 * Compiles the JSON Schemas of every external input into standalone validator modules (ajv
 * "standalone validation code"), so no Lambda cold start, CLI run or review runs a schema compiler:
 * compiling policies/schema.json with ajv took ~300 ms of a ~500 ms module initialisation (measured
 * by `npm run bench:cold`). The output is committed; test/generated.test.ts fails when it is stale.
 * src/util/validate.ts turns the errors of these validators into messages.
 *
 *   npm run generate
 */
import { writeFileSync } from 'node:fs';
import { Ajv2020, _ } from 'ajv/dist/2020.js';
import standaloneCode from 'ajv/dist/standalone/index.js';
import policySchema from '../policies/schema.json' with { type: 'json' };
import auditEventSchema from '../schemas/audit-event.v1.json' with { type: 'json' };
import triggersSchema from '../schemas/triggers.json' with { type: 'json' };
import deploymentSettingsSchema from '../schemas/deployment-settings.json' with { type: 'json' };
import auditFormats from '../src/pass/audit/formats.ts';

const standalone = ((standaloneCode as unknown as { default?: unknown }).default ?? standaloneCode) as typeof standaloneCode.default;

/** Every schema, so that one may refer to another (the manual request's session ids are the audit event's UUIDs). */
const SCHEMAS = [policySchema, auditEventSchema, triggersSchema, deploymentSettingsSchema];

/** The validators compiled from one schema file, one module each, so a bundle carries only those it imports. */
interface Source {
  /** Output directory (each validator becomes DIR/validate-NAME.js and its .d.ts). */
  dir: string;
  /** The schema file, for the header. */
  from: string;
  /** Export name -> schema id or id#/json-pointer. */
  validators: Record<string, string>;
  /** The module of the schema's `format`s, relative to the output, when it uses any. */
  formats?: string;
}

interface GeneratedModule {
  /** Output path without extension. */
  out: string;
  from: string;
  name: string;
  ref: string;
  formats?: string;
}

const triggers = triggersSchema.$id;
const settings = deploymentSettingsSchema.$id;
const audit = auditEventSchema.$id;

const SOURCES: readonly Source[] = [
  { dir: 'src/pass/policy/generated', from: 'policies/schema.json', validators: { validatePolicyFile: policySchema.$id } },
  {
    dir: 'src/pass/audit/generated',
    from: 'schemas/audit-event.v1.json',
    formats: '../formats.ts',
    validators: {
      validateAuditDetail: audit,
      // The branches on their own: when a detail fails, the errors of the branch its `kind` selects are
      // what a reader needs; the oneOf's errors list every branch's complaints.
      validateDecisionDetail: `${audit}#/$defs/decision`,
      validateRunDetail: `${audit}#/$defs/run`,
      // What a session id and uid must be, for the kill planner: an audit event names the session by them.
      validateUuid: `${audit}#/$defs/uuid`,
      validateUid: `${audit}#/$defs/uid`,
    },
  },
  {
    dir: 'src/service/generated',
    from: 'schemas/triggers.json',
    validators: {
      validateSchedulerInput: `${triggers}#/$defs/schedulerInput`,
      validateScheduledEvent: `${triggers}#/$defs/scheduledEvent`,
      validateAlarmStateChange: `${triggers}#/$defs/alarmStateChange`,
      validateAtlasAlert: `${triggers}#/$defs/atlasAlert`,
      validateAtlasAlertHandoff: `${triggers}#/$defs/atlasAlertHandoff`,
      validateManualRequest: `${triggers}#/$defs/manualRequest`,
    },
  },
  {
    dir: 'src/service/generated',
    from: 'schemas/deployment-settings.json',
    validators: {
      validateClusters: `${settings}#/$defs/clusters`,
      validatePolicySets: `${settings}#/$defs/policySets`,
      validateAlarms: `${settings}#/$defs/alarms`,
      validateAtlasAlerts: `${settings}#/$defs/atlasAlerts`,
      validateSecretArn: `${settings}#/$defs/secretArn`,
    },
  },
];

const kebab = (name: string): string => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

export const MODULES: readonly GeneratedModule[] = SOURCES.flatMap((source) => Object.entries(source.validators).map(([name, ref]) => ({
  out: `${source.dir}/${kebab(name)}`, from: source.from, name, ref, ...(source.formats ? { formats: source.formats } : {}),
})));

function moduleCode(module: GeneratedModule): string {
  // allErrors: every problem in one message; strict: an unknown keyword or format in a schema is a bug
  // in the schema; verbose: errors carry the failing schema node (its title) and value, which the
  // messages quote; discriminator: the manual request's branch is chosen by "action".
  // strictRequired is off because conditional `then: { required: [...] }` branches name properties
  // declared by the enclosing schema, which that check does not look through.
  // messages off for the inputs src/util/validate.ts explains, which does not read ajv's English: a
  // tenth less code (the webhook bundle carries six of these validators). The policy file keeps them:
  // structure.ts falls back on them.
  const ajv = new Ajv2020({
    allErrors: true, strict: true, strictRequired: false, verbose: true, discriminator: true,
    ...(module.name !== 'validatePolicyFile' ? { messages: false } : {}),
    code: { source: true, esm: true, ...(module.formats ? { formats: _`require(${module.formats}).default` } : {}) },
  });
  for (const [name, format] of Object.entries(auditFormats)) ajv.addFormat(name, format);
  for (const schema of SCHEMAS) ajv.addSchema(schema);
  // ajv's ESM output still require()s its runtime helpers (ajv issue 2209) and the formats module;
  // turn those into imports, since `require` does not exist in an ES module.
  const imports: string[] = [];
  const helpers: string[] = [];
  const code = standalone(ajv, { [module.name]: module.ref }).replace(/const (\w+) = require\("([^"]+)"\)\.default(.*?);/g, (_m, name: string, mod: string, rest: string) => {
    imports.push(`import ${name}Module from "${/\.\w+$/.test(mod) ? mod : `${mod}.js`}";`);
    helpers.push(`const ${name} = (${name}Module.default ?? ${name}Module)${rest};`);
    return '';
  });
  const exported = new RegExp(`export const ${module.name} = (\\w+);`);
  const fn = exported.exec(code)?.[1];
  if (!fn) throw new Error(`${module.out}: ajv's standalone code does not export ${module.name} as expected`);
  // All of it inside one function marked pure: the code assigns properties to its functions
  // (\`validateN.evaluated = ...\`), which esbuild must otherwise keep as side effects, so a bundle
  // importing the module that holds a validator carried it even when nothing called it.
  return `// Generated by scripts/generate-validators.ts from ${module.from}: do not edit; run \`npm run generate\`.\n// @ts-nocheck\n`
    + `${imports.map((i) => `${i}\n`).join('')}export const ${module.name} = /* @__PURE__ */ (() => {\n${helpers.map((h) => `${h}\n`).join('')}`
    // (An ES module is strict already: ajv's "use strict" would be a no-op inside the function.)
    + `${code.replace(exported, '').replace(/^"use strict";/, '')}\nreturn ${fn};\n})();\n`;
}

function typesCode(module: GeneratedModule): string {
  return `// Generated by scripts/generate-validators.ts: do not edit; run \`npm run generate\`.\nimport type { ErrorObject } from 'ajv';\n\n/** ${module.ref}; no type predicate: the TypeScript types of the value are the callers'. */\nexport declare const ${module.name}: { (data: unknown): boolean; errors?: ErrorObject[] | null };\n`;
}

/** The generated modules, by output path; also used by the freshness test. */
export function generatedValidators(): Record<string, string> {
  return Object.fromEntries(MODULES.flatMap((m) => [[`${m.out}.js`, moduleCode(m)], [`${m.out}.d.ts`, typesCode(m)]]));
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  for (const [path, code] of Object.entries(generatedValidators())) {
    writeFileSync(new URL(`../${path}`, import.meta.url), code);
    console.log(`wrote ${path} (${code.length} bytes)`);
  }
}
