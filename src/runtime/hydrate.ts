/**
 * Hydration: the state of a stream from the log, shared by the actor host (cold actors) and the router
 * (time machine). DESIGN invariant 4: snapshot + tail must equal the full fold; the property tests in
 * test/runtime and test/projections check it. Events reach `evolve` at the decider's current schema
 * versions because the runtime's logs are versioned (versioned-log.ts): nothing to decode here.
 */
import type { AnyDecider } from '../domain/index.js';
import { corruptRecord, type LogReader } from '../log/index.js';

export interface Hydrated {
  state: unknown;
  version: number;
  ts: number;
  /** Events folded on top of the snapshot (or from seq 1). */
  folded: number;
  /** Of `folded`, events read from pages (EVENT_PAGE events per record) rather than one by one. */
  paged: number;
  fromSnapshot: number;
  staleSnapshot: boolean;
}

/**
 * State of a stream at `target` (default: its head): the newest snapshot at or below the target whose
 * snapshot version matches the decider's, plus the events after it (whole pages where the log has them). DESIGN invariant 4 says this must
 * equal the full fold; the property tests check it.
 */
export function hydrate(log: LogReader, decider: AnyDecider, aggregateType: string, id: string, target = Number.MAX_SAFE_INTEGER): Hydrated {
  let state = decider.initialState();
  let version = 0;
  let ts = 0;
  let staleSnapshot = false;
  const snap = log.snapshotAtOrBelow(aggregateType, id, target);
  if (snap) {
    if (snap.snapshotVersion === decider.snapshotVersion) {
      state = snap.state;
      version = snap.version;
      ts = snap.ts;
    } else staleSnapshot = true;
  }
  const fromSnapshot = version;
  const tail = log.foldStream(aggregateType, id, version + 1, target, state, (s, e) => decider.evolve(s, e as never));
  if (tail.folded > 0) {
    state = tail.state;
    version = tail.version;
    ts = tail.ts;
  }
  if (target === Number.MAX_SAFE_INTEGER) {
    // The fold must end at the stream's last key: a shorter fold means a key the range scan could not
    // reach (damaged), and a writer hydrated short would append on top of existing events.
    const head = log.streamHead(aggregateType, id).version;
    if (head !== version) throw corruptRecord('events', [aggregateType, id, head], `stream ${aggregateType}/${id} folds to seq ${version} but its last key is seq ${head}`);
  }
  return { state, version, ts, folded: tail.folded, paged: tail.paged, fromSnapshot, staleSnapshot };
}

