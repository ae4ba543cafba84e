/**
 * `npm run bench:backtest [-- --quick]`: the backtest benchmark alone (bench/backtest.ts); `npm run bench`
 * runs it after the pass benchmarks and records it in bench/results.json.
 */
import { parseArgs } from 'node:util';
import { DEFAULT_POLICIES_DIR } from '../src/service/config.ts';
import { benchBacktest, formatBacktestBench } from './backtest.ts';

const { values } = parseArgs({ options: { quick: { type: 'boolean' } } });
const result = await benchBacktest({ quick: values.quick === true, policiesDir: DEFAULT_POLICIES_DIR, log: (line) => process.stderr.write(`${line}\n`) });
console.log(formatBacktestBench(result));
