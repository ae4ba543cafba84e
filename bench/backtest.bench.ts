/**
 * `npm run bench:backtest [-- --quick]`: the backtest benchmark alone (bench/backtest.ts), its figures merged
 * into bench/results.json under "backtest" (--quick: printed only); `npm run bench` runs it after the pass
 * benchmarks and writes the whole file.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DEFAULT_POLICIES_DIR } from '../src/service/config.ts';
import { benchBacktest, formatBacktestBench } from './backtest.ts';

const { values } = parseArgs({ options: { quick: { type: 'boolean' } } });
const result = await benchBacktest({ quick: values.quick === true, policiesDir: DEFAULT_POLICIES_DIR, log: (line) => process.stderr.write(`${line}\n`) });
console.log(formatBacktestBench(result));
if (!values.quick) {
  const out = fileURLToPath(new URL('./results.json', import.meta.url));
  const results = JSON.parse(readFileSync(out, 'utf8'));
  writeFileSync(out, `${JSON.stringify({ ...results, backtest: result }, null, 2)}\n`);
  console.log(`\nwritten ${out} (backtest)`);
}
