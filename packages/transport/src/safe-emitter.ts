import { EventEmitter } from 'eventemitter3';
import { reportUnhandledError } from './errors.js';

/**
 * An event emitter whose own announcements never throw into the code that makes them: a listener
 * that throws is reported (`reportUnhandledError`), and the link, node or scheduler that emitted
 * goes on with its state intact. Users still call `on`/`emit` as on any eventemitter3 emitter.
 */
export class SafeEmitter<Events extends EventEmitter.ValidEventTypes> extends EventEmitter<Events> {
  protected emitSafely<E extends EventEmitter.EventNames<Events>>(
    event: E,
    ...args: EventEmitter.EventArgs<Events, E>
  ): void {
    try {
      (this.emit as (e: E, ...a: EventEmitter.EventArgs<Events, E>) => boolean)(event, ...args);
    } catch (error) {
      reportUnhandledError(error);
    }
  }
}

/**
 * Sends `event` to an actor that may already have reached its final state: such an event is late
 * news (a close after the close), dropped rather than warned about.
 */
export function sendIfActive<E>(
  actor: { getSnapshot(): { status: string }; send(event: E): void },
  event: E,
): void {
  if (actor.getSnapshot().status === 'active') actor.send(event);
}
