/**
 * The client writes the API's JSON shapes out itself (it ships without the server's code); these type
 * assertions hold each equal to the type the server builds its answers from, so a field added on one
 * side only fails `npm run typecheck` (vitest's expectTypeOf is checked by tsc, not at run time).
 */
import { describe, expectTypeOf, it } from 'vitest';
import type * as client from '../../src/client/index.js';
import type { AccountCommand, AccountEvent, AccountState, VideoStatus } from '../../src/domain/index.js';
import type { PartitionLag, RebuildStatus, ReconcileReport, ViewRow } from '../../src/projections/index.js';
import type { EnvelopeJson } from '../../src/server/index.js';
import type { VideoView } from '../../src/server/routes/videos.js';

describe("the client's JSON types are the server's", () => {
  it('has the envelope of the API and the feed', () => {
    expectTypeOf<client.EventJson>().toEqualTypeOf<EnvelopeJson>();
  });

  it("has the videos' view and statuses", () => {
    expectTypeOf<client.VideoView>().toEqualTypeOf<VideoView>();
    expectTypeOf<client.VideoStatus>().toEqualTypeOf<VideoStatus>();
  });

  it('has the read models\' rows, lag, rebuild status and reconcile report', () => {
    expectTypeOf<client.ViewRow>().toEqualTypeOf<ViewRow>();
    expectTypeOf<client.PartitionLag>().toEqualTypeOf<PartitionLag>();
    expectTypeOf<client.RebuildStatus>().toEqualTypeOf<RebuildStatus>();
    expectTypeOf<client.ReconcileReport>().toEqualTypeOf<ReconcileReport>();
  });

  it("types an aggregate by the domain's own state, commands and events", () => {
    type Account = client.AggregateClient<AccountState, AccountCommand, AccountEvent>;
    expectTypeOf<Parameters<Account['execute']>[1]>().toEqualTypeOf<AccountCommand>();
    expectTypeOf<Awaited<ReturnType<Account['load']>>['state']>().toEqualTypeOf<AccountState>();
    type Event = Awaited<ReturnType<Account['history']>>['events'][number];
    expectTypeOf<Extract<Event, { type: 'Deposited' }>['data']>().toEqualTypeOf<{ amount: number }>();
  });
});
