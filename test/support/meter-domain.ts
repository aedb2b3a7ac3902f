/**
 * The meter domain of the retention and scavenge tests: the bench's (bench/support/meter-domain.ts),
 * one module for both (bench imports nothing from test/, test may use bench's support). A high-volume
 * stream type that no built-in view folds (the built-in `balances` view folds every account event, so
 * accounts are never scavenged while it runs).
 */
export { meterDecider, meterDomain, type MeterCommand, type MeterEvent, type MeterState } from '../../bench/support/meter-domain.js';
export { default } from '../../bench/support/meter-domain.js';
