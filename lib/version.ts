/** Ferry's version, sent as `Server: ferry/<v>` and `User-Agent: ferry/<v>`, and printed by
 * `--version`. Kept in step with deno.json by a test. */
export const VERSION = "0.1.0";
