/** Types of `engine_cases.mjs` (for the Deno side of the runtime matrix). */
import type * as EngineModule from "../../src/engine/mod.ts";

/**
 * Runs every fixed case on one engine.
 *
 * @param mod The engine module (`@parti/core/engine` or `src/engine/mod.ts`).
 * @param engine An engine created from it.
 * @returns The owners of every case, by case name.
 */
export function runEngineCases(
  mod: typeof EngineModule,
  engine: EngineModule.AssignmentEngine,
): Record<string, string[]>;
