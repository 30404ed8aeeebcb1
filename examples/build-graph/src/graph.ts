import { readFileSync } from 'node:fs';

export interface Project {
  id: string;
  /** Work in milliseconds (virtual milliseconds under --simulate). */
  cost: number;
  deps: string[];
}

export interface Graph {
  projects: Project[];
  byId: Map<string, Project>;
  /** The longest chain of costs through the dependencies. */
  criticalPath: number;
  totalWork: number;
  /** Each project's cost plus the longest chain of projects that wait on it. */
  remaining: Map<string, number>;
}

/** A seeded random DAG shaped like a solution: a few roots, fan-in, long chains through the middle. */
export function generateGraph(count: number, workMs: number, seed = 1): Project[] {
  let state = seed >>> 0 || 1;
  const random = () => {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    return state / 0x7fffffff;
  };
  const projects: Project[] = [];
  for (let i = 0; i < count; i++) {
    const deps = new Set<string>();
    const fanIn = i === 0 ? 0 : Math.floor(random() * 4);
    for (let d = 0; d < fanIn; d++) {
      // Mostly recent projects (long chains), sometimes anything earlier.
      const j = random() < 0.7 ? i - 1 - Math.floor(random() * Math.min(i, 20)) : Math.floor(random() * i);
      deps.add(`p${j}`);
    }
    projects.push({ id: `p${i}`, cost: Math.max(1, Math.round(workMs * (0.5 + random()))), deps: [...deps] });
  }
  return projects;
}

export function loadGraph(file: string): Project[] {
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as { tasks?: Array<Partial<Project>> };
  if (!Array.isArray(parsed.tasks))
    throw new Error(`${file}: expected {"tasks":[{"id":"a","cost":5,"deps":["b"]}]}`);
  return parsed.tasks.map((task, index) => {
    if (typeof task.id !== 'string') throw new Error(`${file}: task ${index} has no string id`);
    return {
      id: task.id,
      cost: Number(task.cost ?? 1),
      deps: Array.isArray(task.deps) ? task.deps.map(String) : [],
    };
  });
}

export function analyse(projects: Project[]): Graph {
  const byId = new Map(projects.map((p) => [p.id, p]));
  for (const project of projects) {
    for (const dep of project.deps) {
      if (!byId.has(dep)) throw new Error(`${project.id} depends on unknown project ${dep}`);
    }
  }
  const dependents = new Map<string, string[]>(projects.map((p) => [p.id, []]));
  for (const project of projects) for (const dep of project.deps) dependents.get(dep)!.push(project.id);
  // Longest path from each project to the end of the build (its "remaining" work), memoised.
  const remaining = new Map<string, number>();
  const visiting = new Set<string>();
  const walk = (id: string): number => {
    const known = remaining.get(id);
    if (known !== undefined) return known;
    if (visiting.has(id)) throw new Error(`the graph has a cycle through ${id}`);
    visiting.add(id);
    let longest = 0;
    for (const next of dependents.get(id)!) longest = Math.max(longest, walk(next));
    visiting.delete(id);
    const value = byId.get(id)!.cost + longest;
    remaining.set(id, value);
    return value;
  };
  let criticalPath = 0;
  for (const project of projects) criticalPath = Math.max(criticalPath, walk(project.id));
  const totalWork = projects.reduce((sum, p) => sum + p.cost, 0);
  return { projects, byId, criticalPath, totalWork, remaining };
}
