/** A decider whose `personalData` names a subject form that does not exist (loadDeciders must refuse it). */
import { accountDecider, type AnyDecider } from '../../src/domain/index.js';

export default { ...accountDecider, type: 'badpersonal', personalData: { subject: 'owner', events: { AccountOpened: ['owner'] } } } as unknown as AnyDecider;
