/**
 * Generated Markdown tables on a results page: JSON reading that tolerates runs not yet there,
 * the "mean ± std%" cell, and replacing a page's tables by freshly generated ones (matched by
 * their first header cells), then `deno fmt` to align them. Used by the experiments' tables.ts.
 * @module
 */

import { existsSync, readFileSync } from "node:fs";
import { meanStd } from "./_stats.ts";

/** A JSON file, or null when it is not there. */
export function readJson<T>(path: string): T | null {
  return existsSync(path) ? JSON.parse(readFileSync(path, "utf8")) as T : null;
}

/** Sample mean ± std of fractions, in % (one value: itself). */
export function pct(xs: number[]): string {
  const { mean, std } = meanStd(xs.map((x) => 100 * x));
  return xs.length < 2 ? `${mean.toFixed(2)}%` : `${mean.toFixed(2)} ± ${std.toFixed(2)}%`;
}

/**
 * A worst-case cell over the seeds that have it: bold when all `total` do, else marked with how
 * many of them ("pending" when none).
 */
export function seedsCell(xs: number[], total: number): string {
  if (!xs.length) return "pending";
  return xs.length === total ? `**${pct(xs)}**` : `${pct(xs)} (${xs.length} of ${total} seeds)`;
}

/** The text's Markdown tables (blocks of lines starting with "|", blank-line separated). */
export function tablesOf(text: string): string[] {
  return text.split("\n\n").map((t) => t.trim()).filter((t) => t.startsWith("|"));
}

/**
 * Replaces each table of `page` whose header starts like a generated one (same first three
 * cells) with that one; a generated table with no such table on the page is an error.
 */
export function putTables(page: string, tables: string[], pageName = "the page"): string {
  const lines = page.split("\n");
  const header = (row: string) => row.split("|").slice(1, 3).map((c) => c.trim()).join("|");
  for (const table of tables) {
    const rows = table.split("\n");
    const [head, next] = [header(rows[0]), rows[0].split("|")[3]?.trim()];
    const at = lines.findIndex((l) => header(l) === head && l.split("|")[3]?.trim() === next);
    if (at < 0) throw new Error(`${pageName} has no table headed "${rows[0]}"`);
    let end = at;
    while (end < lines.length && lines[end].startsWith("|")) end++;
    lines.splice(at, end - at, ...rows);
  }
  return lines.join("\n");
}

/** Writes the tables into the page at `path` and formats it. */
export async function writeTables(path: string, tables: string[]): Promise<void> {
  Deno.writeTextFileSync(path, putTables(Deno.readTextFileSync(path), tables, path));
  const fmt = await new Deno.Command(Deno.execPath(), { args: ["fmt", "--quiet", path] }).output();
  if (!fmt.success) throw new Error(`deno fmt ${path} failed`);
  console.log(`${tables.length} tables written into ${path}`);
}
