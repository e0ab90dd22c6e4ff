// mail.mjs -- the test maildir written by tools/smtpd.py: list, parse, await, clear, fault injection.
import { watch, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";

// ---- MIME decoding (enough for the mail our workers write) ----------------------------

function decodeBytes(buf, charset) {
  try {
    return new TextDecoder((charset || "utf-8").toLowerCase()).decode(buf);
  } catch {
    return new TextDecoder("utf-8").decode(buf);
  }
}

function decodeQP(text, inHeader = false) {
  const s = inHeader ? text.replace(/_/g, " ") : text.replace(/=\r?\n/g, "");
  const bytes = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === "=" && /^[0-9A-Fa-f]{2}$/.test(s.slice(i + 1, i + 3))) {
      bytes.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(s[i], "latin1"));
    }
  }
  return Buffer.from(bytes);
}

/** Decode RFC 2047 encoded-words (=?utf-8?B?...?= / =?utf-8?Q?...?=) in a header value. */
export function decodeHeader(value) {
  return value
    .replace(/\?=\s+=\?/g, "?==?") // whitespace between encoded words is not content
    .replace(/=\?([^?]+)\?([BbQq])\?([^?]*)\?=/g, (_, cs, enc, data) =>
      decodeBytes(enc.toUpperCase() === "B" ? Buffer.from(data, "base64") : decodeQP(data, true), cs));
}

function splitHead(raw) {
  const m = /\r?\n\r?\n/.exec(raw);
  return m ? [raw.slice(0, m.index), raw.slice(m.index + m[0].length)] : [raw, ""];
}

/** Parse header lines into a map of lower-case name -> array of decoded values. */
function parseHeaders(head) {
  const headers = {};
  for (const line of head.replace(/\r?\n[ \t]+/g, " ").split(/\r?\n/)) {
    const i = line.indexOf(":");
    if (i <= 0) continue;
    const name = line.slice(0, i).trim().toLowerCase();
    (headers[name] ||= []).push(decodeHeader(line.slice(i + 1).trim()));
  }
  return headers;
}

function param(value, name) {
  const m = new RegExp(`;\\s*${name}\\s*=\\s*(?:"([^"]*)"|([^;\\s]+))`, "i").exec(value || "");
  return m ? m[1] ?? m[2] : undefined;
}

function decodeBody(body, headers) {
  const cte = (headers["content-transfer-encoding"]?.[0] || "7bit").toLowerCase();
  const charset = param(headers["content-type"]?.[0], "charset");
  const raw = Buffer.from(body, "latin1");
  if (cte === "base64") return decodeBytes(Buffer.from(body.replace(/\s+/g, ""), "base64"), charset);
  if (cte === "quoted-printable") return decodeBytes(decodeQP(body), charset);
  return decodeBytes(raw, charset);
}

/** Walk a (possibly multipart) entity; collect text/plain and text/html parts. */
function walk(head, body, out) {
  const headers = parseHeaders(head);
  const type = (headers["content-type"]?.[0] || "text/plain").split(";")[0].trim().toLowerCase();
  if (type.startsWith("multipart/")) {
    const boundary = param(headers["content-type"][0], "boundary");
    if (!boundary) return;
    const parts = body.split(new RegExp(`\\r?\\n?--${boundary.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}(?:--)?[ \\t]*\\r?\\n?`));
    for (const part of parts.slice(1)) {
      if (part.trim() === "") continue;
      const [h, b] = splitHead(part);
      walk(h, b, out);
    }
  } else if (type === "text/plain" && out.text === undefined) {
    out.text = decodeBody(body, headers);
  } else if (type === "text/html" && out.html === undefined) {
    out.html = decodeBody(body, headers);
  }
}

function addresses(list) {
  return (list || []).flatMap((v) => v.split(",")).map((a) => (/<([^>]*)>/.exec(a)?.[1] ?? a).trim())
    .filter(Boolean);
}

/** Parse one stored message (a Buffer or latin1 string) into a plain object. */
export function parseMail(raw, file = "") {
  const text = Buffer.isBuffer(raw) ? raw.toString("latin1") : raw;
  const [head, body] = splitHead(text);
  const headers = parseHeaders(head);
  const one = (n) => headers[n]?.[headers[n].length - 1];
  const parts = {};
  walk(head, body, parts);
  return {
    file,
    headers,
    envelopeFrom: addresses(headers["x-envelope-from"])[0],
    envelopeTo: addresses(headers["x-envelope-to"]),
    from: one("from"),
    to: one("to"),
    subject: one("subject"),
    messageId: one("message-id"),
    date: one("date"),
    text: parts.text,
    html: parts.html,
    raw: decodeBytes(Buffer.from(text, "latin1"), "utf-8"),
  };
}

// ---- matching ---------------------------------------------------------------------------------

/** A predicate from a function, or from an object pattern: every key must match
 *  (strings in the pattern match substrings; RegExps test; arrays must include). */
export function mailMatcher(pred) {
  if (typeof pred === "function") return pred;
  const pattern = pred || {};
  return (m) => Object.entries(pattern).every(([k, want]) => {
    const got = m[k];
    if (want instanceof RegExp) return want.test(Array.isArray(got) ? got.join(", ") : String(got ?? ""));
    if (Array.isArray(got)) return got.map((s) => s.toLowerCase()).includes(String(want).toLowerCase());
    if (typeof want === "string") return typeof got === "string" && got.includes(want);
    return got === want;
  });
}

// ---- the mailbox ------------------------------------------------------------------------------

/** The maildir of a stack's SMTP server. dir defaults to EPOS_MAILDIR / var/test/mail. */
export function mailbox(dir) {
  const newDir = join(dir, "new");
  mkdirSync(newDir, { recursive: true });

  const names = () => readdirSync(newDir).filter((n) => !n.startsWith(".")).sort();
  const read = (name) => parseMail(readFileSync(join(newDir, name)), name);

  return {
    dir,
    /** Every message now in new/, oldest first, parsed. */
    list() {
      return names().map(read);
    },
    /** The file names now in new/ (pass as `exclude` to waitFor to skip them). */
    snapshot() {
      return new Set(names());
    },
    /** Delete every message, and any fault set with fail(). */
    clear() {
      for (const n of names()) rmSync(join(newDir, n), { force: true });
      rmSync(join(dir, ".fail"), { force: true });
    },
    /** Make the SMTP server refuse RCPT TO with code (4xx/5xx), for these
     *  addresses only when given. Takes effect on the next RCPT. */
    fail(code, ...addrs) {
      writeFileSync(join(dir, ".fail"), [String(code), ...addrs].join(" ") + "\n");
    },
    /** Accept mail again. */
    ok() {
      rmSync(join(dir, ".fail"), { force: true });
    },
    /** Resolve with the first message (oldest first) matching pred that is not
     *  in exclude, waiting for it to arrive (inotify on new/) until timeoutMs. */
    waitFor(pred, { timeoutMs = 15000, exclude = new Set() } = {}) {
      const match = mailMatcher(pred);
      return new Promise((resolve, reject) => {
        let watcher, backstop, timer, done = false;
        const finish = (err, mail) => {
          if (done) return;
          done = true;
          watcher?.close();
          clearInterval(backstop);
          clearTimeout(timer);
          err ? reject(err) : resolve(mail);
        };
        const scan = () => {
          if (done) return;
          for (const n of names()) {
            if (exclude.has(n)) continue;
            let m;
            try {
              m = read(n);
            } catch {
              continue; // removed meanwhile
            }
            if (match(m)) return finish(null, m);
          }
        };
        watcher = watch(newDir, scan);
        // inotify is reliable; this only guards against a watcher that missed
        // the directory being recreated.
        backstop = setInterval(scan, 1000);
        timer = setTimeout(() => {
          const seen = names().filter((n) => !exclude.has(n)).map(read)
            .map((m) => `  ${m.envelopeTo.join(",")}: ${m.subject}`).join("\n");
          finish(new Error(`no mail matching ${typeof pred === "function" ? "the predicate" :
            JSON.stringify(pred, (k, v) => (v instanceof RegExp ? String(v) : v))} within ${timeoutMs} ms;` +
            ` the mailbox holds:\n${seen || "  (nothing)"}`));
        }, timeoutMs);
        scan();
      });
    },
  };
}
