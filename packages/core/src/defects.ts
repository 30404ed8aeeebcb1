/**
 * Deliberately broken behaviours, for the model checker's proof that it finds bugs
 * (`@troupe/testing`'s broken variants). Each switch re-creates one real class of bug in the
 * real code path it would live in. They are off unless a test turns them on; never set them in
 * production.
 */
export interface Defects {
  /**
   * A node context lets packets be written after the exit packet was sent, and keeps its link
   * open until the node hangs up.
   */
  sendAfterExitPacket: boolean;
  /** The scheduler grants a reacquire at once, even while another request is active on the node. */
  grantReacquireWhileBusy: boolean;
  /**
   * The scheduler grants a node to a waiting continuation when its active request leaves, though
   * a staged request starts there at that moment (MSBuild #13531).
   */
  grantBeforeStaged: boolean;
  /**
   * The scheduler frees a node the moment it cancels the request running there, though the task
   * runs on until it notices (the bug the model checker found in the runtime).
   */
  releaseNodeOnCancel: boolean;
  /** The runtime forgets to fail the requests of a node whose connection failed. */
  keepRequestsOfLostNodes: boolean;
  /** A node endpoint takes a second host while it serves one. */
  acceptSecondHost: boolean;
  /** The job dispatcher reports Canceled as soon as the cancel is sent, and again when the worker exits. */
  completeJobTwice: boolean;
  /**
   * `ctx.build` of requests that had all finished hands back no results (the runtime read them
   * before the scheduler had recorded them: the bug a newcomer's build found).
   */
  loseResultsOfFinishedRequests: boolean;
  /** A node context pings a node that holds work but never declares it lost, however long it is silent. */
  trustSilentNodes: boolean;
}

export const defects: Defects = {
  sendAfterExitPacket: false,
  grantReacquireWhileBusy: false,
  grantBeforeStaged: false,
  releaseNodeOnCancel: false,
  keepRequestsOfLostNodes: false,
  acceptSecondHost: false,
  completeJobTwice: false,
  loseResultsOfFinishedRequests: false,
  trustSilentNodes: false,
};

/** Turns every defect off. */
export function resetDefects(): void {
  for (const key of Object.keys(defects) as Array<keyof Defects>) defects[key] = false;
}
