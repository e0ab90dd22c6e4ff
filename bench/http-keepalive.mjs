// http-keepalive.mjs -- DESIGN §8: HTTP requests on one kept-alive connection
// vs each on a new connection, p50/p99 of both and their ratio.
// Usage: node bench/http-keepalive.mjs PORT [N] [PATH]   (a hub already running on PORT)
import { connect } from "node:net";

const [port, n = "500", path = "/healthz"] = process.argv.slice(2);
const req = `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`;

/** Send one request on sock; resolve once its whole answer has arrived. */
function once(sock) {
  return new Promise((resolve, reject) => {
    let buf = "";
    const onData = (d) => {
      buf += d.toString("latin1");
      const end = buf.indexOf("\r\n\r\n");
      if (end < 0) return;
      const len = Number(/content-length:\s*(\d+)/i.exec(buf.slice(0, end))?.[1] ?? 0);
      if (buf.length < end + 4 + len) return;
      sock.off("data", onData);
      sock.off("error", reject);
      resolve();
    };
    sock.on("data", onData);
    sock.once("error", reject);
    sock.write(req);
  });
}

const open = () => new Promise((res, rej) => {
  const s = connect(Number(port), "127.0.0.1", () => res(s));
  s.once("error", rej);
});
const pct = (a, p) => a.slice().sort((x, y) => x - y)[Math.min(a.length - 1, Math.floor(a.length * p))];

const fresh = [], kept = [];
for (let i = 0; i < Number(n); i++) {
  const t0 = process.hrtime.bigint();
  const s = await open();
  await once(s);
  fresh.push(Number(process.hrtime.bigint() - t0) / 1e6);
  s.destroy();
}
const s = await open();
await once(s); // the first request of the kept connection is not counted
for (let i = 0; i < Number(n); i++) {
  const t0 = process.hrtime.bigint();
  await once(s);
  kept.push(Number(process.hrtime.bigint() - t0) / 1e6);
}
s.destroy();
const r = (x) => x.toFixed(3);
console.log(JSON.stringify({
  bench: "http-keepalive", n: Number(n), path,
  first_p50_ms: r(pct(fresh, 0.5)), first_p99_ms: r(pct(fresh, 0.99)),
  kept_p50_ms: r(pct(kept, 0.5)), kept_p99_ms: r(pct(kept, 0.99)),
  kept_over_first_p50: r(pct(kept, 0.5) / pct(fresh, 0.5)),
}));
