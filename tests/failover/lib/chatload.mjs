// chatload.mjs -- chat load for the failover tests: pairs of a parent and a teacher in a direct
// chat, the sender on one hub sending with cids and awaiting acks (resending the same cid on an
// error or a lost socket), the receiver on another hub; then the accounting against PostgreSQL.
import { randomUUID } from "node:crypto";
import { demoUsers, http, login, psql, until, wsConnect } from "../../integration/lib/harness.mjs";

const SEND_GAP_MS = 60; // under rate_per_sec (20 frames a second per connection)
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** n parent/teacher pairs of the demo region, each with its direct chat and tokens.
 *  hubUrl: where to log in and create the chats; users: the seeded demo users. */
export async function chatPairs(hubUrl, n, users = demoUsers().users) {
  const pairs = [];
  const used = new Set();
  for (const p of users.filter((u) => u.role === "parent")) {
    const t = users.find((u) => u.role === "teacher" && !used.has(u.id) &&
      u.group_ids.some((g) => p.group_ids.includes(g)));
    if (!t || used.has(p.id)) continue;
    used.add(p.id).add(t.id);
    const tp = (await login(hubUrl, p.login, p.password)).token;
    const tt = (await login(hubUrl, t.login, t.password)).token;
    const r = await http("POST", `${hubUrl}/api/chats`, { with: t.id }, tp);
    if (r.status !== 200 && r.status !== 201) throw new Error(`direct chat ${p.login}/${t.login}: ${r.status} ${r.text}`);
    pairs.push({ parent: p, teacher: t, tp, tt, chat: r.json.chat.id, topic: `chat:${r.json.chat.id}` });
    if (pairs.length === n) break;
  }
  if (pairs.length < n) throw new Error(`only ${pairs.length} parent/teacher pairs in the demo region`);
  return pairs;
}

/** A connection that comes back after a loss, resuming its topics from the last
 *  contiguous seq; events of topic are counted by seq. */
function receiver(wsUrlOf, token, topic) {
  const rx = { seqs: new Map(), doubled: 0, reconnects: 0, stopped: false, ws: null, url: wsUrlOf };
  let last = null; // every seq up to here has arrived (from hello's seqs at first)
  const loop = async () => {
    while (!rx.stopped) {
      let c;
      try {
        c = await wsConnect(wsUrlOf(), token, last === null ? {} : { resume: { [topic]: last } });
      } catch {
        await sleep(200);
        continue;
      }
      if (rx.stopped) {
        await c.close();
        break;
      }
      if (last === null) last = c.hello.seqs?.[topic] ?? 0;
      else rx.reconnects++;
      rx.ws = c;
      const seen = new Set(); // seqs on this connection: one twice is doubled
      const pump = (async () => {
        for (;;) {
          const m = await c.next((x) => x.op === "event" && x.topic === topic, 3600000);
          if (seen.has(m.seq)) rx.doubled++;
          seen.add(m.seq);
          rx.seqs.set(m.seq, (rx.seqs.get(m.seq) || 0) + 1);
          while (rx.seqs.has(last + 1)) last++;
        }
      })().catch(() => {});
      await c.closed;
      await pump;
    }
  };
  rx.done = loop();
  rx.last = () => last;
  rx.stop = async () => {
    rx.stopped = true;
    await rx.ws?.close().catch(() => {});
    await rx.done;
  };
  return rx;
}

/** One sender: send, await the ack (or an error: the same cid again). */
function sender(wsUrlOf, token, chat, tag) {
  const tx = { acked: [], errors: 0, stopped: false, ws: null };
  const connect = async () => {
    for (;;) {
      try {
        const c = await wsConnect(wsUrlOf(), token);
        tx.ws = c;
        return c;
      } catch {
        await sleep(200);
      }
    }
  };
  tx.done = (async () => {
    let c = await connect();
    let i = 0;
    while (!tx.stopped) {
      const cid = randomUUID();
      const text = `${tag} ${++i}`;
      for (;;) {
        c.drain(); // events of our own chat: the receiver counts those
        c.send({ op: "send", chat, text, cid });
        const r = await c.next((m) => (m.op === "ack" || m.op === "error") && m.cid === cid, 20000)
          .catch(() => null);
        if (r?.op === "ack") {
          tx.acked.push({ cid, id: r.id, seq: r.seq });
          break;
        }
        tx.errors++;
        await sleep(200);
        if (!r) { // no answer: the socket is gone or stuck; a new one, the same cid
          await c.close().catch(() => {});
          c = await connect();
        }
      }
      await sleep(SEND_GAP_MS);
    }
    await c.close().catch(() => {});
  })();
  tx.stop = async () => {
    tx.stopped = true;
    await tx.done;
  };
  return tx;
}

/** Start the load: pair i sends on hubs[i % n] and receives on hubs[(i + 1) % n]
 *  (hubs: objects with wsUrl, may be replaced while running). */
export function startChatLoad(pairs, hubs, tag = "failover") {
  const flows = pairs.map((p, i) => ({
    pair: p,
    rx: receiver(() => hubs[(i + 1) % hubs.length].wsUrl, p.tt, p.topic),
    tx: sender(() => hubs[i % hubs.length].wsUrl, p.tp, p.chat, `${tag} ${i}`),
  }));
  return {
    flows,
    acked: () => flows.reduce((n, f) => n + f.tx.acked.length, 0),
    /** Resolves once `more` acks came after this call. */
    async moreAcks(more, what = "acks", timeoutMs = 60000) {
      const from = this.acked();
      await until(() => this.acked() >= from + more, { what, timeoutMs });
    },
    async stop() {
      await Promise.all(flows.map((f) => f.tx.stop()));
    },
    /** Stop everything at once (a failed test). */
    async abort() {
      for (const f of flows) f.tx.stopped = f.rx.stopped = true;
      await Promise.all(flows.map((f) => Promise.all([f.tx.ws?.close(), f.rx.ws?.close()]).catch(() => {})));
    },
  };
}

/** Stop the load and account for it: every acked message in PostgreSQL (conninfo,
 *  a superuser's) once, and at every receiver (live, else by one last resume).
 *  Resolves {acked, stored, delivered, lost, doubled, live, resumed}. */
export async function chatAccount(load, { conninfo, settleMs = 5000 } = {}) {
  await load.stop();
  const cids = load.flows.flatMap((f) => f.tx.acked.map((a) => a.cid));
  const rows = await psql("SELECT cid, count(*)::int AS n FROM chat_messages WHERE cid = ANY($1::text[]) GROUP BY cid",
    [cids], { conninfo });
  const stored = rows.length;
  let doubled = rows.filter((r) => r.n > 1).length;
  // Live delivery may still be on its way (a hub's sweep): wait a little, then resume.
  const missing = (f) => f.tx.acked.filter((a) => !f.rx.seqs.has(a.seq));
  await until(() => load.flows.every((f) => missing(f).length === 0),
    { what: "live delivery", timeoutMs: settleMs }).catch(() => {});
  const live = load.flows.reduce((n, f) => n + f.tx.acked.length - missing(f).length, 0);
  let resumed = 0;
  for (const f of load.flows) {
    await f.rx.stop();
    doubled += f.rx.doubled;
    const gaps = missing(f);
    if (!gaps.length) continue;
    // The client's resume: from the last seq it holds in order.
    const c = await wsConnect(f.rx.url(), f.pair.tt, { resume: { [f.pair.topic]: f.rx.last() } });
    await c.next("resumed", 20000);
    for (const m of c.drain()) if (m.op === "event" && m.topic === f.pair.topic) f.rx.seqs.set(m.seq, 1);
    await c.close();
    resumed += gaps.length - missing(f).length;
  }
  const delivered = load.flows.reduce((n, f) => n + f.tx.acked.length - missing(f).length, 0);
  return { acked: cids.length, stored, delivered, lost: cids.length - stored, doubled, live, resumed,
    undelivered: cids.length - delivered };
}
