/**
 * The meter domain of the lifecycle suite: readings recorded one by one (`Record`) or many per command
 * (`RecordMany`, up to 1 000). The tests use it too (test/support/meter-domain.ts re-exports it: the
 * bench imports nothing from test/): a high-volume stream type that no built-in view folds, so retention
 * may scavenge it.
 */
import type { Command, Decider, DomainEvent } from '../../src/domain/index.js';

export interface MeterState {
  count: number;
  sum: number;
}

export type MeterCommand = Command<'Record', { value: number }> | Command<'RecordMany', { values: number[] }>;
export type MeterEvent = DomainEvent<'Recorded', { value: number }>;

const value = { type: 'integer', minimum: 0, maximum: 1_000_000 };

export const meterDecider: Decider<MeterState, MeterCommand, MeterEvent> = {
  type: 'meter',
  snapshotVersion: 1,
  publicCommands: ['Record', 'RecordMany'],
  commands: {
    Record: { type: 'object', required: ['value'], additionalProperties: false, properties: { value } },
    RecordMany: { type: 'object', required: ['values'], additionalProperties: false, properties: { values: { type: 'array', minItems: 1, maxItems: 1000, items: value } } },
  },
  initialState: () => ({ count: 0, sum: 0 }),
  decide(command) {
    const values = command.type === 'Record' ? [command.data.value] : command.data.values;
    return values.map((v) => ({ type: 'Recorded', data: { value: v } }));
  },
  evolve(state, event) {
    return { count: state.count + 1, sum: state.sum + event.data.value };
  },
};

/** The module the runtime's workers load (`domains: [...builtinDomains, meterDomain]`). */
export const meterDomain = new URL('./meter-domain.ts', import.meta.url);

export default meterDecider;
