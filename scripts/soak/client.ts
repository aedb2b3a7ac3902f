/**
 * The soak's HTTP client: sends one command and sorts the answer into what the client may conclude.
 * Only a 2xx is an acknowledgement. A reset connection, a timeout or any 5xx (StorageFailed,
 * WorkerCrashed, Unavailable, Overloaded, ...) leaves the outcome UNKNOWN: the command may or may not be
 * in the log, and the only safe move is to send it again with the same commandId later. A 4xx is a
 * definite refusal (nothing written), which a well-formed deposit should never get.
 */

export type AccountCommand = { type: 'Open'; data: { owner: string } } | { type: 'Deposit'; data: { amount: number } };

export interface Write {
  readonly account: string;
  readonly commandId: string;
  readonly command: AccountCommand;
  /** What the write adds to the balance (0 for Open). */
  readonly amount: number;
}

export type Outcome =
  | { kind: 'acked'; version: number; duplicate: boolean }
  | { kind: 'unknown'; cause: string }
  | { kind: 'rejected'; status: number; code: string };

export async function sendWrite(url: string, write: Write, timeoutMs: number): Promise<Outcome> {
  let res: Response;
  let body: { version?: unknown; duplicate?: unknown; error?: unknown };
  try {
    res = await fetch(`${url}/aggregates/account/${write.account}/commands`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...write.command, commandId: write.commandId }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    body = (await res.json()) as typeof body;
  } catch (err) {
    return { kind: 'unknown', cause: networkCause(err) };
  }
  if (res.status >= 200 && res.status < 300) {
    if (typeof body.version !== 'number') return { kind: 'unknown', cause: `${res.status} without a version` };
    return { kind: 'acked', version: body.version, duplicate: body.duplicate === true };
  }
  const code = typeof body.error === 'string' ? body.error : '?';
  if (res.status >= 500) return { kind: 'unknown', cause: `${res.status} ${code}` };
  return { kind: 'rejected', status: res.status, code };
}

/** GET a JSON document; throws on a network error or a non-2xx status (with the status in the message). */
export async function getJson<T>(url: string, timeoutMs: number): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  const body = (await res.json()) as T & { error?: string };
  if (res.status !== 200) throw new Error(`GET ${url}: ${res.status} ${body.error ?? ''}`);
  return body;
}

/** A short, stable name for why a request failed: undici wraps the socket error in `cause`. */
function networkCause(err: unknown): string {
  const e = err as { name?: string; code?: string; cause?: { code?: string; name?: string; message?: string } };
  if (e.name === 'TimeoutError') return 'timeout';
  return e.cause?.code ?? e.code ?? e.cause?.name ?? e.name ?? 'error';
}
