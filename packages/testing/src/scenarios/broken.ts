// The broken variants' bugs: each re-creates one real class of bug in the real code path it would
// live in, through the seams core opens to its internal door (`@troupe/core/internal`). A variant
// hands them to the instances of its own world only: nothing is switched for the process.
import type { JobCompletion, JobRequest, JobSource } from '@troupe/core';
import {
  FINISHED,
  type JobDispatcherSeams,
  type JobSlotEffects,
  type MemoryJobServerSeams,
  type NodeContextSeams,
  type NodeEndpointSeams,
  type RuntimeSeams,
  type SchedulerRules,
} from '@troupe/core/internal';
import type { EffectsKey } from '@troupe/transport/internal';
import { fromPromise } from 'xstate';

/** `grant-reacquire-while-busy`: a yielded request takes its node back at once, whoever is active there. */
export const grantReacquireWhileBusy: Partial<SchedulerRules> = { reacquireTakesBusyNode: () => true };

/**
 * `lost-wakeup`: a yielded request that asks for its node back while the node is idle is left
 * reacquiring, never handed the node: nothing else will wake it.
 */
export const loseWakeupOfIdleNode: Partial<SchedulerRules> = { reacquireWakesIdleNode: () => false };

/** `restart-beside-first-run`: a restarted request's first run is not dropped: it goes on too. */
export const restartBesideFirstRun: Partial<SchedulerRules> = { restartDropsFirstRun: () => false };

/**
 * `backoff-outlives-request`: a request cancelled while it waits out its retry back-off ends, but
 * its timer is left armed, and fires into the finished request.
 */
export const backoffOutlivesRequest: Partial<SchedulerRules> = { backoffEndsWithRequest: () => false };

/**
 * `grant-before-staged`: a waiting continuation is granted the node its active request left,
 * though the node starts its staged request at that moment (MSBuild #13531).
 */
export const grantBeforeStaged: Partial<SchedulerRules> = { stagedStartsFirst: () => false };

/**
 * `release-node-on-cancel`: the node is free the moment the request running there is cancelled,
 * though the task runs on until it notices (the bug the model checker found in the runtime).
 */
export const releaseNodeOnCancel: Partial<SchedulerRules> = { cancelledHoldsNode: () => false };

/**
 * `lose-results-of-finished-requests`: `ctx.build` of requests that had all finished hands back
 * no results (the runtime read them before the scheduler had recorded them: a newcomer's build
 * found it).
 */
export const loseResultsOfFinishedRequests: Partial<SchedulerRules> = {
  awaitedResults: (children) => (children.every((child) => FINISHED.has(child.state)) ? [] : children),
};

/** `lose-requests-on-connection-failure`: the runtime never fails the requests of a node whose connection failed. */
export const keepRequestsOfLostNodes: RuntimeSeams['nodeLost'] = () => {};

/**
 * `apply-lost-incarnation`: what an incarnation the host declared lost still sends (a node only
 * slow, or behind a partition that healed) is handled as if it were live, so a late result is
 * taken for the run of its request on the node's next incarnation.
 */
export const applyLostIncarnations: RuntimeSeams = { appliesLostIncarnations: true };

/**
 * `apply-late-news`: a result, block or yield about a request the host already cancelled (its
 * node still ran it, and answered before it read the Cancel) is handled as the live request's,
 * and the scheduler throws on a request that is not running: the cancel scenario's first bug,
 * a packet handler throwing with no one to catch it.
 */
export const applyLateNews: RuntimeSeams = { appliesLateNews: true };

/** `trust-silent-nodes`: a node that holds work is pinged but never declared lost, however long it is silent. */
export const trustSilentNodes: NodeContextSeams = {
  machine: (machine) => machine.provide({ guards: { silentTooLong: () => false } }),
};

/** `send-after-exit`: packets are still written after the exit packet, and the link is left open. */
export const sendAfterExitPacket: NodeContextSeams = { writesAfterExitPacket: true };

/**
 * `answer-cancel-early`: a node answers the Cancel of a request it runs (or that waits parked in
 * `ctx.build` or `ctx.yield`) at once, as cancelled, and moves on to its next staged request,
 * though the task runs on until it notices: the node-side twin of `release-node-on-cancel`.
 */
export const answerCancelEarly: NodeEndpointSeams = { answersCancelAtOnce: true };

/** `accept-second-host`: a node endpoint takes a second host while it serves one. */
export const acceptSecondHost: NodeEndpointSeams = {
  machine: (machine) => machine.provide({ guards: { acceptsSecondHost: () => true } }),
};

/**
 * `complete-twice`: the dispatcher reports Canceled to `source` as soon as the cancel reached the
 * worker, and its result again when the worker exits.
 */
export function completeJobTwice(source: JobSource): JobDispatcherSeams {
  return {
    machine: (machine) =>
      machine.provide({
        actions: {
          cancelSent: ({ context }) => {
            if (context.job)
              void source.complete(context.job, context.completion ?? { result: 'Canceled' }).catch(() => {});
          },
        },
      }),
  };
}

/** What a slot's `report` step is given. */
type ReportInput = {
  effects: EffectsKey<JobSlotEffects> | undefined;
  job: JobRequest;
  completion: JobCompletion;
};

/**
 * `report-twice`: the dispatcher reports a job's result, and once the server has answered sends
 * it again (an at-least-once retry that takes the answer for lost), so the server is handed two
 * results for one job. `source` is the dispatcher's own.
 */
export function reportTwice(source: JobSource): JobDispatcherSeams {
  return {
    machine: (machine) =>
      machine.provide({
        actors: {
          report: fromPromise<void, ReportInput>(async ({ input }) => {
            await source.complete(input.job, input.completion);
            await source.complete(input.job, input.completion).catch(() => {});
          }),
        },
      }),
  };
}

/**
 * `unbounded-report`: the dispatcher hands the job's result to `source` (its own), then waits
 * for an acknowledgement that never comes (lost on a channel with no timeout), so the slot never
 * finishes: its agent hangs with the job done.
 */
export function unboundedReport(source: JobSource): JobDispatcherSeams {
  return {
    machine: (machine) =>
      machine.provide({
        actors: {
          report: fromPromise<void, ReportInput>(({ input }) => {
            void source.complete(input.job, input.completion).catch(() => {});
            return new Promise<void>(() => {});
          }),
        },
      }),
  };
}

/**
 * `complete-ignores-token`: the job server records a completion whatever lease token it presents,
 * so an agent that stalled past its lease (a zombie) can still report the job another agent holds.
 */
export const completeIgnoringToken: MemoryJobServerSeams = { completeIgnoresToken: true };

/**
 * `renew-ignores-token`: the job server renews a lease whatever token it presents, so a zombie
 * keeps its worker running beside the new holder's.
 */
export const renewIgnoringToken: MemoryJobServerSeams = { renewIgnoresToken: true };

/**
 * `unbounded-cancel`: the cancel message to a worker is awaited with no channel timeout, and it
 * never leaves (a stalled link): an agent that lost its lease never stops its worker, which runs
 * on beside the new holder's.
 */
export const unboundedCancel: JobDispatcherSeams = {
  machine: (machine) =>
    machine.provide({
      actors: { sendCancel: fromPromise(() => new Promise<void>(() => {})) },
      delays: { channelTimeout: () => 1_000_000 },
    }),
};
