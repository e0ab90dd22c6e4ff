/* queue_lua.c -- the job queue's Lua scripts, the one source of each (the worker's queue and
 * eposctl run the same text). */
#include "queue_internal.h"

/* Each script is one atomic step, so a crash between two Redis commands
 * cannot leave a job both acked and not re-queued (or queued twice). */

/* What several scripts share: the Redis clock in ms, the check of a kind
 * taken from data, and the one layout of a job's stream entry. */
#define QUEUE_LUA_COMMON                                                                           \
    "local function now_ms()\n"                                                                    \
    "  local t = redis.call('TIME')\n"                                                             \
    "  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"                         \
    "end\n"                                                                                        \
    "local function kind_ok(k)\n"                                                                  \
    "  return type(k) == 'string' and k:match('^[%w_.:-]+$') ~= nil\n"                             \
    "end\n"                                                                                        \
    "local function add_job(stream, id, kind, payload, attempt, err)\n"                            \
    "  redis.call('XADD', stream, '*', 'id', id, 'kind', kind, 'payload', payload,\n"              \
    "    'attempt', tostring(attempt), 'error', err or '')\n"                                      \
    "end\n"

/* ARGV: prefix, dedupe ttl s (0: no dedupe), delay ms, then (id, kind,
 * payload) triples. */
const char queue_lua_enqueue[] = QUEUE_LUA_COMMON
    "local p, ttl, delay = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "local now = now_ms()\n"
    "local n = 0\n"
    "for i = 4, #ARGV - 2, 3 do\n"
    "  local id, kind, payload = ARGV[i], ARGV[i + 1], ARGV[i + 2]\n"
    "  if ttl == 0 or redis.call('SET', p .. 'jobid:' .. id, '1', 'NX', 'EX', ttl) then\n"
    "    if delay > 0 then\n"
    "      redis.call('ZADD', p .. 'delayed', now + delay, cjson.encode({id = id, kind = kind,\n"
    "        payload = payload, attempt = 1, error = ''}))\n"
    "    else\n"
    "      add_job(p .. 'jobs:' .. kind, id, kind, payload, 1, '')\n"
    "    end\n"
    "    n = n + 1\n"
    "  end\n"
    "end\n"
    "return n\n";

/* KEYS: stream. ARGV: group, entry ids. */
const char queue_lua_ack[] = "local n = redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, 2))\n"
                             "redis.call('XDEL', KEYS[1], unpack(ARGV, 2))\n"
                             "return n\n";

/* KEYS: stream, delayed, dead. ARGV: group, entry, id, kind, payload,
 * attempt, error, delay ms (< 0: dead). A job another worker already acked
 * (claimed from us while we were slow) is left alone. */
const char queue_lua_fail[] = QUEUE_LUA_COMMON
    "if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end\n"
    "redis.call('XDEL', KEYS[1], ARGV[2])\n"
    "local now = now_ms()\n"
    "local delay = tonumber(ARGV[8])\n"
    "if delay < 0 then\n"
    "  redis.call('XADD', KEYS[3], '*', 'id', ARGV[3], 'kind', ARGV[4], 'payload', ARGV[5],\n"
    "    'attempt', ARGV[6], 'error', ARGV[7], 'failed_at', string.format('%d', now))\n"
    "  return 2\n"
    "end\n"
    "redis.call('ZADD', KEYS[2], now + delay, cjson.encode({id = ARGV[3], kind = ARGV[4],\n"
    "  payload = ARGV[5], attempt = tonumber(ARGV[6]) + 1, error = ARGV[7]}))\n"
    "return 1\n";

/* KEYS: stream. ARGV: group, entry, id, kind, payload, attempt, error.
 * A fresh entry is readable by any worker at once (a claim would wait). */
const char queue_lua_release[] =
    QUEUE_LUA_COMMON "if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end\n"
                     "redis.call('XDEL', KEYS[1], ARGV[2])\n"
                     "add_job(KEYS[1], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7])\n"
                     "return 1\n";

/* KEYS: stream. ARGV: group, consumer, min idle ms, count, cursor. Returns
 * {next cursor, [[entry id, fields, deliveries]]}. XAUTOCLAIM looks at no
 * more than 10 × count pending entries a call, so a scan that always began
 * at 0-0 never got past the first ones (held by live consumers) to those of
 * a dead one: the caller goes on from the cursor until it wraps to 0-0. The
 * delivery count makes a job that keeps killing its workers end dead. */
const char queue_lua_claim[] =
    "local r = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[5],\n"
    "  'COUNT', ARGV[4])\n"
    "local out = {}\n"
    "for _, e in ipairs(r[2]) do\n"
    "  if e[2] then\n"
    "    local p = redis.call('XPENDING', KEYS[1], ARGV[1], e[1], e[1], 1)\n"
    "    local d = 1\n"
    "    if p[1] then d = p[1][4] end\n"
    "    out[#out + 1] = {e[1], e[2], d}\n"
    "  end\n"
    "end\n"
    "return {r[1], out}\n";

/* KEYS: delayed. ARGV: prefix, limit. Moves due jobs to their streams;
 * returns {moved, ms until the next one or -1}. */
const char queue_lua_promote[] = QUEUE_LUA_COMMON
    "local now = now_ms()\n"
    "local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))\n"
    "for _, m in ipairs(due) do\n"
    "  local ok, j = pcall(cjson.decode, m)\n"
    "  if ok and type(j) == 'table' and kind_ok(j.kind) and type(j.id) == 'string' then\n"
    "    add_job(ARGV[1] .. 'jobs:' .. j.kind, j.id, j.kind, tostring(j.payload or '{}'),\n"
    "      tostring(j.attempt or 1), tostring(j.error or ''))\n"
    "  else\n"
    "    redis.call('XADD', ARGV[1] .. 'dead', '*', 'id', '', 'kind', '', 'payload', m,\n"
    "      'attempt', '0', 'error', 'malformed delayed entry',\n"
    "      'failed_at', string.format('%d', now))\n"
    "  end\n"
    "  redis.call('ZREM', KEYS[1], m)\n"
    "end\n"
    "local nxt = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')\n"
    "if nxt[2] then return {#due, math.max(0, tonumber(nxt[2]) - now)} end\n"
    "return {#due, -1}\n";

/* KEYS: stream. ARGV: group, idle ms, our name. Deletes consumers that
 * hold no job and are idle that long (workers that died and whose jobs were
 * claimed), and ourselves when we hold none, so the group does not collect a
 * consumer per process ever started. */
const char queue_lua_forget[] =
    "local cs = redis.pcall('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])\n"
    "if type(cs) ~= 'table' or cs.err then return 0 end\n"
    "local n = 0\n"
    "for _, c in ipairs(cs) do\n"
    "  local t = {}\n"
    "  for i = 1, #c, 2 do t[c[i]] = c[i + 1] end\n"
    "  if t.pending == 0 and (t.name == ARGV[3] or t.idle > tonumber(ARGV[2])) then\n"
    "    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], t.name)\n"
    "    n = n + 1\n"
    "  end\n"
    "end\n"
    "return n\n";

const char queue_lua_replay[] = QUEUE_LUA_COMMON
    "local e = redis.call('XRANGE', KEYS[1], ARGV[2], ARGV[2])\n"
    "if #e == 0 then return 0 end\n"
    "local f, j = e[1][2], {}\n"
    "for i = 1, #f, 2 do j[f[i]] = f[i + 1] end\n"
    "if not kind_ok(j.kind) or not j.id or j.id == '' then return -1 end\n"
    "add_job(ARGV[1] .. 'jobs:' .. j.kind, j.id, j.kind, j.payload or '{}', 1, '')\n"
    "redis.call('XDEL', KEYS[1], ARGV[2])\n"
    "return 1\n";
