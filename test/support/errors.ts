/** Helpers to assert on rejections by their stable `code` (errors cross threads; never `instanceof`). */
import { expect } from 'vitest';
import { EventideClientError } from '../../src/client/index.js';
import { RuntimeError } from '../../src/index.js';

/** Awaits a promise (or calls a function) that must fail, and returns the RuntimeError it failed with. */
export async function rejectionOf(work: Promise<unknown> | (() => unknown)): Promise<RuntimeError> {
  try {
    await (typeof work === 'function' ? work() : work);
  } catch (err) {
    expect(RuntimeError.is(err), `expected a RuntimeError, got ${String(err)}`).toBe(true);
    return err as RuntimeError;
  }
  throw new Error('expected a rejection, but it succeeded');
}

/** The code of a settled result: 'ok' for a success, the error code otherwise. */
export function outcomeOf(r: PromiseSettledResult<unknown>): string {
  if (r.status === 'fulfilled') return 'ok';
  return RuntimeError.is(r.reason) ? r.reason.code : `non-RuntimeError: ${String(r.reason)}`;
}

/** What a client call threw (fails the test when it did not throw an EventideClientError). */
export async function clientFailureOf(call: Promise<unknown>): Promise<EventideClientError> {
  const err = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!EventideClientError.is(err)) throw new Error(`expected an EventideClientError, got ${String(err)}`);
  return err;
}
