/**
 * The append planner (src/runtime/append-planner.ts): pure rules for what a command's events do to its
 * stream besides the append. The state is the decider's own fold; snapshots sit at exact multiples of
 * snapshotEvery, even inside one multi-event command; retention keeps the newest ten and, older than
 * those, every n-th; and planning touches nothing (the actor it reads from is left as it was).
 */
import { describe, expect, it } from 'vitest';
import { accountDecider } from '../../src/domain/account.js';
import { planAppend } from '../../src/runtime/append-planner.js';

const deposits = (n: number) => Array.from({ length: n }, () => ({ type: 'Deposited', data: { amount: 1 } }));
const opened = { type: 'AccountOpened', data: { owner: 'ann' } };

describe('the append planner', () => {
  it('folds the events with the decider and moves the version by their count', () => {
    const actor = { decider: accountDecider, state: accountDecider.initialState(), version: 0 };
    const plan = planAppend(actor, [opened, ...deposits(3)], 5, { snapshotEvery: 0, snapshotThinning: 1 });
    expect(plan.version).toBe(4);
    expect(plan.state).toEqual([opened, ...deposits(3)].reduce((s, e) => accountDecider.evolve(s, e as never), accountDecider.initialState()));
    expect(plan.snapshots).toBeNull();
    expect(plan.removals).toBeNull();
    expect(actor).toEqual({ decider: accountDecider, state: accountDecider.initialState(), version: 0 });
  });

  it('plans a snapshot at every multiple of snapshotEvery crossed, inside a command too, with the state at that version and the command time', () => {
    const start = planAppend({ decider: accountDecider, state: accountDecider.initialState(), version: 0 }, [opened, ...deposits(7)], 1, { snapshotEvery: 5, snapshotThinning: 1 });
    const plan = planAppend({ decider: accountDecider, state: start.state, version: start.version }, deposits(13), 42, { snapshotEvery: 5, snapshotThinning: 1 });
    expect(plan.version).toBe(21);
    expect(plan.snapshots?.map((s) => s.version)).toEqual([10, 15, 20]);
    expect(plan.snapshots?.every((s) => s.ts === 42 && s.snapshotVersion === accountDecider.snapshotVersion)).toBe(true);
    const at15 = planAppend({ decider: accountDecider, state: start.state, version: start.version }, deposits(7), 0, { snapshotEvery: 0, snapshotThinning: 1 });
    expect(plan.snapshots?.[1]?.state).toEqual(at15.state);
    expect(plan.removals).toBeNull();
  });

  it('with snapshotThinning n, writing snapshot k removes snapshot k - 10 unless its index is a multiple of n', () => {
    const every = 2;
    const removed: number[] = [];
    let actor = { decider: accountDecider, state: planAppend({ decider: accountDecider, state: accountDecider.initialState(), version: 0 }, [opened], 0, { snapshotEvery: 0, snapshotThinning: 1 }).state, version: 1 };
    // One event per command up to version 40 (20 snapshots), then one command of 20 events (10 more).
    for (let v = 2; v <= 40; v++) {
      const plan = planAppend(actor, deposits(1), v, { snapshotEvery: every, snapshotThinning: 3 });
      removed.push(...(plan.removals ?? []));
      actor = { decider: accountDecider, state: plan.state, version: plan.version };
    }
    removed.push(...(planAppend(actor, deposits(20), 99, { snapshotEvery: every, snapshotThinning: 3 }).removals ?? []));
    const indexes = removed.map((v) => v / every);
    expect(indexes).toEqual(Array.from({ length: 20 }, (_, i) => i + 1).filter((k) => k % 3 !== 0));
  });
});
