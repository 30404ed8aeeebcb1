/**
 * Version of the wire protocol described in docs/protocol.md. Bump it with every change to
 * what crosses a link (frame layout, handshake, packet kinds and their bodies).
 */
export const PROTOCOL_VERSION = 7;

/** troupe's own version; nodes of another runtime version are never reused. */
export const RUNTIME_VERSION = '0.1.0';
