// roster-sync.mjs -- DESIGN §8: a full roster sync of one whole org (1,500 children, 3,000
// guardians, 100 staff) through POST /api/roster, then the same document again (must change
// and publish nothing), then a one-child delta; the time of each.
// Usage: node bench/roster-sync.mjs URL API_KEY [CHILDREN]   (a hub already running at URL)
const [url, key, nChildren = "1500"] = process.argv.slice(2);
if (!url || !key) {
  console.error("usage: node bench/roster-sync.mjs URL API_KEY [CHILDREN]");
  process.exit(2);
}
const run = `${Date.now().toString(36)}`;
const org = `bench-org-${run}`;
const C = Number(nChildren), G = Math.ceil(C / 20), STAFF = 100;
const doc = { mode: "full", org, orgs: [{ ext_id: org, name: `Детский сад ${run}`, kind: "kindergarten" }],
  groups: [], people: [], staff: [], bindings: [], children: [], guardians: [] };
for (let g = 0; g < G; g++) doc.groups.push({ ext_id: `${org}-g${g}`, org, name: `Группа ${g + 1}`, kind: "group" });
for (let s = 0; s < STAFF; s++) {
  const person = `${org}-s${s}`;
  doc.people.push({ ext_id: person, name: `Педагогова Анна ${s}`, email: `s${s}.${run}@bench.example` });
  doc.staff.push({ person, org, roles: s < 5 ? ["admin"] : ["teacher"] });
  if (s >= 5) doc.bindings.push({ person, group: `${org}-g${(s - 5) % G}`, role: "teacher" });
}
for (let c = 0; c < C; c++) {
  const child = `${org}-c${c}`;
  doc.children.push({ ext_id: child, name: `Ребёнков Миша ${c}`, group: `${org}-g${c % G}`, birth_date: "2021-04-01" });
  for (const p of [`${org}-m${c}`, `${org}-f${c}`]) {
    doc.people.push({ ext_id: p, name: `Родителев ${p.slice(-6)}`, phone: "+7 900 000-00-00" });
    doc.guardians.push({ person: p, child });
  }
}

async function sync(body) {
  const t0 = process.hrtime.bigint();
  const res = await fetch(`${url}/api/roster`, { method: "POST", body: JSON.stringify(body),
    headers: { authorization: `ApiKey ${key}`, "content-type": "application/json" } });
  const json = await res.json();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${JSON.stringify(json)}`);
  const rejected = Object.values(json.counts).reduce((a, c) => a + c.rejected, 0);
  if (rejected) throw new Error(`${rejected} rows rejected: ${JSON.stringify(json.rejected.slice(0, 3))}`);
  return { ms, changed: json.changed };
}

const bytes = JSON.stringify(doc).length;
const first = await sync(doc);
const again = await sync(doc);
const move = await sync({ mode: "delta", children: [{ ...doc.children[0], group: `${org}-g1` }] });
if (!first.changed || again.changed || !move.changed) throw new Error("changed flags are wrong");
console.log(JSON.stringify({ bench: "roster-sync", children: C, guardians: 2 * C, staff: STAFF, groups: G,
  document_bytes: bytes, first_full_ms: Math.round(first.ms), identical_full_ms: Math.round(again.ms),
  identical_changed: again.changed, one_move_delta_ms: Math.round(move.ms) }));
