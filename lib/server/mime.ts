/**
 * Content types by file extension: one lowercase-extension → type table, looked up once per
 * request. Text types carry `; charset=utf-8` so that browsers do not guess an encoding.
 *
 * @example
 * ```ts
 * import { contentType } from "./mime.ts";
 * contentType("index.HTML"); // "text/html; charset=utf-8"
 * contentType("archive.tar.gz"); // "application/gzip"
 * contentType(".bashrc"); // "application/octet-stream"
 * ```
 * @module
 */

/** For anything not in the table: the client decides what to do with the bytes. */
export const DEFAULT_CONTENT_TYPE = "application/octet-stream";

const UTF8 = "; charset=utf-8";

/** Types without charset. Names are lowercase extensions without the dot. */
const BINARY: Record<string, string> = {
  // images
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  gif: "image/gif",
  webp: "image/webp",
  avif: "image/avif",
  bmp: "image/bmp",
  ico: "image/vnd.microsoft.icon",
  tif: "image/tiff",
  tiff: "image/tiff",
  heic: "image/heic",
  // audio / video
  mp3: "audio/mpeg",
  m4a: "audio/mp4",
  aac: "audio/aac",
  ogg: "audio/ogg",
  oga: "audio/ogg",
  opus: "audio/ogg",
  wav: "audio/wav",
  flac: "audio/flac",
  mid: "audio/midi",
  midi: "audio/midi",
  mp4: "video/mp4",
  m4v: "video/mp4",
  webm: "video/webm",
  ogv: "video/ogg",
  mkv: "video/x-matroska",
  mov: "video/quicktime",
  avi: "video/x-msvideo",
  mpeg: "video/mpeg",
  mpg: "video/mpeg",
  m3u8: "application/vnd.apple.mpegurl",
  // fonts
  woff: "font/woff",
  woff2: "font/woff2",
  ttf: "font/ttf",
  otf: "font/otf",
  // archives and packages
  zip: "application/zip",
  gz: "application/gzip",
  tgz: "application/gzip",
  tar: "application/x-tar",
  bz2: "application/x-bzip2",
  xz: "application/x-xz",
  zst: "application/zstd",
  "7z": "application/x-7z-compressed",
  rar: "application/vnd.rar",
  jar: "application/java-archive",
  iso: "application/x-iso9660-image",
  dmg: "application/x-apple-diskimage",
  deb: "application/vnd.debian.binary-package",
  rpm: "application/x-rpm",
  apk: "application/vnd.android.package-archive",
  // documents
  pdf: "application/pdf",
  epub: "application/epub+zip",
  rtf: "application/rtf",
  doc: "application/msword",
  docx: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
  xls: "application/vnd.ms-excel",
  xlsx: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
  ppt: "application/vnd.ms-powerpoint",
  pptx: "application/vnd.openxmlformats-officedocument.presentationml.presentation",
  odt: "application/vnd.oasis.opendocument.text",
  ods: "application/vnd.oasis.opendocument.spreadsheet",
  odp: "application/vnd.oasis.opendocument.presentation",
  // other
  wasm: "application/wasm",
  bin: DEFAULT_CONTENT_TYPE,
  exe: "application/vnd.microsoft.portable-executable",
  sqlite: "application/vnd.sqlite3",
};

/** Types that get `; charset=utf-8`. */
const TEXT: Record<string, string> = {
  html: "text/html",
  htm: "text/html",
  css: "text/css",
  js: "text/javascript", // RFC 9239: text/javascript is the one current type
  mjs: "text/javascript",
  cjs: "text/javascript",
  json: "application/json",
  map: "application/json",
  webmanifest: "application/manifest+json",
  jsonld: "application/ld+json",
  xml: "application/xml",
  xhtml: "application/xhtml+xml",
  rss: "application/rss+xml",
  atom: "application/atom+xml",
  svg: "image/svg+xml",
  txt: "text/plain",
  text: "text/plain",
  log: "text/plain",
  md: "text/markdown",
  markdown: "text/markdown",
  csv: "text/csv",
  tsv: "text/tab-separated-values",
  ics: "text/calendar",
  vtt: "text/vtt",
  yaml: "text/yaml", // RFC 9512 registers application/yaml, but browsers download that
  yml: "text/yaml",
  toml: "text/plain",
  ini: "text/plain",
  conf: "text/plain",
  // Source code is served as text/plain so browsers show it instead of downloading it. `.ts`
  // is also the MPEG transport stream extension (video/mp2t), but on a file server that ships
  // next to Deno code TypeScript is by far the likelier meaning; a video player reading HLS
  // segments sniffs the stream anyway, and `nosniff` never lets text/plain execute.
  ts: "text/plain",
  tsx: "text/plain",
  jsx: "text/plain",
  sh: "text/plain",
  bash: "text/plain",
  py: "text/plain",
  rb: "text/plain",
  pl: "text/plain",
  c: "text/plain",
  h: "text/plain",
  cc: "text/plain",
  cpp: "text/plain",
  hpp: "text/plain",
  rs: "text/plain",
  go: "text/plain",
  java: "text/plain",
  kt: "text/plain",
  swift: "text/plain",
  lua: "text/plain",
  sql: "text/plain",
  diff: "text/plain",
  patch: "text/plain",
};

/**
 * Lowercase extension (no dot) → full Content-Type value, charset included for text types.
 * Built once at load time so that {@linkcode contentType} is a single Map lookup.
 */
export const CONTENT_TYPES: ReadonlyMap<string, string> = new Map([
  ...Object.entries(BINARY),
  ...Object.entries(TEXT).map(([ext, type]): [string, string] => [ext, type + UTF8]),
]);

/**
 * The Content-Type for a file name or path, by its extension (case-insensitive). A name whose
 * only dot is the first character (`.bashrc`) has no extension; neither has `a.d/README`.
 * Unknown or missing extensions give {@linkcode DEFAULT_CONTENT_TYPE}.
 *
 * @example
 * ```ts
 * import { contentType } from "./mime.ts";
 * contentType("/srv/www/Photo.JPG"); // "image/jpeg"
 * contentType("notes.md"); // "text/markdown; charset=utf-8"
 * ```
 */
export function contentType(name: string): string {
  // Per request: two lastIndexOf scans, a slice and a Map lookup; no regex, no split.
  const dot = name.lastIndexOf(".");
  const slash = name.lastIndexOf("/");
  if (dot <= slash + 1) return DEFAULT_CONTENT_TYPE; // no dot, or only a leading one
  const ext = name.slice(dot + 1);
  return CONTENT_TYPES.get(ext) ?? CONTENT_TYPES.get(ext.toLowerCase()) ?? DEFAULT_CONTENT_TYPE;
}
