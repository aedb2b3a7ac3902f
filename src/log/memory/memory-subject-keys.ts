/**
 * The memory log's subject keys (port.ts `SubjectKeys`): a map in this thread, gone with the process
 * like the rest of the memory log. Same rules as the LMDB key store (lmdb/subject-keys.ts): a key is
 * made on first use, a forgotten subject keeps a tombstone and never gets a key again.
 */
import { randomBytes } from 'node:crypto';
import { systemClock } from '../../kernel/index.js';
import type { ForgetOutcome, SubjectKey, SubjectKeys } from '../port.js';

type Tombstone = { at: number; commandId: string; by: string | null; audited: boolean };

export class MemorySubjectKeys implements SubjectKeys {
  readonly #keys = new Map<string, Uint8Array | Tombstone>();

  key(subject: string, create = false): SubjectKey | undefined {
    const found = this.#keys.get(subject);
    if (found !== undefined) return found instanceof Uint8Array ? found : 'forgotten';
    if (!create) return undefined;
    const k = new Uint8Array(randomBytes(32));
    this.#keys.set(subject, k);
    return k;
  }

  forget(subject: string, { commandId, by }: { commandId: string; by: string | null }): Promise<ForgetOutcome> {
    const found = this.#keys.get(subject);
    if (found !== undefined && !(found instanceof Uint8Array)) return Promise.resolve({ deleted: false, commandId: found.commandId, by: found.by, audited: found.audited, scrubbed: true });
    found?.fill(0);
    this.#keys.set(subject, { at: systemClock.now(), commandId, by, audited: false });
    return Promise.resolve({ deleted: true, commandId, by, audited: false, scrubbed: true });
  }

  markAudited(subject: string): void {
    const found = this.#keys.get(subject);
    if (found !== undefined && !(found instanceof Uint8Array)) found.audited = true;
  }

  unaudited(): { subject: string; commandId: string; by: string | null }[] {
    return [...this.#keys].flatMap(([subject, v]) => (v instanceof Uint8Array || v.audited ? [] : [{ subject, commandId: v.commandId, by: v.by }]));
  }

  // Memory keeps nothing past the process: made is as durable as it gets.
  persist(): void {}

  refreshReads(): void {}
}
