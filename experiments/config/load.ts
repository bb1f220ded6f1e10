/**
 * Reads config files: YAML (or JSON, a YAML subset) parsed with the `yaml` package, then
 * validated by {@link resolveConfig}. Syntax errors name the file, line and column.
 * @module
 */

import { parse, YAMLParseError } from "yaml";
import { ConfigError } from "./_check.ts";
import { resolveConfig } from "./resolve.ts";
import type { ExperimentConfig } from "./schema.ts";

/** Parses YAML text; errors name the source, line and column. */
export function parseYaml(text: string, source: string): unknown {
  try {
    return parse(text, { prettyErrors: true, uniqueKeys: true });
  } catch (e) {
    if (e instanceof YAMLParseError) {
      throw new ConfigError("", `YAML syntax error: ${e.message.split("\n")[0]}`, source);
    }
    throw e;
  }
}

/** Reads a YAML document from a file; a missing file is an error naming it. */
export function readYamlFile(path: string): unknown {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new Error(`config file ${path} does not exist`);
    throw new Error(`cannot read config file ${path}: ${(e as Error).message}`);
  }
  return parseYaml(text, path);
}

/** Reads and resolves a config file for one of its seeds (default the first). */
export function loadConfigFile(path: string, seed?: number): ExperimentConfig {
  return resolveConfig(readYamlFile(path), { source: path, seed });
}
