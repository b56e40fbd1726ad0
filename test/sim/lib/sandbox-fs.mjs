// Sandbox file trees. Each simulated sandbox has a real directory tree,
// `<hostdir>/state/sandboxes/<name>/root/`, standing in for its filesystem: `/sandbox/.openclaw/x`
// lives at `root/sandbox/.openclaw/x`.
//
// Confinement: nothing the simulator does on behalf of a sandbox may touch a host path outside
// that root. Sandbox paths containing `..` are refused outright, and symlinks inside the tree are
// resolved the way they resolve inside a container (chroot semantics): an absolute target is
// relative to the sandbox root and `..` stops at the root. Tree walks never follow symlinks, and
// writes replace an existing symlink instead of writing through it.

import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import { sleep } from "./host-state.mjs";

/** A sandbox path the simulator refuses (traversal, NUL byte, symlink loop). */
export class SandboxPathError extends Error {}

/** A transfer that broke off midway (knobs `downloadFailAfterBytes`, `uploadFailAfterBytes`). */
export class TransferError extends Error {}

const MAX_SYMLINK_HOPS = 40;

/**
 * Normalise a path given for a sandbox: absolute, or relative to the workdir `/sandbox`. Refuses
 * any `..` component (a careful client never sends one) and NUL bytes.
 */
export function normaliseSandboxPath(sandboxPath) {
  const text = String(sandboxPath ?? "");
  if (text === "" || text.includes("\0"))
    throw new SandboxPathError(`invalid sandbox path: ${JSON.stringify(text)}`);
  const parts = text.split("/");
  if (parts.includes("..")) {
    throw new SandboxPathError(`sandbox path must not contain '..': ${text}`);
  }
  const kept = parts.filter((p) => p !== "" && p !== ".");
  const base = text.startsWith("/") ? [] : ["sandbox"];
  return `/${[...base, ...kept].join("/")}`;
}

export function isInside(root, hostPath) {
  return hostPath === root || hostPath.startsWith(`${root}${path.sep}`);
}

/**
 * The host path of `sandboxPath` inside the sandbox rooted at `root`, resolving symlinks with
 * chroot semantics. `followLast: false` leaves a final symlink unresolved (what `rm` and `lstat`
 * see). Missing components are kept as they are, so the result can name a path to be created.
 */
export function resolveInSandbox(root, sandboxPath, { followLast = true } = {}) {
  const queue = normaliseSandboxPath(sandboxPath).split("/").filter(Boolean);
  const real = [];
  let hops = 0;
  let missing = false;
  while (queue.length > 0) {
    const part = queue.shift();
    if (part === "." || part === "") continue;
    if (part === "..") {
      real.pop(); // at the root, `..` is the root
      continue;
    }
    const host = path.join(root, ...real, part);
    let stat = null;
    if (!missing) {
      try {
        stat = fs.lstatSync(host);
      } catch (err) {
        if (err.code !== "ENOENT" && err.code !== "ENOTDIR") throw err;
        missing = true;
      }
    }
    if (stat?.isSymbolicLink() && (queue.length > 0 || followLast)) {
      if (++hops > MAX_SYMLINK_HOPS) {
        throw new SandboxPathError(`too many levels of symbolic links: ${sandboxPath}`);
      }
      const target = fs.readlinkSync(host);
      if (target.startsWith("/")) real.length = 0;
      queue.unshift(...target.split("/"));
      continue;
    }
    real.push(part);
  }
  const resolved = path.join(root, ...real);
  // Defence in depth: the loop above cannot leave the root, and this proves it.
  if (!isInside(root, resolved)) throw new SandboxPathError(`path escapes the sandbox: ${sandboxPath}`);
  return resolved;
}

/** lstat that answers null for a missing path. */
export async function lstatOrNull(file) {
  try {
    return await fsp.lstat(file);
  } catch (err) {
    if (err.code === "ENOENT" || err.code === "ENOTDIR") return null;
    throw err;
  }
}

/** A directory at `dir`, replacing a file or symlink found there (never writing through it). */
export async function ensureDir(dir) {
  const stat = await lstatOrNull(dir);
  if (stat?.isDirectory()) return;
  if (stat) await fsp.rm(dir, { force: true });
  await fsp.mkdir(dir, { mode: 0o700 });
}

/** Make room for a file or symlink at `file`: an existing entry is removed, a symlink is never followed. */
async function clearForFile(file) {
  const stat = await lstatOrNull(file);
  if (!stat) return;
  await fsp.rm(file, { recursive: stat.isDirectory(), force: true });
}

/** Names as exact bytes, sorted: a tar stream carries names that are not valid UTF-8 unchanged. */
const sortedByteNames = async (dir) => (await fsp.readdir(dir, { encoding: "buffer" })).sort(Buffer.compare);

const SLASH = Buffer.from("/");
const joinBytes = (dir, name) => Buffer.concat([Buffer.isBuffer(dir) ? dir : Buffer.from(dir), SLASH, name]);

/**
 * What a transfer does to permission bits. A real transfer is a tar stream: the download side
 * cannot carry setuid/setgid/sticky (`download`), the upload side extracts as the sandbox user,
 * whose umask 022 applies (`upload`). `exact` (seeding a sandbox) keeps every bit.
 */
export function modeAfter(mode, direction = "exact") {
  if (direction === "download") return mode & 0o777;
  if (direction === "upload") return mode & 0o777 & ~0o022;
  return mode & 0o7777;
}

/** mkfifo(1): Node has no mkfifo. Tar recreates FIFOs on extraction. */
function makeFifo(file) {
  execFileSync("mkfifo", ["-m", "600", "--", file]);
}

/** 1.5 KiB, 12.0 MiB … */
export function formatBytes(bytes) {
  const units = ["B", "KiB", "MiB", "GiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/**
 * The byte-moving part of a transfer, shared by tree and single-file copies. Regular files are
 * streamed (copyFile, or fs streams when a byte budget or rate applies), so memory stays flat
 * whatever the size. `failAfterBytes`: copy that many bytes in total, then throw a TransferError
 * (the partial output stays). `bytesPerSec`: rate limit. `onProgress(state)` after every chunk.
 */
function transfer({ failAfterBytes = null, bytesPerSec = null, onProgress = () => {}, modes = "exact" }) {
  const state = { bytes: 0, files: 0, dirs: 0, links: 0 };
  const started = Date.now();
  const failing = typeof failAfterBytes === "number";
  const throttled = typeof bytesPerSec === "number" && bytesPerSec > 0;
  const brokeOff = () => new TransferError(`transfer broke off after ${state.bytes} bytes`);

  async function copyFile(src, dest, stat) {
    if (failing && state.bytes >= failAfterBytes && stat.size > 0) throw brokeOff();
    await clearForFile(dest);
    if (!failing && !throttled) {
      await fsp.copyFile(src, dest);
      state.bytes += stat.size;
      onProgress(state);
    } else {
      const handle = await fsp.open(dest, "wx", 0o600);
      try {
        for await (const chunk of fs.createReadStream(src, { highWaterMark: 256 * 1024 })) {
          const over = failing && state.bytes + chunk.length > failAfterBytes;
          const piece = over ? chunk.subarray(0, Math.max(0, failAfterBytes - state.bytes)) : chunk;
          await handle.writeFile(piece);
          state.bytes += piece.length;
          onProgress(state);
          if (over) throw brokeOff();
          if (throttled) {
            const due = started + (state.bytes / bytesPerSec) * 1000;
            if (due > Date.now()) await sleep(due - Date.now());
          }
        }
      } finally {
        await handle.close();
      }
    }
    await fsp.chmod(dest, modeAfter(stat.mode, modes));
    await fsp.utimes(dest, stat.atime, stat.mtime);
    state.files++;
  }

  return { state, copyFile };
}

/**
 * Copy the tree `srcDir` into `destDir` (created if missing; existing entries are merged like a
 * tar extraction: files replaced, extra files kept), the way a tar stream moves it: names as
 * exact bytes (valid UTF-8 or not), mtimes, empty directories, symlinks (as symlinks, never
 * followed) and FIFOs are carried; sockets are dropped with a warning (`tar: …: socket
 * ignored`), and so are devices (creating one needs root). `modes`: see modeAfter. `ignore` (a
 * GitIgnore) prunes entries; `onWarning(text)` gets the warnings; the other options are those of
 * `transfer`. Returns `{ bytes, files, dirs, links, fifos }`.
 */
export async function copyTree(srcDir, destDir, options = {}) {
  const { ignore = null, onWarning = () => {}, modes = "exact" } = options;
  const { state, copyFile } = transfer(options);
  state.fifos = 0;

  async function copyDir(src, dest, rel) {
    ignore?.loadDir(src.toString(), rel);
    for (const name of await sortedByteNames(src)) {
      const from = joinBytes(src, name);
      const to = joinBytes(dest, name);
      const childRel = rel ? `${rel}/${name.toString()}` : name.toString();
      const stat = await fsp.lstat(from);
      if (ignore?.ignores(childRel, stat.isDirectory())) continue;
      if (stat.isDirectory()) {
        await ensureDir(to);
        await copyDir(from, to, childRel);
        await fsp.chmod(to, modeAfter(stat.mode, modes));
        await fsp.utimes(to, stat.atime, stat.mtime);
        state.dirs++;
      } else if (stat.isFile()) {
        await copyFile(from, to, stat);
      } else if (stat.isSymbolicLink()) {
        await clearForFile(to);
        await fsp.symlink(await fsp.readlink(from), to);
        await fsp.lutimes(to, stat.atime, stat.mtime).catch(() => {});
        state.links++;
      } else if (stat.isFIFO()) {
        await clearForFile(to);
        const text = to.toString();
        // mkfifo(1) takes its path as an argument: one that is not valid UTF-8 cannot be passed.
        if (Buffer.from(text).equals(to)) {
          makeFifo(text);
          await fsp.chmod(to, modeAfter(stat.mode, modes));
          state.fifos++;
        } else onWarning(`tar: ${childRel}: cannot create FIFO with this name`);
      } else if (stat.isSocket()) {
        onWarning(`tar: ${childRel}: socket ignored`);
      } else {
        onWarning(`tar: ${childRel}: device not extracted (not root)`);
      }
    }
  }

  const srcStat = await fsp.stat(srcDir);
  await fsp.mkdir(destDir, { recursive: true });
  await copyDir(Buffer.from(srcDir), Buffer.from(destDir), "");
  await fsp.chmod(destDir, modeAfter(srcStat.mode, modes));
  return state;
}

/** Copy one regular file to `dest` (an entry there is replaced; a symlink is never followed). */
export async function copyOneFile(src, dest, options = {}) {
  const { state, copyFile } = transfer(options);
  await fsp.mkdir(path.dirname(dest), { recursive: true });
  await copyFile(src, dest, await fsp.stat(src));
  return state;
}

/**
 * Every entry under `dir`, sorted, pre-order, never following symlinks:
 * `{ rel, type: "f"|"d"|"l"|"p"|"s"|"o", mode, size, sha256, target }` (p FIFO, s socket; a name
 * that is not valid UTF-8 shows its bytes as `\xNN`) (sha256 only for files, streamed).
 */
export async function treeEntries(dir) {
  const entries = [];
  async function visit(abs, rel) {
    for (const bytes of await sortedByteNames(abs)) {
      const name = bytes.toString();
      const childAbs = joinBytes(abs, bytes);
      // A name that is not valid UTF-8 is shown with its bytes escaped.
      const shown = Buffer.from(name).equals(bytes) ? name : escapeBytes(bytes);
      const childRel = rel ? `${rel}/${shown}` : shown;
      const stat = await fsp.lstat(childAbs);
      const entry = { rel: childRel, mode: stat.mode & 0o7777, size: null, sha256: null, target: null };
      if (stat.isDirectory()) {
        entries.push({ ...entry, type: "d" });
        await visit(childAbs, childRel);
      } else if (stat.isFile()) {
        entries.push({ ...entry, type: "f", size: stat.size, sha256: await sha256File(childAbs) });
      } else if (stat.isSymbolicLink()) {
        entries.push({ ...entry, type: "l", mode: null, target: await fsp.readlink(childAbs) });
      } else if (stat.isFIFO()) {
        entries.push({ ...entry, type: "p" });
      } else if (stat.isSocket()) {
        entries.push({ ...entry, type: "s" });
      } else {
        entries.push({ ...entry, type: "o" });
      }
    }
  }
  await visit(dir, "");
  return entries;
}

function escapeBytes(bytes) {
  let out = "";
  for (const b of bytes)
    out +=
      b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, "0")}`;
  return out;
}

export function sha256File(file) {
  return new Promise((resolve, reject) => {
    const hash = createHash("sha256");
    fs.createReadStream(file)
      .on("data", (chunk) => hash.update(chunk))
      .on("error", reject)
      .on("end", () => resolve(hash.digest("hex")));
  });
}
