/**
 * The history of a Jepsen-style run (test/cluster/jepsen.e2e.test.ts): every operation a client sent,
 * each with its attempts, and what each attempt's answer lets a client conclude.
 *
 * An operation is one command with its own `commandId` (an account's `Open`, or a `Deposit`); every
 * attempt of it carries that id, so the server's idempotency makes a retry safe. An attempt is:
 * - `ok`: 200; the command is applied (`duplicate: true` when an earlier attempt applied it);
 * - `failed`: a definite refusal, nothing was done: a 4xx, or a 503 `NotOwner` / `Overloaded`;
 * - `unknown`: anything else (a timeout, a refused or reset connection, 503 `Unavailable` with
 *   `outcome: "unknown"`, any other 5xx): the command may or may not have been applied.
 */

export type Outcome = 'ok' | 'failed' | 'unknown';

export interface Attempt {
  /** The node id of the server the attempt was sent to. */
  via: string;
  outcome: Outcome;
  /** HTTP status; 0 when no answer came (timeout, connection error). */
  status: number;
  /** The error code of a refusal, or the client's own error. */
  error?: string;
  /** For `ok`: the answer's `duplicate`, `version` and `state.balance`, and the event it answered. */
  duplicate?: boolean;
  version?: number;
  balance?: number;
  seq?: number;
}

export interface Operation {
  commandId: string;
  account: string;
  type: 'Open' | 'Deposit';
  /** Deposits: the amount. */
  amount: number;
  attempts: Attempt[];
}

/** 503 codes that a server answers before doing anything (docs/cluster.md, "Forwarding"; the runtime's admission). */
const DEFINITE_503 = new Set(['NotOwner', 'Overloaded']);

/** What an HTTP answer to a command lets the client conclude (status 0: no answer at all). */
export function classify(status: number, body: Record<string, unknown> | undefined): Outcome {
  if (status === 200) return 'ok';
  if (status >= 400 && status < 500) return 'failed';
  if (status === 503 && typeof body?.error === 'string' && DEFINITE_503.has(body.error) && body.outcome !== 'unknown') return 'failed';
  return 'unknown';
}

/** The outcome of an operation so far: ok once any attempt was, else unknown once any attempt was, else failed. */
export function outcomeOf(op: Operation): Outcome {
  if (op.attempts.some((a) => a.outcome === 'ok')) return 'ok';
  if (op.attempts.some((a) => a.outcome === 'unknown')) return 'unknown';
  return 'failed';
}

/** Every operation of a run, by commandId, in the order they were first sent. */
export class History {
  readonly #ops = new Map<string, Operation>();

  add(op: Omit<Operation, 'attempts'>): Operation {
    if (this.#ops.has(op.commandId)) throw new Error(`commandId ${op.commandId} used twice`);
    const full = { ...op, attempts: [] };
    this.#ops.set(op.commandId, full);
    return full;
  }

  get(commandId: string): Operation | undefined {
    return this.#ops.get(commandId);
  }

  all(): Operation[] {
    return [...this.#ops.values()];
  }

  /** Counts of operations by their outcome so far, and of attempts by outcome (for the test's log line). */
  summary(): { ops: Record<Outcome, number>; attempts: Record<Outcome, number>; notOk: Record<string, number> } {
    const ops = { ok: 0, failed: 0, unknown: 0 };
    const attempts = { ok: 0, failed: 0, unknown: 0 };
    /** Attempts not answered ok, by status and error ("503 NotOwner", "0 TimeoutError"). */
    const notOk: Record<string, number> = {};
    for (const op of this.#ops.values()) {
      ops[outcomeOf(op)]++;
      for (const a of op.attempts) {
        attempts[a.outcome]++;
        if (a.outcome !== 'ok') {
          const key = `${a.status} ${a.error ?? ''}`.trim();
          notOk[key] = (notOk[key] ?? 0) + 1;
        }
      }
    }
    return { ops, attempts, notOk };
  }
}
