// The charts a dashboard draws, read once from the machines' definitions.
import { writerQueueMachine } from '@troupe/transport/internal';
import type { AnyStateMachine } from 'xstate';
import { nodeEndpointMachine } from '../endpoint/endpoint.machine.js';
import { nodeContextMachine } from '../nodes/node-context.machine.js';
import { REQUEST_TRANSITIONS } from '../scheduler/request.js';
import { type Chart, machineChart, tableChart } from './charts.js';

let nodeCharts: Readonly<Record<string, Chart>> | undefined;

/** A node's machines: its context (with the exit-packet region), its link's writer queue, its endpoint. */
function nodeMachineCharts(): Readonly<Record<string, Chart>> {
  nodeCharts ??= {
    nodeContext: machineChart(nodeContextMachine),
    writerQueue: machineChart(writerQueueMachine),
    endpoint: machineChart(nodeEndpointMachine),
  };
  return nodeCharts;
}

/** A runtime's: its nodes' machines and the request table. */
export function runtimeCharts(): Readonly<Record<string, Chart>> {
  return {
    ...nodeMachineCharts(),
    request: tableChart('request', REQUEST_TRANSITIONS, ['pending', 'waiting']),
  };
}

/** A job dispatcher's: its workers' node machines and the slot machine it runs (given, as it lives above). */
export function dispatcherCharts(slotMachine: AnyStateMachine): Readonly<Record<string, Chart>> {
  return { ...nodeMachineCharts(), jobSlot: machineChart(slotMachine) };
}
