/**
 * The configuration reference of docs/deploy.md, generated from the one table of settings
 * (src/service/config.ts SETTINGS) and the default policy set's declared thresholds, so the documentation
 * cannot drift from the code: test/config-reference.test.ts fails when the file's table differs
 * from what this produces, and `npm run docs:config` rewrites it.
 */
import { DEFAULT_POLICIES_DIR, SETTINGS } from './config.ts';
import { loadPolicySet } from '../pass/policy/load.ts';

export const BEGIN = '<!-- BEGIN GENERATED CONFIGURATION REFERENCE (npm run docs:config) -->';
export const END = '<!-- END GENERATED CONFIGURATION REFERENCE -->';

const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function shownDefault(value: unknown): string {
  if (typeof value === 'function') return '(derived, see description)';
  if (value === undefined) return '(required)';
  if (value === null || value === '') return '(none)';
  if (typeof value === 'string' && value.startsWith('/')) return '`policies/` of the package';
  return `\`${String(value)}\``;
}

export async function configReference(): Promise<string> {
  const rows = SETTINGS.map((s) => `| \`${s.env}\` | ${s.flag === null ? 'Lambda only' : `\`--${s.flag}\``} | ${shownDefault(s.default)} | ${cell(s.description)} |`);
  const policy = await loadPolicySet(DEFAULT_POLICIES_DIR, { env: {} });
  const thresholds = Object.values(policy.parameterInfo).map((p) =>
    `| \`${p.env ?? '-'}\` | ${p.flag ? `\`--${p.flag}\`` : '-'} | \`${p.default}\` | ${cell(p.description)}${p.minimum !== undefined ? ` Minimum ${p.minimum}.` : ''} |`);
  return [
    BEGIN,
    '',
    '| Environment variable | CLI flag | Default | Meaning |',
    '|---|---|---|---|',
    ...rows,
    '',
    'Thresholds of the default policy set (`policies/default.json`; every set can declare its own):',
    '',
    '| Environment variable | CLI flag | Default | Meaning |',
    '|---|---|---|---|',
    ...thresholds,
    '',
    END,
  ].join('\n');
}
