/**
 * The record checksum's cost by record size: `crc32Of` (record-codec.ts: JS tables up to 256 bytes,
 * zlib's native crc32 above) against zlib's native call on the same bytes. Where the 256-byte switch
 * comes from, and what each stored record pays for its CRC (bench/README.md, "Sealed view rows").
 *
 *   node --import tsx bench/tools/crc-probe.ts
 */
import { crc32 as nativeCrc32 } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { crc32Of } from '../../src/log/record-codec.js';

/** Best of 5 batches of 500k calls, ns per call (after a warm-up). */
function nsPerCall(f: () => unknown): number {
  for (let i = 0; i < 200_000; i++) f();
  let best = Infinity;
  for (let r = 0; r < 5; r++) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < 500_000; i++) f();
    best = Math.min(best, Number(process.hrtime.bigint() - t) / 500_000);
  }
  return best;
}

console.log('bytes  crc32Of ns  zlib.crc32 ns');
for (const len of [32, 60, 113, 200, 256, 257, 400, 1000]) {
  const b = randomBytes(len);
  const ours = nsPerCall(() => crc32Of(b, 0, len));
  const native = nsPerCall(() => nativeCrc32(b, 0));
  console.log(`${String(len).padStart(5)}  ${ours.toFixed(0).padStart(10)}  ${native.toFixed(0).padStart(13)}`);
}
