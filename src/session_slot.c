
/*
 * ngx_http_session_module core: Redis Cluster key slots and the hash tags
 * of the Cluster key layout (session_slot.h, docs/redis.md).
 *
 * The layout puts a session's record and its subject's index on one slot
 * without the cookie carrying the subject: the first SC_TAG_BYTES bytes of
 * a token created for the Cluster layout are the subject's tag, not random
 * (SC_TOKEN_LEN - SC_TAG_BYTES = 30 random bytes remain), and the record
 * id begins with them in hex; the key's hash tag is those 4 digits, the
 * index's hash tag is the subject's tag.  Every script that touches one
 * subject's records and index (create, renewal, revoke with its chain,
 * revoke all) then runs on one slot.
 */


#include <string.h>

#include <sodium.h>

#include "session_core.h"
#include "session_slot.h"


#define SC_TAG_LABEL     "tag"


/* CRC16-CCITT, polynomial 0x1021, initial value 0, no reflection */

uint16_t
sc_crc16(const unsigned char *buf, size_t len)
{
    size_t    i;
    int       b;
    uint16_t  crc;

    crc = 0;

    for (i = 0; i < len; i++) {
        crc ^= (uint16_t) buf[i] << 8;

        for (b = 0; b < 8; b++) {
            crc = (crc & 0x8000) ? (uint16_t) ((crc << 1) ^ 0x1021)
                                 : (uint16_t) (crc << 1);
        }
    }

    return crc;
}


unsigned
sc_key_slot(const char *key, size_t len)
{
    size_t  s, e;

    for (s = 0; s < len; s++) {
        if (key[s] == '{') {
            break;
        }
    }

    if (s < len) {
        for (e = s + 1; e < len; e++) {
            if (key[e] == '}') {
                break;
            }
        }

        if (e < len && e != s + 1) {
            return sc_crc16((const unsigned char *) key + s + 1, e - s - 1)
                   & (SC_CLUSTER_SLOTS - 1);
        }
    }

    return sc_crc16((const unsigned char *) key, len)
           & (SC_CLUSTER_SLOTS - 1);
}


static void
sc_slot_hex(const unsigned char *in, size_t len, char *out)
{
    size_t                i;
    static const char     digits[] = "0123456789abcdef";

    for (i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0x0f];
    }
}


void
sc_subject_tag(const char *subject, size_t len,
    unsigned char tag[SC_TAG_BYTES])
{
    unsigned char             h[32];
    crypto_generichash_state  st;

    crypto_generichash_init(&st, NULL, 0, sizeof(h));
    crypto_generichash_update(&st, (const unsigned char *) SC_TAG_LABEL,
                              sizeof(SC_TAG_LABEL) - 1);
    crypto_generichash_update(&st, (const unsigned char *) subject, len);
    crypto_generichash_final(&st, h, sizeof(h));

    memcpy(tag, h, SC_TAG_BYTES);
}


void
sc_subject_tag_hex(const char *subject, size_t len, char *hex)
{
    unsigned char  tag[SC_TAG_BYTES];

    sc_subject_tag(subject, len, tag);
    sc_slot_hex(tag, SC_TAG_BYTES, hex);
}


void
sc_token_cluster_id(const unsigned char *token, size_t token_len, char *id)
{
    if (token_len != SC_TOKEN_LEN) {
        memset(id, '0', SC_HASH_HEX_LEN);
        return;
    }

    sc_token_hash_hex(token, id);
    sc_slot_hex(token, SC_TAG_BYTES, id);
}


size_t
sc_cluster_session_key(const char *prefix, size_t plen, const char *id,
    char *out, size_t size)
{
    size_t  n;

    /* <prefix>s:{<4>}<64> */

    n = plen + 3 + SC_TAG_HEX_LEN + 1 + SC_HASH_HEX_LEN;

    if (n + 1 > size) {
        return 0;
    }

    memcpy(out, prefix, plen);
    memcpy(out + plen, "s:{", 3);
    memcpy(out + plen + 3, id, SC_TAG_HEX_LEN);
    out[plen + 3 + SC_TAG_HEX_LEN] = '}';
    memcpy(out + plen + 4 + SC_TAG_HEX_LEN, id, SC_HASH_HEX_LEN);
    out[n] = '\0';

    return n;
}


size_t
sc_cluster_subject_key(const char *prefix, size_t plen, const char *subject,
    size_t slen, char *out, size_t size)
{
    size_t  n;

    /* <prefix>u:{<4>}<subject> */

    n = plen + 3 + SC_TAG_HEX_LEN + 1 + slen;

    if (n + 1 > size) {
        return 0;
    }

    memcpy(out, prefix, plen);
    memcpy(out + plen, "u:{", 3);
    sc_subject_tag_hex(subject, slen, out + plen + 3);
    out[plen + 3 + SC_TAG_HEX_LEN] = '}';
    memcpy(out + plen + 4 + SC_TAG_HEX_LEN, subject, slen);
    out[n] = '\0';

    return n;
}
