/**
 * What the soak's client knows about each account, and the check of the server's log against it.
 *
 * Per account the client keeps every acknowledged write (commandId -> the version the server answered)
 * and every write whose outcome is unknown. After each restart, with no write in flight, `verify` reads
 * the account's events over HTTP and finds:
 *   lost        an acknowledged commandId that is not in the log
 *   duplicated  a commandId in the log more than once (an unknown write applied twice, say)
 *   phantom     an event whose commandId the client never sent (or sent and saw refused)
 *   misplaced   an acknowledged write at another seq than the one it was acknowledged with
 *   gap         seqs not 1, 2, 3, ...
 *   changed     an event already verified now holds another command (an overwrite)
 *   wrong data  an event whose type or amount is not what its command said
 *   state       `GET /aggregates/account/:id` disagrees with the events (version or balance)
 *
 * Reading every stream in full after every kill would make the soak quadratic, so `verify` reads only
 * the events after the last verified seq (re-reading that one to catch an overwrite at the boundary),
 * and checks the whole prefix through the current state: its version must be the head seq and its
 * balance the sum of every event read. A `full` verify re-reads everything (the soak does one every
 * few cycles and at the end).
 */
import { getJson, type Write } from './client.js';

export type ViolationKind = 'lost' | 'duplicated' | 'phantom' | 'misplaced' | 'gap' | 'changed' | 'wrong data' | 'state' | 'rejected' | 'read failed';

export interface Violation {
  kind: ViolationKind;
  account: string;
  /** The commandId concerned, when there is one (violations are counted once per commandId and kind). */
  commandId?: string;
  message: string;
}

interface Envelope {
  type: string;
  seq: number;
  data: { amount?: number; owner?: string };
  meta: { commandId?: string };
}

export class AccountRecord {
  /** Acknowledged writes: commandId -> the write and the version its answer carried. */
  readonly acked = new Map<string, { write: Write; version: number }>();
  /** Sent, outcome unknown: to be sent again with the same commandId once the server is back. */
  readonly unknown = new Map<string, Write>();
  /** Sum of the acknowledged writes' amounts. */
  ackedBalance = 0;
  // What earlier verifies read: commandId -> seq, the head, the boundary event, the events' balance.
  #seen = new Map<string, number>();
  #verifiedSeq = 0;
  #boundaryCommandId: string | undefined;
  #logBalance = 0;
  /** A verify that failed half-way left the fields above half-updated: the next one starts over. */
  #needFull = false;

  constructor(readonly id: string) {}

  ack(write: Write, version: number): void {
    this.unknown.delete(write.commandId);
    if (this.acked.has(write.commandId)) return;
    this.acked.set(write.commandId, { write, version });
    this.ackedBalance += write.amount;
  }

  /** Events in the log as of the last verify. */
  get verifiedSeq(): number {
    return this.#verifiedSeq;
  }

  /**
   * Checks the log against what the client knows. Call it only while no write to this account is in
   * flight; unknown writes may or may not be in the log (they are allowed there, once).
   */
  async verify(url: string, full: boolean, timeoutMs: number): Promise<Violation[]> {
    const out: Violation[] = [];
    const flag = (kind: ViolationKind, message: string, commandId?: string): void => {
      out.push({ kind, account: this.id, message, ...(commandId !== undefined ? { commandId } : {}) });
    };
    if (full || this.#needFull) {
      this.#needFull = false;
      this.#seen = new Map();
      this.#verifiedSeq = 0;
      this.#boundaryCommandId = undefined;
      this.#logBalance = 0;
    }
    const base = `${url}/aggregates/account/${this.id}`;
    let head = this.#verifiedSeq;
    let headCommandId = this.#boundaryCommandId;
    let from: number | undefined = Math.max(1, this.#verifiedSeq);
    let boundaryRead = this.#verifiedSeq === 0;
    try {
      while (from !== undefined) {
        const page: { events: Envelope[]; next?: number } = await getJson(`${base}/events?from=${from}&limit=1000`, timeoutMs);
        for (const e of page.events) {
          const cid = e.meta.commandId;
          if (e.seq === this.#verifiedSeq && this.#verifiedSeq > 0) {
            boundaryRead = true;
            if (cid !== this.#boundaryCommandId) flag('changed', `seq ${e.seq} held ${this.#boundaryCommandId} at the last check, now ${cid}`, cid);
            continue;
          }
          if (e.seq !== head + 1) flag('gap', `seq ${e.seq} follows seq ${head}`);
          head = e.seq;
          headCommandId = cid;
          this.#logBalance += e.type === 'Deposited' ? (e.data.amount ?? 0) : 0;
          if (cid === undefined) {
            flag('phantom', `seq ${e.seq} (${e.type}) has no commandId`);
            continue;
          }
          const before = this.#seen.get(cid);
          if (before !== undefined) flag('duplicated', `${cid} at seq ${before} and again at seq ${e.seq}`, cid);
          else this.#seen.set(cid, e.seq);
          const ack = this.acked.get(cid);
          const write = ack?.write ?? this.unknown.get(cid);
          if (!write) {
            flag('phantom', `seq ${e.seq} (${e.type}) carries ${cid}, which was never acknowledged nor left unknown`, cid);
            continue;
          }
          if (ack && ack.version !== e.seq && before === undefined) flag('misplaced', `${cid} acknowledged at version ${ack.version}, found at seq ${e.seq}`, cid);
          const expectedType = write.command.type === 'Open' ? 'AccountOpened' : 'Deposited';
          const expectedAmount = write.command.type === 'Deposit' ? write.command.data.amount : undefined;
          if (e.type !== expectedType || e.data.amount !== expectedAmount) {
            flag('wrong data', `seq ${e.seq} is ${e.type} ${JSON.stringify(e.data)}; ${cid} was ${JSON.stringify(write.command)}`, cid);
          }
        }
        from = page.next;
      }
      if (!boundaryRead) flag('changed', `seq ${this.#verifiedSeq} (${this.#boundaryCommandId}) was in the log at the last check and is gone`, this.#boundaryCommandId);
      for (const [cid, { version }] of this.acked) {
        if (!this.#seen.has(cid)) flag('lost', `${cid} acknowledged at version ${version} is not in the log (head ${head})`, cid);
      }
      // The prefix this verify did not re-read: the current state must still agree with it.
      if (head > 0) {
        const current: { version: number; state: { balance: number } } = await getJson(base, timeoutMs);
        if (current.version !== head) flag('state', `state at version ${current.version}, log head at seq ${head}`);
        if (current.state.balance !== this.#logBalance) flag('state', `balance ${current.state.balance}, the log's deposits sum to ${this.#logBalance}`);
        if (this.unknown.size === 0 && current.state.balance !== this.ackedBalance) {
          flag('state', `balance ${current.state.balance}, acknowledged deposits sum to ${this.ackedBalance}`);
        }
      }
    } catch (err) {
      flag('read failed', `could not read the account: ${(err as Error).message}`);
      this.#needFull = true;
      return out;
    }
    this.#verifiedSeq = head;
    this.#boundaryCommandId = headCommandId;
    return out;
  }
}
