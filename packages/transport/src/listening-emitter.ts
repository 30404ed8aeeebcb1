import type { EventEmitter } from 'eventemitter3';
import { SafeEmitter } from './safe-emitter.js';

/**
 * A `SafeEmitter` that hears whenever a listener is added (`on`, `once`, `addListener`): for a
 * source that delivers only once someone listens, as a readable stream's `data` does.
 */
export abstract class ListeningEmitter<
  Events extends EventEmitter.ValidEventTypes,
> extends SafeEmitter<Events> {
  /** Called after a listener for `event` was added. */
  protected abstract listenerAdded(event: EventEmitter.EventNames<Events>): void;

  override on<E extends EventEmitter.EventNames<Events>>(
    event: E,
    fn: EventEmitter.EventListener<Events, E>,
    context?: unknown,
  ): this {
    super.on(event, fn, context);
    this.listenerAdded(event);
    return this;
  }

  override once<E extends EventEmitter.EventNames<Events>>(
    event: E,
    fn: EventEmitter.EventListener<Events, E>,
    context?: unknown,
  ): this {
    super.once(event, fn, context);
    this.listenerAdded(event);
    return this;
  }

  override addListener<E extends EventEmitter.EventNames<Events>>(
    event: E,
    fn: EventEmitter.EventListener<Events, E>,
    context?: unknown,
  ): this {
    return this.on(event, fn, context);
  }
}
