
/*
 * ngx_http_session_module: Redis Cluster key slots and the Cluster key
 * layout's hash tags (docs/redis.md, "Redis Cluster").  No nginx headers:
 * shared by the module, sessionctl and the unit tests.
 */

#ifndef _SESSION_SLOT_H_INCLUDED_
#define _SESSION_SLOT_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define SC_CLUSTER_SLOTS      16384

/* the hash tag of the Cluster layout: 2 bytes, 4 lowercase hex digits */
#define SC_TAG_BYTES          2
#define SC_TAG_HEX_LEN        4


/* CRC16-CCITT (XMODEM), the checksum Redis Cluster hashes keys with */
uint16_t sc_crc16(const unsigned char *buf, size_t len);

/*
 * The slot of a key, with Redis's hash tag rule: if the key has a "{"
 * followed later by a "}" with at least one byte between the first "{"
 * and the first "}" after it, only those bytes are hashed.
 */
unsigned sc_key_slot(const char *key, size_t len);

/*
 * The tag of a subject: the first SC_TAG_BYTES bytes of
 * BLAKE2b-256("tag" || subject).  Every session of the subject carries
 * them as the first bytes of its token, so that its record and the
 * subject's index share one slot.
 */
void sc_subject_tag(const char *subject, size_t len,
    unsigned char tag[SC_TAG_BYTES]);

/* the same, as 4 lowercase hex digits (no NUL) */
void sc_subject_tag_hex(const char *subject, size_t len, char *hex);

/*
 * The Cluster layout's record id of a token: the token's first
 * SC_TAG_BYTES bytes in hex, then the hex of BLAKE2b-256("sid" || token)
 * from its 5th digit on; 64 lowercase hex digits as sc_token_hash_hex()
 * (no NUL).  Found from the cookie alone.
 */
void sc_token_cluster_id(const unsigned char *token, size_t token_len,
    char *id);

/*
 * The Cluster layout's key of a record id or of a subject:
 *   <prefix>s:{<id[0..3]>}<id>       a session
 *   <prefix>u:{<tag>}<subject>       a subject's index
 * Write into out (size bytes, NUL ended); return the length without the
 * NUL, or 0 if out is too small.
 */
size_t sc_cluster_session_key(const char *prefix, size_t plen,
    const char *id, char *out, size_t size);
size_t sc_cluster_subject_key(const char *prefix, size_t plen,
    const char *subject, size_t slen, char *out, size_t size);


#endif /* _SESSION_SLOT_H_INCLUDED_ */
