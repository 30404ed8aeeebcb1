/**
 * The determinism rule's interfaces. They are defined in @troupe/transport, the lowest package
 * (its handshake deadline and nonces need them too), and re-exported here so that users of
 * core never import transport for them.
 */
export { type Clock, systemClock, type TimerId } from '@troupe/transport';
