/**
 * Seeded random task graphs for the scheduling-quality set (bench/graphs/, issue 13).
 *
 * The two families are the ones the task-graph scheduling literature builds random instances with:
 *
 * - `random`: "sameprob", i.e. G(n, p) on a random topological order. Tasks are placed in a random
 *   order v0..v(n-1) and each pair vi -> vj with i < j becomes an edge with probability p,
 *   independently. This is the "sameprob" method of Tobita & Kasahara's Standard Task Graph Set
 *   (T. Tobita, H. Kasahara, "A standard task graph set for fair evaluation of multiprocessor
 *   scheduling algorithms", Journal of Scheduling 5(5), 2002; after Almeida et al. 1992), which
 *   uses p = 0.1 and 0.2, and the "Erdős–Rényi" method of D. Cordeiro et al., "Random graph
 *   generation for scheduling simulations", SIMUTools 2010.
 * - `layered`: "layer by layer" (Cordeiro et al. 2010; the layered methods of the STG; compared in
 *   L.-C. Canon, M. El Sayah, P.-C. Héam, "A comparison of random task graph generation methods for
 *   scheduling problems", Euro-Par 2019). Tasks are spread over L layers (each layer gets one task,
 *   the rest go to uniformly random layers); a task in layer l > 0 gets each task of every earlier
 *   layer as a predecessor with probability p, and if none of its predecessors lies in layer l-1 it
 *   gets one drawn uniformly from layer l-1, so that a task in layer l is at depth exactly l.
 *
 * Costs are integers drawn uniformly from [costMin, costMax]. Finally the task names are a random
 * permutation of t0..t(n-1) (and the list is sorted by name), so no consumer can lean on the names
 * following a topological order. Everything is drawn from one mulberry32 stream seeded by the
 * instance's seed, in the order written here, so (family, n, seed) gives the same graph on any
 * machine; {@link instanceParams} draws the family's parameters from the same stream first.
 */

/** A task of the build-graph example's format (examples/build-graph/src/graph.ts loadGraph). */
export interface Task {
  id: string;
  cost: number;
  /** The tasks that must finish before this one starts. */
  deps: string[];
}

export interface TaskGraph {
  tasks: Task[];
}

export type Family = 'layered' | 'random';

export interface GraphParams {
  /** Edge probability (per pair for `random`, per pair of tasks in earlier/later layers for `layered`). */
  p: number;
  /** Number of layers (`layered` only). */
  layers?: number;
  costMin: number;
  costMax: number;
}

/** mulberry32: a small, fast 32-bit seeded PRNG (Tommy Ettinger's); returns floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An integer uniform in [lo, hi]. */
export function randInt(random: () => number, lo: number, hi: number): number {
  return lo + Math.floor(random() * (hi - lo + 1));
}

function shuffle<T>(random: () => number, items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

/** Turns edges over positions 0..n-1 into named tasks: names are a random permutation, list sorted by name. */
function toGraph(random: () => number, costs: number[], preds: number[][]): TaskGraph {
  const n = costs.length;
  const names = shuffle(
    random,
    Array.from({ length: n }, (_, i) => i),
  );
  const tasks: Task[] = [];
  for (let v = 0; v < n; v++) {
    tasks.push({
      id: `t${names[v]}`,
      cost: costs[v]!,
      deps: preds[v]!.map((u) => names[u]!)
        .sort((a, b) => a - b)
        .map((u) => `t${u}`),
    });
  }
  return { tasks: tasks.sort((a, b) => Number(a.id.slice(1)) - Number(b.id.slice(1))) };
}

/** G(n, p) on a random topological order ("sameprob"). */
export function generateRandom(random: () => number, n: number, params: GraphParams): TaskGraph {
  const costs = Array.from({ length: n }, () => randInt(random, params.costMin, params.costMax));
  const preds: number[][] = Array.from({ length: n }, () => []);
  for (let j = 1; j < n; j++) {
    for (let i = 0; i < j; i++) if (random() < params.p) preds[j]!.push(i);
  }
  return toGraph(random, costs, preds);
}

/** Layer by layer: L layers, edges from every earlier layer with probability p, one into the layer above at least. */
export function generateLayered(random: () => number, n: number, params: GraphParams): TaskGraph {
  const layers = params.layers ?? Math.max(2, Math.round(Math.sqrt(n)));
  if (layers < 1 || layers > n) throw new Error(`layered: ${layers} layers for ${n} tasks`);
  const costs = Array.from({ length: n }, () => randInt(random, params.costMin, params.costMax));
  // Layer of each position: one task per layer, the rest uniformly; positions sorted by layer so
  // position order is a topological order.
  const layerOf = Array.from({ length: n }, (_, v) => (v < layers ? v : Math.floor(random() * layers))).sort(
    (a, b) => a - b,
  );
  const first: number[] = []; // first position of each layer
  for (let v = n - 1; v >= 0; v--) first[layerOf[v]!] = v;
  const preds: number[][] = Array.from({ length: n }, () => []);
  for (let v = 0; v < n; v++) {
    const layer = layerOf[v]!;
    if (layer === 0) continue;
    let fromAbove = false;
    for (let u = 0; u < first[layer]!; u++) {
      if (random() < params.p) {
        preds[v]!.push(u);
        if (layerOf[u] === layer - 1) fromAbove = true;
      }
    }
    if (!fromAbove) {
      const lo = first[layer - 1]!;
      const hi = first[layer]! - 1;
      const u = randInt(random, lo, hi);
      preds[v]!.push(u);
      preds[v]!.sort((a, b) => a - b);
    }
  }
  return toGraph(random, costs, preds);
}

/**
 * The parameters of one instance of the set, drawn from the instance's stream, in this order:
 * p uniformly from {0.05, 0.1, 0.2}; for `layered`, an average layer width w uniform in
 * [max(2, m/2), 2m] and L = round(n / w) layers, at least 2 (so the graph's parallelism is about
 * the machine's, where the schedule matters); costs uniform in 1..20.
 */
export function instanceParams(random: () => number, family: Family, n: number, m: number): GraphParams {
  const p = [0.05, 0.1, 0.2][randInt(random, 0, 2)]!;
  const base = { p, costMin: 1, costMax: 20 };
  if (family === 'random') return base;
  const low = Math.max(2, m / 2);
  const width = low + random() * (2 * m - low);
  const layers = Math.min(n, Math.max(2, Math.round(n / width)));
  return { ...base, layers };
}

/** One instance of the set for m processors: its parameters and graph, all from `seed`. */
export function generateInstance(
  family: Family,
  n: number,
  m: number,
  seed: number,
): { params: GraphParams; graph: TaskGraph } {
  const random = mulberry32(seed);
  const params = instanceParams(random, family, n, m);
  const graph = family === 'random' ? generateRandom(random, n, params) : generateLayered(random, n, params);
  return { params, graph };
}
