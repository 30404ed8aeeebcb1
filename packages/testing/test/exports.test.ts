// The public door of @troupe/testing, name by name: a new public name is a decision taken here,
// not a side effect of an export added for the bench or a test (those go to './internal').
import { describePublicDoor } from '../../../test/support/public-door.js';

const values = [
  'ExplorerPool',
  'SeededRandom',
  'SimulatedNodeProvider',
  'Simulation',
  'VirtualClock',
  'exhaustive',
  'explore',
  'formatStory',
  'formatTrace',
  'hotStates',
  'jobsEndOnce',
  'nothingAfterExitPacket',
  'oneActiveRequestOnNode',
  'oneActiveRequestPerNode',
  'oneHostPerNode',
  'pct',
  'randomWalk',
  'replay',
  'requestsEndOnce',
  'resultsMatchReference',
  'shrink',
];

/** Types vanish at run time, so they are read from the index's source. */
const types = [
  'ExhaustiveOptions',
  'ExploreOptions',
  'ExploreResult',
  'ExplorerPoolOptions',
  'FaultBudget',
  'Monitor',
  'RunResult',
  'Scenario',
  'Schedule',
  'ShrinkOptions',
  'ShrinkResult',
  'SimulatedNode',
  'Strategy',
  'TakenStep',
  'TraceEntry',
  'VerifiedBound',
  'Violation',
  'World',
];

describePublicDoor(
  '@troupe/testing',
  new URL('../src/index.ts', import.meta.url),
  { index: () => import('@troupe/testing'), internal: () => import('@troupe/testing/internal') },
  values,
  types,
);
