// ws-peer.js -- the peer of the hub benchmarks: Node's `ws`, every message broadcast to all clients.
'use strict';
const { WebSocketServer, WebSocket } = require('ws');
const port = Number(process.argv[2] || 47081);
const wss = new WebSocketServer({ host: '127.0.0.1', port, backlog: 4096 });
wss.on('connection', (sock) => {
  sock.on('message', (data, isBinary) => {
    for (const client of wss.clients)
      if (client.readyState === WebSocket.OPEN) client.send(data, { binary: isBinary });
  });
});
wss.on('listening', () => console.log(`ws-peer listening on 127.0.0.1:${port} pid ${process.pid}`));
