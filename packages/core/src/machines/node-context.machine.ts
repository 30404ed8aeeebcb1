import { setup } from 'xstate';

export type NodeContextEvent =
  | { type: 'link.created' }
  | { type: 'link.opened' }
  | { type: 'connect.failed' }
  | { type: 'context.closing' }
  | { type: 'link.closed' }
  | { type: 'exit.queued' }
  | { type: 'exit.sent' };

/**
 * The parent side of one node connection. Two regions run side by side:
 *
 * - `connection`: connecting → handshaking → active → closing → closed, or failed from any
 *   point before an orderly close completed;
 * - `exitPacket`: none → queued (a NodeBuildComplete without reuse is in the writer queue) →
 *   sent (it reached the socket). Once `sent`, nothing else may be written to the node: the
 *   context refuses sends by consulting this region, and the model checker's monitor does too.
 */
export const nodeContextMachine = setup({
  types: { events: {} as NodeContextEvent },
  actions: {
    // Provided by the context.
    announceActive: () => {},
    announceFailed: () => {},
    announceClosed: () => {},
  },
}).createMachine({
  id: 'nodeContext',
  type: 'parallel',
  states: {
    connection: {
      initial: 'connecting',
      states: {
        connecting: {
          on: { 'link.created': 'handshaking', 'connect.failed': 'failed' },
        },
        handshaking: {
          on: { 'link.opened': 'active', 'connect.failed': 'failed' },
        },
        active: {
          entry: 'announceActive',
          on: { 'context.closing': 'closing', 'link.closed': 'failed' },
        },
        closing: {
          on: { 'link.closed': 'closed' },
        },
        closed: { type: 'final', entry: 'announceClosed' },
        failed: { type: 'final', entry: 'announceFailed' },
      },
    },
    exitPacket: {
      initial: 'none',
      states: {
        none: { on: { 'exit.queued': 'queued' } },
        queued: { on: { 'exit.sent': 'sent' } },
        sent: {},
      },
    },
  },
});

export type NodeConnectionState = 'connecting' | 'handshaking' | 'active' | 'closing' | 'closed' | 'failed';
export type ExitPacketState = 'none' | 'queued' | 'sent';
