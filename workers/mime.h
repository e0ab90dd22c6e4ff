/* mime.h -- build RFC 5322 / MIME text mail (UTF-8, RFC 2047 headers, base64 body). */
#ifndef EPOS_MIME_H
#define EPOS_MIME_H

#include <stddef.h>
#include <time.h>

/* Longest line the builder writes, CRLF excluded, as RFC 2047 asks of lines
 * holding encoded words. Only a single address longer than that can exceed it
 * (addresses are never split). */
#define MIME_LINE_MAX 76

/* An extra header. The name is 1..64 printable ASCII characters without ':'
 * and must not be one the builder writes itself (From, To, Cc, Bcc, Subject,
 * Date, Message-ID, MIME-Version, Content-*, Sender, Return-Path, Received,
 * Auto-Submitted). The value is unstructured text: any UTF-8. */
typedef struct mime_header {
    const char *name;
    const char *value;
} mime_header;

/* One text/plain mail. Text fields are UTF-8 (invalid bytes become U+FFFD);
 * CR, LF and other control characters in a header field become spaces, so no
 * input can start a new header. NULL text fields are empty. */
typedef struct mime_mail {
    const char *from_name; /* display name, may be NULL */
    const char *from_addr; /* addr-spec "local@domain", ASCII, required */
    const char *to_name;   /* display name, may be NULL */
    const char *to_addr;   /* addr-spec, required */
    const char *subject;
    const char *body;       /* LF, CR or CRLF line ends: sent as CRLF */
    const char *message_id; /* "<left@right>" or "left@right", required */
    time_t date;            /* the Date header, written in UTC */
    const mime_header *headers;
    size_t nheaders;
} mime_mail;

/* Build the whole message: headers (Date, From, To, Subject, Message-ID,
 * MIME-Version, Content-Type text/plain; charset=UTF-8,
 * Content-Transfer-Encoding base64, Auto-Submitted, then the extra headers),
 * a blank line and the base64 body, every line ending in CRLF.
 * Returns a malloc'd NUL-terminated string (its length in *len when len is
 * not NULL), or NULL with errno EINVAL when an address, the Message-ID or an
 * extra header name is invalid, or ENOMEM. */
char *mime_build(const mime_mail *m, size_t *len);

/* Split "Name <addr>", "\"Name\" <addr>" or "addr" into a malloc'd display
 * name (NULL when there is none) and a malloc'd address. Returns 0, or -1
 * (nothing allocated) when the address is not a valid addr-spec. */
int mime_parse_mailbox(const char *text, char **name, char **addr);

/* 1 when addr is a plain ASCII addr-spec "local@domain" we are willing to
 * put in a header and an SMTP envelope (no spaces, controls, brackets,
 * quotes or commas; at most 254 characters); else 0. */
int mime_addr_valid(const char *addr);

/* Write t as an RFC 5322 date in UTC, e.g. "Tue, 03 Feb 2026 13:00:00 +0000"
 * (English names whatever the locale). Returns its length, or -1 if buf is
 * too small (32 bytes always suffice). */
int mime_format_date(time_t t, char *buf, size_t len);

#endif
