/**
 * The README's client example, runnable against a running server (`npm start`):
 * `node --import tsx examples/client.ts [baseUrl] [accountId]`.
 */
import { WebSocket } from 'ws'; // Node 20 has no global WebSocket (browsers, Deno, Bun and Node >= 22 do)
import { createClient, EventideClientError } from '../src/client/index.js';
import type { AccountCommand, AccountEvent, AccountState } from '../src/domain/index.js';

const client = createClient({ baseUrl: process.argv[2] ?? 'http://127.0.0.1:3000' }); // + token: '...' when the server has tokens
const accounts = client.aggregate<AccountState, AccountCommand, AccountEvent>('account');
const id = process.argv[3] ?? `acc-${Date.now().toString(36)}`;

await accounts.execute(id, { type: 'Open', data: { owner: 'Ada' } });
const deposit = await accounts.execute(id, { type: 'Deposit', data: { amount: 5000 } }, { commandId: `${id}.dep-1` });
console.log(deposit.version, deposit.state); // 2 { owner: 'Ada', balance: 5000, open: true }
const retried = await accounts.execute(id, { type: 'Deposit', data: { amount: 5000 } }, { commandId: `${id}.dep-1` });
console.log(retried.duplicate, retried.version); // true 2: the retry was applied once

try {
  await accounts.execute(id, { type: 'Withdraw', data: { amount: 99_999 } });
} catch (e) {
  if (!EventideClientError.is(e)) throw e;
  console.log(e.status, e.code, e.details); // 422 InsufficientFunds { balance: 5000, amount: 99999 }
}
const withdrawal = await accounts.execute(id, { type: 'Withdraw', data: { amount: 1200 } }, { expectedVersion: 2 });

console.log((await accounts.load(id)).state); // { owner: 'Ada', balance: 3800, open: true }
console.log((await accounts.load(id, { version: 2 })).state.balance); // 5000: the time machine
const diff = await accounts.diff(id, 1, 3);
console.log(diff.from.state?.balance, '->', diff.to.state.balance, diff.events.map((e) => e.type)); // 0 -> 3800 [ 'Deposited', 'Withdrawn' ]
for await (const e of accounts.events(id)) console.log(e.seq, e.type, e.data); // the audit trail, every page
console.log((await client.views.get('balances', id, { position: withdrawal.position })).row); // read your write

// The feed: this account's events from the start, then live. It reconnects and resumes by itself.
for await (const { events } of client.feed({ from: 'start', stream: id, WebSocket })) {
  for (const e of events) console.log('feed', e.seq, e.type);
  if (events.at(-1)!.seq === withdrawal.version) break; // break closes the feed
}
