
/*
 * libFuzzer target: the record's lookup copy "lk", sc_record_unpack() and
 * sc_record_pack() (src/session_record.c).  The input is what Redis
 * answered, so whoever can write to Redis chooses it.
 *
 * The id asked for is the first SC_RECORD_ID_LEN bytes of the input past
 * "16:" when there are that many (so that the fields get fuzzed), else a
 * fixed one.
 *
 * Invariants checked (beyond the sanitizers, which catch any read past the
 * input: libFuzzer hands over an exactly sized heap copy):
 *   - SC_RECORD_OTHER exactly when the input does not begin with
 *     "16:<id>,";
 *   - an accepted value is SC_RECORD_FIELDS fields, each pointing into
 *     the input in order, an absent one (NULL) of length 0;
 *   - packing the fields again gives back the input byte for byte (one
 *     spelling per record: no leading zero, nothing after the last);
 *   - an accepted value cut by its last byte is refused, and packing
 *     into a buffer one byte short fails.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session_core.h"
#include "fuzz.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int          rc, head;
    char        *out;
    size_t       i, len;
    const char  *in, *prev, *id;
    sc_field_t   f[SC_RECORD_FIELDS];

    in = (const char *) data;
    id = size >= 3 + SC_RECORD_ID_LEN ? in + 3 : "0123456789abcdef";

    head = size >= SC_RECORD_ID_LEN + 4 && memcmp(in, "16:", 3) == 0
           && memcmp(in + 3, id, SC_RECORD_ID_LEN) == 0
           && in[3 + SC_RECORD_ID_LEN] == ',';

    rc = sc_record_unpack(in, size, id, f, SC_RECORD_FIELDS);
    CHECK(rc == SC_OK || rc == SC_MALFORMED || rc == SC_RECORD_OTHER);
    CHECK((rc == SC_RECORD_OTHER) == !head);

    if (rc != SC_OK) {
        return 0;
    }

    CHECK(size >= SC_RECORD_ID_LEN + 4 + 3 * SC_RECORD_FIELDS
          && in[size - 1] == ',');

    prev = in + SC_RECORD_ID_LEN + 3;

    for (i = 0; i < SC_RECORD_FIELDS; i++) {
        if (f[i].data == NULL) {
            CHECK(f[i].len == 0);
            continue;
        }

        CHECK(f[i].len > 0 && f[i].len <= SC_RECORD_FIELD_MAX);
        CHECK(f[i].data > prev && f[i].data + f[i].len < in + size);
        CHECK(f[i].data[-1] == ':' && f[i].data[f[i].len] == ',');
        prev = f[i].data + f[i].len;
    }

    out = malloc(size);
    CHECK(out != NULL);

    len = sc_record_pack(out, size, id, f, SC_RECORD_FIELDS);
    CHECK(len == size && memcmp(out, in, size) == 0);
    CHECK(sc_record_pack(out, size - 1, id, f, SC_RECORD_FIELDS) == 0);

    free(out);

    CHECK(sc_record_unpack(in, size - 1, id, f, SC_RECORD_FIELDS)
          == SC_MALFORMED);

    return 0;
}
