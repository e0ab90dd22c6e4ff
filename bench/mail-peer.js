// mail-peer.js -- the email benchmark's peer: nodemailer's pooled SMTP transport into smtp-sink.
//
//   node mail-peer.js PORT COUNT [CONNECTIONS] [PER_CONNECTION]
//
// Sends COUNT plain-text UTF-8 mails (Russian subject and body, like the
// hub's notifications) to 127.0.0.1:PORT over a pool of CONNECTIONS (2)
// sessions carrying PER_CONNECTION (50) mails each, the same shape as the
// worker's mailer (2 threads by default, MAILER_BATCH_MAX 50), all queued at once.
// Prints one JSON line: mails/s between 10 % and 90 % of the mails accepted
// (as the worker's drain is timed), and over the whole run.
'use strict';
const nodemailer = require('nodemailer');

const [port, count = 5000, conns = 2, perConn = 50] = process.argv.slice(2).map(Number);
if (!port) {
  console.error('usage: node mail-peer.js PORT COUNT [CONNECTIONS] [PER_CONNECTION]');
  process.exit(2);
}
const transport = nodemailer.createTransport({
  host: '127.0.0.1', port, secure: false, ignoreTLS: true,
  pool: true, maxConnections: conns, maxMessages: perConn,
});

async function main() {
  const t0 = process.hrtime.bigint();
  let sent = 0, failed = 0;
  const done = [];
  await Promise.all(Array.from({ length: count }, (_, i) => transport.sendMail({
    from: 'ЭПОС <noreply@epos.local>',
    to: `Учитель ${i} <teacher${i}@bench.local>`,
    subject: `Уведомление об отсутствии № ${i}`,
    text: `Здравствуйте!\n\nРодитель сообщил об отсутствии ребёнка (сообщение ${i}).\n\n-- \nЭПОС\n`,
    messageId: `<bench.${i}@epos.local>`,
  }).then(() => { sent++; done.push(process.hrtime.bigint()); }, () => failed++)));
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  transport.close();
  // the same window as the worker's figure: from 10 % to 90 % of the mails done
  const at = (f) => Number(done[Math.min(done.length - 1, Math.floor(f * count))] - t0) / 1e9;
  const mid = sent === count && count >= 10 ? (0.8 * count) / (at(0.9) - at(0.1)) : -1;
  console.log(JSON.stringify({ mode: 'email', target: 'nodemailer', count, sent, failed,
    connections: conns, per_connection: perConn, secs: Number(secs.toFixed(3)),
    mails_per_s: Math.round(mid), mails_per_s_overall: Math.round(sent / secs) }));
}
main().catch((e) => { console.error(e); process.exit(1); });
