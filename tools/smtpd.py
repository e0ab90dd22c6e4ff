#!/usr/bin/python3
"""smtpd.py -- the development/test SMTP server: accepts every message into a maildir.

Runs Debian's aiosmtpd (use /usr/bin/python3). Each accepted message becomes one
file in MAILDIR/new, written to MAILDIR/tmp first and renamed, so a reader never
sees half a message. Two header lines are prepended with the SMTP envelope:

    X-Envelope-From: <sender>
    X-Envelope-To: <rcpt1>, <rcpt2>

Fault injection for tests: when MAILDIR/.fail exists (or --fail / EPOS_SMTPD_FAIL
is set), RCPT TO is refused with that code. Each line of the file holds a code
(4xx or 5xx), optionally followed by addresses: then only those recipients are
refused; the first line that matches a recipient decides. The file is read on
every RCPT, so tests can switch faults on and off live:

    echo 451 > var/mail/.fail            # every RCPT: 451 (retry later)
    echo "550 a@x.ru b@x.ru" > .fail     # these two: 550 (permanent)
    printf '550 a@x.ru\n451\n' > .fail   # a@x.ru: 550; everyone else: 451
    rm var/mail/.fail                    # accept again
"""

import argparse
import asyncio
import itertools
import os
import signal
import socket
import sys
import time

from aiosmtpd.smtp import SMTP

FAIL_TEXT = {
    "4": "4.3.0 Temporary failure (fault injected by smtpd.py)",
    "5": "5.1.1 Mailbox unavailable (fault injected by smtpd.py)",
}


def parse_fail(text):
    """Return the rules [(code, set of addresses or None)] of a fault spec
    (one a line; lines that are not a rule are ignored)."""
    rules = []
    for line in text.splitlines():
        words = line.split()
        if not words:
            continue
        code = words[0]
        if len(code) != 3 or not code.isdigit() or code[0] not in "45":
            continue
        rules.append((code, {w.strip("<>").lower() for w in words[1:]} or None))
    return rules


class MaildirHandler:
    """aiosmtpd handler: RCPT fault injection and atomic maildir delivery."""

    def __init__(self, maildir, fail_spec):
        self.maildir = maildir
        self.fail_spec = fail_spec
        self.counter = itertools.count(1)
        self.host = socket.gethostname().replace("/", "_").replace(":", "_")
        for sub in ("tmp", "new", "cur"):
            os.makedirs(os.path.join(maildir, sub), exist_ok=True)

    def current_fault(self):
        try:
            with open(os.path.join(self.maildir, ".fail"), encoding="ascii",
                      errors="replace") as f:
                return parse_fail(f.read())
        except FileNotFoundError:
            return parse_fail(self.fail_spec or "")

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        for code, addrs in self.current_fault():
            if addrs is None or address.lower() in addrs:
                log(f"RCPT {address}: refused with {code}")
                return f"{code} {FAIL_TEXT[code[0]]}"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        name = "%d.M%06dP%dQ%d.%s" % (divmod(time.time_ns() // 1000, 1000000) +
                                      (os.getpid(), next(self.counter), self.host))
        head = ("X-Envelope-From: <%s>\r\nX-Envelope-To: %s\r\n" % (
            envelope.mail_from, ", ".join("<%s>" % r for r in envelope.rcpt_tos)))
        content = envelope.original_content or b""
        tmp = os.path.join(self.maildir, "tmp", name)
        with open(tmp, "wb") as f:
            f.write(head.encode("utf-8", "replace"))
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, os.path.join(self.maildir, "new", name))
        log(f"accepted {len(content)} bytes from <{envelope.mail_from}> "
            f"to {', '.join(envelope.rcpt_tos)} -> new/{name}")
        return "250 Message accepted for delivery"


def log(msg):
    print(time.strftime("%Y-%m-%d %H:%M:%S"), "smtpd:", msg, file=sys.stderr, flush=True)


def parse_args():
    p = argparse.ArgumentParser(description="SMTP server writing a maildir (dev/test only)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=int(os.environ.get("EPOS_SMTP_PORT", "2525")))
    p.add_argument("--maildir", required=True)
    p.add_argument("--pidfile")
    p.add_argument("--fail", default=os.environ.get("EPOS_SMTPD_FAIL", ""),
                   help="refuse RCPT with this code (and optional addresses) "
                        "when MAILDIR/.fail does not exist")
    return p.parse_args()


async def serve(args):
    handler = MaildirHandler(args.maildir, args.fail)
    loop = asyncio.get_running_loop()

    def factory():
        return SMTP(handler, hostname="epos-smtpd", enable_SMTPUTF8=True,
                    data_size_limit=32 * 1024 * 1024)

    server = await loop.create_server(factory, host=args.host, port=args.port,
                                      reuse_address=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # The pidfile appears only once the port is bound: its presence means ready.
    if args.pidfile:
        tmp = args.pidfile + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % os.getpid())
        os.rename(tmp, args.pidfile)
    log(f"listening on {args.host}:{args.port}, maildir {args.maildir}")
    await stop.wait()
    server.close()
    await server.wait_closed()
    if args.pidfile:
        try:
            os.unlink(args.pidfile)
        except FileNotFoundError:
            pass
    log("stopped")


def main():
    args = parse_args()
    try:
        asyncio.run(serve(args))
    except OSError as e:
        log(f"cannot listen on {args.host}:{args.port}: {e.strerror}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
