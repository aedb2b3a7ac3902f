/**
 * A meter: readings recorded one by one or many per command (`RecordMany`, up to 1 000), a count and a
 * sum as its state. A high-volume stream type that no built-in view folds, for the retention and
 * scavenge tests (the built-in `balances` view folds every account event, so accounts are never
 * scavenged while it runs).
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

export const meterDomain = new URL('./meter-domain.ts', import.meta.url);

export default meterDecider;
