/**
 * Child process of the stalls suite: the measured process (runtime, open loop, trace collection and the
 * CPU sampler), so that nothing the bench's own process did before shares its heap. Prints one JSON
 * line: the suite's figure and its info lines (stalls.ts, `measureStalls`).
 */
import { measureStalls, type StallsArgs } from './stalls.js';

const args = JSON.parse(process.argv[2] ?? '{}') as StallsArgs;
const out = await measureStalls(args);
process.stdout.write(JSON.stringify(out) + '\n');
process.exit(0);
