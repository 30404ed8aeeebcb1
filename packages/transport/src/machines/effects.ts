import type { AnyActorRef } from 'xstate';

/**
 * Each actor's effects for one kind of machine: what the machine does to the world (write, end a
 * channel, tell its owner), carried out by the object that created the actor. The machine's
 * actions in `setup()` look their effects up from `self`; the owner binds them when it creates
 * the actor (`bindLinkEffects`, `bindWriterQueueEffects`), and the effects type makes it supply
 * every one. An actor nobody bound (a test walking the machine alone) does nothing.
 *
 * Not `machine.provide({ actions })` per actor, as the longer-lived machines are wired: providing
 * builds a whole new machine (its state nodes, then cold transition caches). For the link and
 * writer machines, made for every connection, that measured 2.5 times a memory link pair's
 * connect-send-close and a fifth to a quarter fewer simulator schedules per second; this lookup
 * measured the same as before. Context stays data: no owner in it.
 */
export class ActorEffects<Effects extends object> {
  readonly #byActor = new WeakMap<AnyActorRef, Effects>();

  /** Gives `actor` its owner's effects. Call it before starting the actor. */
  bind<A extends AnyActorRef>(actor: A, effects: Effects): A {
    this.#byActor.set(actor, effects);
    return actor;
  }

  /** The effects bound to `self`, or undefined for an actor nobody bound. */
  of(self: AnyActorRef): Effects | undefined {
    return this.#byActor.get(self);
  }
}
