/* sceplab: text codecs used by every decoder. */
#ifndef SCEPLAB_CODEC_H
#define SCEPLAB_CODEC_H

#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Tolerant base64 decode (standard and URL-safe alphabets). Whitespace and line breaks are skipped,
 * missing padding is accepted. Returns a malloc'd buffer (NUL-terminated for convenience) and its
 * length in *outlen, or NULL when the text is not base64; *bad_at gets the offset of the first
 * offending byte when not NULL. */
unsigned char *sceplab_b64_decode(const char *in, size_t n, size_t *outlen, size_t *bad_at);

/* Base64 encode without line breaks; malloc'd, NUL-terminated. */
char *sceplab_b64_encode(const unsigned char *in, size_t n);

/* True when every non-space byte is in the base64 alphabet and there are at least min of them. */
int sceplab_looks_b64(const char *in, size_t n, size_t min);

/* Hex encode into a malloc'd NUL-terminated string. */
char *sceplab_hex_encode(const unsigned char *in, size_t n, int upper);

/* Decode hex (spaces and colons ignored); NULL when not hex. */
unsigned char *sceplab_hex_decode(const char *in, size_t n, size_t *outlen);

/* Percent-decoding; '+' becomes a space when plus_is_space. Returns malloc'd NUL-terminated text. */
char *sceplab_url_decode(const char *in, size_t n, size_t *outlen, int plus_is_space);

/* If buf starts with a UTF-16 (LE or BE) BOM, or looks like BOM-less UTF-16LE text, convert it to
 * UTF-8 into a malloc'd buffer and return it (length in *outlen). A UTF-8 BOM is skipped by
 * returning *skip > 0. Returns NULL when no conversion was needed. */
unsigned char *sceplab_to_utf8(const unsigned char *buf, size_t n, size_t *outlen, size_t *skip);

/* Text that is safe to show on a terminal or in a report: C0 controls but tab and newline, DEL, C1
 * controls (U+0080-U+009F) and the bidirectional overrides (U+202A-U+202E, U+2066-U+2069: text that
 * displays in another order than it reads) become visible escapes ("\x1B", "\u202E"); bytes that
 * are not UTF-8 become "\xHH". Returns the number of bytes written to out (at most outlen - 1,
 * NUL-terminated; stops early rather than cut an escape) and sets *consumed to the input used.
 * sceplab_visible_len tells how many bytes the whole text needs (0 when it needs no change).
 * The _line forms are for one field on one line (a transaction ID in a listing): tab, CR and
 * newline are escaped too. */
size_t sceplab_visible(const char *in, size_t n, char *out, size_t outlen, size_t *consumed);
size_t sceplab_visible_len(const char *in, size_t n);
size_t sceplab_visible_line(const char *in, size_t n, char *out, size_t outlen, size_t *consumed);
size_t sceplab_visible_line_len(const char *in, size_t n);

/* Escaping, one function per output format that text a device or a log chose can reach: the
 * CMTrace log (NDESPlugin.log), the W3C log (IIS), XML (CRS files, .svclog, event XML, CAPI2,
 * CertEnrollTokens, the SyncML profile) and the terminal (sceplab_visible above). Every writer
 * of those formats goes through these (src/core/escape.c); none writes such text raw.
 *
 * Each function has sceplab_visible's contract: writes the escaped form of in[0..n) to out, at
 * most outlen - 1 bytes and a NUL, stopping before an escape or a character rather than cutting
 * it; returns the bytes written and sets *consumed to the input used. 16 bytes of out always make
 * progress. Bytes that are no UTF-8 (a stray byte, an overlong form, a surrogate, a cut sequence)
 * and Unicode noncharacters (U+FDD0-U+FDEF, U+FFFE and U+FFFF of every plane) never pass. */
typedef size_t (*sceplab_escaper)(const char *in, size_t n, char *out, size_t outlen, size_t *consumed);

/* A CMTrace message ("<![LOG[message]LOG]!><time=...>"): one line, so control characters (CR
 * and LF among them) become spaces; the record's terminator "]LOG]!>", in any case, loses its
 * '>' to U+FFFD, so a message cannot end its record and start another; DEL, C1 controls, bytes
 * that are no UTF-8 and noncharacters become U+FFFD. */
size_t sceplab_esc_cmtrace(const char *in, size_t n, char *out, size_t outlen, size_t *consumed);

/* A field of a W3C extended log (IIS): fields are separated by spaces, so a space is '+' (as IIS
 * writes its User-Agent), control characters, DEL, C1 controls, bidirectional controls, bytes
 * that are no UTF-8 and noncharacters are percent-encoded byte by byte ("%1B", "%C2%9B"), and an
 * empty value is "-". */
size_t sceplab_esc_w3c(const char *in, size_t n, char *out, size_t outlen, size_t *consumed);

/* XML text or attribute value (either quote): & < > " ' as entities; tab, LF and CR as
 * character references (a record stays on its line, the value intact); every other C0 control,
 * DEL, C1 controls, bytes that are no UTF-8 and noncharacters (U+FFFE and U+FFFF are no XML
 * characters) become U+FFFD. */
size_t sceplab_esc_xml(const char *in, size_t n, char *out, size_t outlen, size_t *consumed);

/* Passes the NUL-terminated s through esc to put, in pieces; sceplab_esc_fputs writes it to f. */
void sceplab_esc_put(sceplab_escaper esc, const char *s, void (*put)(void *ud, const char *p, size_t n), void *ud);
void sceplab_esc_fputs(FILE *f, sceplab_escaper esc, const char *s);

/* The length of the well-formed UTF-8 character at p (1..4), or 0 when none starts there. */
size_t sceplab_utf8_char(const char *p, size_t n);

/* Text as UTF-8 whatever the input held. sceplab_utf8_valid: the length of the longest valid prefix
 * (n when all is). sceplab_utf8_repair writes in to out (room for 3 * n bytes) with each ill-formed
 * sequence (a stray continuation byte, an overlong form, a surrogate, a sequence cut short) as one
 * U+FFFD per maximal subpart, and returns the length written. sceplab_utf8_cut_tail: the bytes at
 * the end of in that start a sequence the end cut short (0-3: a reader holds them for the next
 * chunk). sceplab_utf8_boundary: the longest prefix of at most max bytes that cuts no character. */
size_t sceplab_utf8_valid(const char *in, size_t n);
size_t sceplab_utf8_repair(const char *in, size_t n, char *out);
size_t sceplab_utf8_cut_tail(const char *in, size_t n);
size_t sceplab_utf8_boundary(const char *in, size_t n, size_t max);

/* Apostrophes and quotes as logs, web pages and mail clients write them: straight, curly (U+2018,
 * U+2019, U+201C, U+201D), backtick and acute accent, the prime, HTML entities (&#39; &apos;
 * &quot;), curly quotes whose UTF-8 was read as Windows-1252 and encoded again ("â€™"), and the
 * Windows-1252 bytes themselves (0x91-0x94, a text saved as "ANSI"), which are never valid UTF-8
 * where they stand alone.
 * sceplab_quote_at: the length of the form of q ('\'' or '"') at p, or 0. sceplab_normalize_quotes
 * writes in with each form as the ASCII character and returns the length (never longer). */
size_t sceplab_quote_at(const char *p, size_t n, char q);
size_t sceplab_normalize_quotes(const char *in, size_t n, char *out);

/* Case-insensitive match of needle at p (at most n bytes), an apostrophe or a double quote in the
 * needle matching any form of it (sceplab_quote_at), so "Authority's" matches "Authority’s"; an
 * apostrophe between two letters of the needle also matches what pasting leaves in its place: a run
 * of one to three characters that are no letters, on one line, not white space alone
 * ("Authority...s", "Authority?s"; "Authority s" is two words).
 * The length matched, or 0. What the log filter's "contains" uses. */
size_t sceplab_match_text(const char *p, size_t n, const char *needle);
/* The length of the run at p that a paste left where an apostrophe stood inside a word (one to
 * three characters that are no ASCII letters, not white space alone, no line break, followed by a
 * letter), or 0. */
size_t sceplab_mangled_apostrophe(const char *p, size_t n);

/* Case-insensitive search for needle within the first n bytes of hay. */
const char *sceplab_memcasestr(const char *hay, size_t n, const char *needle);

#ifdef __cplusplus
}
#endif
#endif
