/**
 * The client writes the API's JSON shapes out itself (it ships without the server's code); these type
 * assertions hold each equal to the type the server builds its answers from, so a field added on one
 * side only fails `npm run typecheck` (vitest's expectTypeOf is checked by tsc, not at run time).
 */
import { describe, expectTypeOf, it } from 'vitest';
import type * as client from '../../src/client/index.js';
import type { AccountCommand, AccountEvent, AccountState, VideoStatus } from '../../src/domain/index.js';
import type { PartitionLag, RebuildStatus, ReconcileReport, ViewRow } from '../../src/projections/index.js';
import type { BackupInfo, RetentionSettings, VerifyReport } from '../../src/log/index.js';
import type { ForgetResult, LastScavenge, PartitionResumeResult, ResumeResult, RetentionInfo, ScavengeReport, StreamLifecycleResult } from '../../src/runtime/index.js';
import type { EnvelopeJson } from '../../src/server/index.js';
import type { AuditPage, AuditRecordJson } from '../../src/server/routes/audit.js';
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

  it("has the admin routes' answers", () => {
    expectTypeOf<client.RetentionSettings>().toEqualTypeOf<RetentionSettings>();
    expectTypeOf<client.RetentionInfo>().toEqualTypeOf<RetentionInfo>();
    expectTypeOf<client.StreamLifecycleResult>().toEqualTypeOf<StreamLifecycleResult>();
    expectTypeOf<client.ScavengeReport>().toEqualTypeOf<ScavengeReport>();
    expectTypeOf<client.LastScavenge>().toEqualTypeOf<LastScavenge | null>();
    expectTypeOf<client.AuditRecordJson>().toEqualTypeOf<AuditRecordJson>();
    expectTypeOf<client.AuditPage>().toEqualTypeOf<AuditPage>();
    expectTypeOf<client.ForgetResult>().toEqualTypeOf<ForgetResult>();
    expectTypeOf<client.VerifyReport>().toEqualTypeOf<Omit<VerifyReport, 'dataDir'>>();
    // The route answers backup.json without the server's path, with the backup's name and duration.
    expectTypeOf<Omit<client.BackupReport, 'name' | 'ok' | 'durationMs'>>().toEqualTypeOf<Omit<BackupInfo, 'source'>>();
    expectTypeOf<Awaited<ReturnType<client.AdminApi['resumeWrites']>>>().toEqualTypeOf<ResumeResult>();
    expectTypeOf<Omit<Awaited<ReturnType<client.AdminApi['resumePartition']>>, 'resumed'>>().toEqualTypeOf<PartitionResumeResult>();
  });

  it("types an aggregate by the domain's own state, commands and events", () => {
    type Account = client.AggregateClient<AccountState, AccountCommand, AccountEvent>;
    expectTypeOf<Parameters<Account['execute']>[1]>().toEqualTypeOf<AccountCommand>();
    expectTypeOf<Awaited<ReturnType<Account['load']>>['state']>().toEqualTypeOf<AccountState>();
    type Event = Awaited<ReturnType<Account['history']>>['events'][number];
    expectTypeOf<Extract<Event, { type: 'Deposited' }>['data']>().toEqualTypeOf<{ amount: number }>();
  });
});
