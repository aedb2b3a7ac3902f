/** See memory-settle.mjs. */
export function settledRss(poke: () => Promise<unknown>, stableS?: number, maxS?: number): Promise<{ rss: number; waitedS: number }>;
