declare const effectsOf: unique symbol;

/**
 * An actor's key to its owner's effects: a frozen empty object, made by `ActorEffects.bind` and
 * given to the actor as input, which its machine keeps in context. It is data (no owner, no
 * callback, nothing but its identity), so a snapshot holds nothing of the owner; the type
 * parameter only says whose effects it opens.
 */
export type EffectsKey<Effects extends object> = { readonly [effectsOf]?: Effects };

/**
 * Each actor's effects for one kind of machine: what the machine does to the world (write, end a
 * channel, kill a process, tell its owner) and what it reads of it (a clock, a stat), carried
 * out by the object that created the actor. Every machine of troupe is wired this way:
 *
 * - the machine file holds one `ActorEffects<XEffects>` and exports `bindXEffects(effects)`,
 *   whose type makes the owner supply every effect;
 * - the owner passes the key it returns as the actor's input (`createActor(m, { input: {
 *   effects: bindXEffects({...}) } })`), and the machine keeps it in context;
 * - the machine's actions, guards, delays and invoked actors look their effects up by that key.
 *
 * The key is in context, not looked up from `self`, because XState gives a guard only `{ context,
 * event }`: a guard that reads the world (a node silent too long, a task module changed on disk)
 * could not reach its owner otherwise. An actor nobody bound (a test walking the machine alone,
 * with `effects: undefined`) does nothing: its effects are no-ops and its guards answer as if
 * the world had nothing to say.
 *
 * Not `machine.provide({ actions, guards, ... })` per actor: providing builds a whole new machine
 * (its state nodes, then cold transition caches). For the link and writer machines, made for
 * every connection, that measured 2.5 times a memory link pair's connect-send-close; for the node
 * endpoint, node context, scheduler and job slot machines, an in-process pool's start and stop
 * measured ~40% slower and the model checker a third slower. This lookup (one WeakMap get) measured
 * the same as a machine with its effects written in. A broken variant of the model checker still
 * `provide()`s its broken guard or action on the machine, which it may, since it runs only there.
 */
export class ActorEffects<Effects extends object> {
  readonly #byKey = new WeakMap<EffectsKey<Effects>, Effects>();

  /** A new key that opens `effects`: the actor's input, kept in its context. */
  bind(effects: Effects): EffectsKey<Effects> {
    const key: EffectsKey<Effects> = Object.freeze({});
    this.#byKey.set(key, effects);
    return key;
  }

  /** The effects `key` opens, or undefined for an actor nobody bound. */
  of(key: EffectsKey<Effects> | undefined): Effects | undefined {
    return key === undefined ? undefined : this.#byKey.get(key);
  }
}
